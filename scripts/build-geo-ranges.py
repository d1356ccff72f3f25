#!/usr/bin/env python3
"""Derive the IPv4 country ranges of the packaged GeoLite2 City database (run by hand).

    .venv/bin/python scripts/build-geo-ranges.py

Writes src/lightsout/attribution/data/geolite2-v4-countries.gz, read by
``lightsout.attribution.geo.GeoLocator.country_indexes_v4``: every leaf of the database's search
tree under ::/96 (IPv4), in address order, with the country ``geo._DataSection.country`` reads from
its record (``country``, else ``registered_country``; none for leaves without data), neighbours of
the same country merged into one range. A full BGP table's countries are then one
``np.searchsorted`` instead of a walk of the 25 MB tree and ~90k records of the 30 MB data section
(docs/mrt.md, "Geolocation and its limits", has the figures). The file names the database it was
derived from (type, build time, node count); the reader uses it only for that very database and
walks the tree otherwise. Nothing is fetched: the database is the one ``maxminddb-geolite2`` ships.
Run again when that package's pinned version changes (tests/test_mrt_fast.py fails until then).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lightsout.attribution.geo import RANGES_FILE, RANGES_FORMAT, GeoLocator, _children


def leaves(locator: GeoLocator) -> tuple[np.ndarray, np.ndarray]:
    """(first address, pointer) of every leaf of the IPv4 subtree, in address order (the tree
    walked level by level with numpy: 32 levels, ~3 million leaves)."""
    tree = locator._tree()
    if tree is None:
        raise SystemExit("the database's search tree cannot be read")
    nodes, size, count, start = tree
    node = np.array([start], dtype=np.int64)
    value = np.array([0], dtype=np.int64)
    starts, pointers = [], []
    for depth in range(32):
        rows = nodes[node]
        kids = np.concatenate([_children(rows, size, np.zeros(len(node), bool)),
                               _children(rows, size, np.ones(len(node), bool))])  # fmt: skip
        values = np.concatenate([value, value | (1 << (31 - depth))])
        leaf = kids >= count
        starts.append(values[leaf])
        pointers.append(kids[leaf])
        node, value = kids[~leaf], values[~leaf]
    if len(node):
        raise SystemExit(f"{len(node)} paths run deeper than 32 bits")
    first, pointer = np.concatenate(starts), np.concatenate(pointers)
    order = np.argsort(first, kind="stable")
    return first[order], pointer[order]


def main() -> int:
    locator = GeoLocator()
    meta = locator.metadata()
    first, pointer = leaves(locator)
    count = meta.node_count
    distinct, back = np.unique(pointer, return_inverse=True)
    data = locator._data()
    codes: list[str] = []
    index: dict[str, int] = {}
    per_pointer = []
    for p in distinct.tolist():  # == node_count: a leaf without data
        code = data.country(p - count - 16) if p > count else None
        if code is not None and code not in index:
            index[code] = len(codes)
            codes.append(code)
        per_pointer.append(-1 if code is None else index[code])
    code_of = np.array(per_pointer, dtype=np.int16)[back.reshape(-1)]
    keep = np.ones(len(first), dtype=bool)
    keep[1:] = code_of[1:] != code_of[:-1]
    starts, range_codes = first[keep].astype(np.uint32), code_of[keep]
    head = {
        "format": RANGES_FORMAT,
        "database_type": meta.database_type,
        "build_epoch": meta.build_epoch,
        "node_count": meta.node_count,
        "ranges": len(starts),
        "codes": codes,
    }
    deltas = np.diff(starts.astype(np.int64), prepend=0).astype("<u4")
    body = json.dumps(head, separators=(",", ":")).encode() + b"\n"
    body += deltas.tobytes() + range_codes.astype("<i2").tobytes()
    RANGES_FILE.write_bytes(gzip.compress(body, 9, mtime=0))
    print(f"{RANGES_FILE}: {len(starts):,} ranges ({len(first):,} leaves, {len(distinct):,} records), "
          f"{len(codes)} countries, {RANGES_FILE.stat().st_size:,} bytes")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
