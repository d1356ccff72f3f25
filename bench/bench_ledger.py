"""The fetch-once ledger of a months-long service: its size on disk, and what a dashboard page pays
to key its caches on it, before and after.

Every live item (one OONI measurement, one IODA or Radar query window, one MRT file) adds one row
to the store's ``sources`` table in the item's own transaction: the ledger that makes the item
fetched and stored once, ever. It cannot be pruned without refetching whatever a source lists
again, so it grows with the service's life: OONI alone publishes tens of thousands of
measurements a day for a large country. The data here is SYNTHETIC (ledger rows shaped like the
OONI connector's: a SHA-256, the measurement_meta URL with its query, the format, the time).

Measured in one run on the same store, with ``--rows`` ledger rows:

- **disk**: the DuckDB file's size after a checkpoint, per million rows;
- **baseline**: the cache key the dashboard's pages used to compute, ``len(store.sources())`` and
  the newest ``ingested_at`` (every row read into Python);
- **now**: ``store.ingest_state()`` (two aggregates in SQL); printed as a ratio against the baseline.

    .venv/bin/python bench/bench_ledger.py --rows 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lightsout.store import open_store
from lightsout.store.duckdb_store import DuckDBStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lightsout-ledger-") as tmp:
        path = Path(tmp) / "ledger.duckdb"
        store = open_store(path)
        assert isinstance(store, DuckDBStore)
        con = store._con  # synthetic rows in bulk: write_batch would take minutes for a million
        con.execute(
            "INSERT INTO sources SELECT sha256(i::VARCHAR), "
            "'https://api.ooni.io/api/v1/measurement_meta?measurement_uid=20260711174303.' || "
            "lpad(i::VARCHAR, 6, '0') || '_RU_webconnectivity_' || md5(i::VARCHAR)[:16] || '&full=true', "
            "'ooni-api', TIMESTAMPTZ '2026-07-01 00:00:00+00' + to_seconds(i), 1, 0, 0 FROM range(?) t(i)",
            [args.rows],
        )
        con.execute("CHECKPOINT")
        size_mb = path.stat().st_size / 1e6
        baseline, now = [], []
        for _ in range(args.reps):
            started = time.perf_counter()
            rows = store.sources()
            old_key = (len(rows), max((s.ingested_at for s in rows), default=None))
            baseline.append(time.perf_counter() - started)
            del rows
            started = time.perf_counter()
            new_key = store.ingest_state()
            now.append(time.perf_counter() - started)
            assert new_key == old_key, (new_key, old_key)
        store.close()
    best_old, best_new = min(baseline), min(now)
    per_million = size_mb / args.rows * 1e6
    print(f"ledger rows: {args.rows:,}; DuckDB file {size_mb:.0f} MB ({per_million:.0f} MB per million rows)")
    print(f"baseline (every row read: len + newest): {best_old * 1000:,.0f} ms")
    print(f"now (Store.ingest_state):               {best_new * 1000:,.1f} ms")
    print(f"ratio baseline / now: {best_old / best_new:,.0f}x faster per page (best of {args.reps})")


if __name__ == "__main__":
    main()
