"""The front page's world map: every country coloured by its status, drawn on the server as SVG.

The shapes are Natural Earth's 1:110m countries, vendored at build time from the npm package
world-atlas by ``scripts/build-world-map.py`` into ``static/world-110m.json`` (one SVG path per
ISO 3166-1 alpha-2 code); nothing is fetched at run time and no script runs in the page.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from lightsout.web.status import CountryStatus


@dataclass(frozen=True, slots=True)
class MapCountry:
    code: str
    path: str  # SVG path data
    status: str  # a Status value, or "" for a country without data in the store
    title: str  # the tooltip: name and status


@dataclass(frozen=True, slots=True)
class WorldMap:
    width: float
    height: float
    source: str
    countries: list[MapCountry]


@functools.cache
def _shapes() -> tuple[float, float, str, dict[str, str]]:
    raw = json.loads(resources.files("lightsout.web").joinpath("static/world-110m.json").read_text())
    return float(raw["width"]), float(raw["height"]), str(raw["source"]), dict(raw["countries"])


def world_map(rows: list[CountryStatus]) -> WorldMap:
    """The map of ``rows`` (country statuses); countries the store does not hold are drawn blank."""
    width, height, source, shapes = _shapes()
    by_code = {r.country_code: r for r in rows}
    countries = []
    for code, path in shapes.items():
        row = by_code.get(code)
        status = row.status.value if row is not None else ""
        title = f"{row.name}: {row.label}" if row is not None else f"{code}: no data in this store"
        countries.append(MapCountry(code, path, status, title))
    return WorldMap(width, height, source, countries)
