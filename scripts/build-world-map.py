#!/usr/bin/env python3
"""Build the dashboard's world map from Natural Earth, as packaged on npm by world-atlas.

    python3 scripts/build-world-map.py            # npm pack world-atlas@2.0.2, then convert
    python3 scripts/build-world-map.py FILE.json  # convert a countries-110m.json already at hand

Writes src/lightsout/web/static/world-110m.json: one SVG path per country (ISO 3166-1 alpha-2),
equirectangular, 1000 x 440 (latitudes 84N to 60S: Antarctica left out), with the source named.
The dashboard draws it on the server; nothing is fetched at run time. The data are Natural Earth's
1:110m admin-0 countries (public domain), converted to TopoJSON by world-atlas (ISC licence).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pycountry

PACKAGE = "world-atlas@2.0.2"
OUT = Path(__file__).resolve().parents[1] / "src/lightsout/web/static/world-110m.json"
WIDTH, NORTH, SOUTH = 1000.0, 84.0, -60.0
HEIGHT = WIDTH * (NORTH - SOUTH) / 360.0


def _topology(argv: list[str]) -> tuple[dict[str, object], str]:
    if len(argv) > 1:
        path = Path(argv[1])
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return json.loads(path.read_text()), f"{path.name} (sha256 {digest})"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True, capture_output=True)
        tarball = next(Path(tmp).glob("world-atlas-*.tgz"))
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/countries-110m.json")
            assert member is not None
            return json.loads(member.read()), f"npm {PACKAGE} countries-110m.json (tarball sha256 {digest})"


def _arcs(topology: dict[str, object]) -> list[list[tuple[float, float]]]:
    transform = topology["transform"]
    assert isinstance(transform, dict)
    (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
    arcs = []
    for arc in topology["arcs"]:  # type: ignore[attr-defined]
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc if not points else arc[1:])
    return points


def _xy(lon: float, lat: float) -> tuple[float, float]:
    lat = max(SOUTH, min(NORTH, lat))
    return (lon + 180.0) / 360.0 * WIDTH, (NORTH - lat) / (NORTH - SOUTH) * HEIGHT


def _path(rings: list[list[tuple[float, float]]]) -> str:
    parts = []
    for ring in rings:
        xy = [_xy(lon, lat) for lon, lat in ring]
        if all(lat <= SOUTH for _, lat in ring):
            continue
        parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + "Z")
    return "".join(parts)


def main(argv: list[str]) -> None:
    topology, source = _topology(argv)
    arcs = _arcs(topology)
    countries: dict[str, str] = {}
    objects = topology["objects"]
    assert isinstance(objects, dict)
    for geometry in objects["countries"]["geometries"]:
        numeric = str(geometry.get("id", ""))
        found = pycountry.countries.get(numeric=numeric.zfill(3)) if numeric.isdigit() else None
        if found is None:
            continue  # no ISO 3166-1 code (Kosovo, Northern Cyprus, Somaliland)
        if geometry["type"] == "Polygon":
            polygons = [geometry["arcs"]]
        elif geometry["type"] == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        rings = [_ring(ring, arcs) for polygon in polygons for ring in polygon]
        path = _path(rings)
        if path:
            countries[str(found.alpha_2)] = countries.get(str(found.alpha_2), "") + path
    OUT.write_text(
        json.dumps(
            {
                "source": f"Natural Earth 1:110m admin-0 countries (public domain) via {source}",
                "projection": f"equirectangular, {NORTH:g}N to {-SOUTH:g}S",
                "width": WIDTH,
                "height": round(HEIGHT, 1),
                "countries": dict(sorted(countries.items())),
            },
            separators=(",", ":"),
        )
        + "\n"
    )
    print(f"{OUT}: {len(countries)} countries from {source}")


if __name__ == "__main__":
    main(sys.argv)
