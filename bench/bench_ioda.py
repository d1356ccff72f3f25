"""IODA signals/raw ingest at scale, against ``json.load`` of the same bytes measured in the same run.

    python bench/bench_ioda.py [--entities N] [--repeat R]

The answer is built from Iraq's real ten days (``../shared/data/ioda``: five datasources, 5-minute
bins, 2,928 bins each, Google's raw series mostly null) repeated for N entities (default 200, about
IODA's country count) under distinct AS numbers, so the values and the null pattern are real and
only the entity codes are made up. Figures (best of R): ``json.load`` of the file (the floor: any
reader must at least decode the JSON), ``read_ioda`` (decode + typed points), and
``lightsout ingest`` of the file into a fresh DuckDB store (read + one write transaction), in points
per second and as ratios to the floor.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from lightsout.ingest import ingest_file
from lightsout.sources.ioda import read_ioda
from lightsout.store import open_store

IRAQ = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/ioda/iraq-2023-08-exams/signals-raw-country-IQ-2023-08-20_2023-08-30.json"
)


def build(path: Path, entities: int) -> int:
    document = json.loads(IRAQ.read_text())
    series = document["data"][0]
    data = []
    for i in range(entities):
        asn = 64512 + i
        names = {
            "entityType": "asn",
            "entityCode": str(asn),
            "entityName": f"AS{asn}",
            "entityFqid": f"asn.{asn}",
        }
        data.append([{**s, **names} for s in series])
    path.write_text(json.dumps({"type": "signals", "error": None, "data": data}))
    return sum(v is not None for s in series for v in s["values"]) * entities


def best(repeat: int, job: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        job()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ioda-") as tmp:
        path = Path(tmp) / "signals.json"
        points = build(path, args.entities)
        size_mb = path.stat().st_size / 1e6

        def load() -> None:
            with path.open() as handle:
                json.load(handle)

        def ingest() -> None:
            db = Path(tmp) / f"s{time.perf_counter_ns()}.duckdb"
            store = open_store(db)
            try:
                report = ingest_file(store, path)
                assert report.points_written == points
            finally:
                store.close()

        floor = best(args.repeat, load)
        reader = best(args.repeat, lambda: read_ioda(path))
        whole = best(args.repeat, ingest)
    print(
        f"{args.entities} entities x 5 datasources, {points:,} points (nulls are gaps), {size_mb:.1f} MB JSON"
    )
    for name, seconds in (("json.load (floor)", floor), ("read_ioda", reader), ("ingest into DuckDB", whole)):
        rate = points / seconds
        print(f"  {name:<20} {seconds:7.2f} s  {rate:12,.0f} points/s  {seconds / floor:5.1f}x the floor")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
