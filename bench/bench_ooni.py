"""OONI day-file ingest and the blocking read path, against the previous implementation, in one run.

    python bench/bench_ooni.py [--copies N] [--previous REV | --no-previous]

The day file is SYNTHETIC, built from the real measurements in ../shared/data/ooni (the 25
fastpath measurements, the 25 Web Connectivity 0.5 QA scenarios and the minipipeline one): each
copy of each gets its own ``measurement_uid`` (so none is a duplicate), ``--copies`` copies
(default 60: about 3,000 measurements, 70 MB of JSON), one per line, gzip-compressed as OONI
publishes its day files (``*.jsonl.gz``).

Each contender runs in its own process, on a new DuckDB store:

* **ours**: ``lightsout ingest`` of the file (streamed in chunks, each measurement judged once and
  its verdict stored), then ``blocking_events(store)``, which reads the stored verdicts;
* **previous**: the package as of commit ``--previous`` (default 6c1d760, the last before verdicts
  were stored), exported from git into a temporary directory: the whole file read into memory,
  written without verdicts, and every measurement judged again by each ``blocking_events``.

``--memory-check LIMIT`` runs ours alone on the day file and on one four times larger, with
DuckDB's memory_limit at LIMIT (LIGHTSOUT_DUCKDB_MEMORY_LIMIT; by default DuckDB caches up to 80%
of the machine's memory, which would hide whether the ingest holds the file): the two peaks
should be the same.

Reported: ingest measurements/s, the read path's time (``blocking_events`` over every
measurement, run twice, best), ingest plus one read, and each process's peak resident memory
(ru_maxrss). Both must find the same blocking events (checked). Ratios are ours / previous.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from previous import export  # noqa: E402

OONI = REPO.parent / "shared" / "data" / "ooni"
NOT_MEASUREMENTS = {"fingerprints_dns.json", "fingerprints_http.json", "detector_query_ww_BR_2018.json"}

CHILD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {src!r})
from lightsout.apps.aggregate import blocking_events
from lightsout.ingest import ingest_file
from lightsout.store import open_store
store = open_store(Path({db!r}))
start = time.perf_counter()
report = ingest_file(store, Path({day!r}))
ingest = time.perf_counter() - start
ingest_maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
reads = []
for _ in range(2):
    start = time.perf_counter()
    events = blocking_events(store)
    reads.append(time.perf_counter() - start)
store.close()
print(json.dumps({{
    "ingest_s": ingest, "read_s": min(reads), "measurements": report.measurements_written,
    "events": sorted([e.target, e.country, e.asn, e.start.isoformat(), e.measurements] for e in events),
    "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ingest_maxrss_kb": ingest_maxrss_kb,
}}))
"""


def measurement_files() -> list[Path]:
    fastpath = [p for p in sorted((OONI / "fastpath").glob("*.json*")) if p.name not in NOT_MEASUREMENTS]
    return [*fastpath, *sorted((OONI / "wc05_qa").glob("*.json")), OONI / "minipipeline" / "measurement.json"]


def build_day_file(path: Path, copies: int) -> tuple[int, int]:
    """The synthetic day file (module docstring); returns (measurements, bytes of JSON)."""
    records = [json.loads(p.read_bytes()) for p in measurement_files()]
    count = size = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        for copy in range(copies):
            for index, record in enumerate(records):
                line = json.dumps({**record, "measurement_uid": f"bench-{copy}-{index}"}) + "\n"
                out.write(line)
                count += 1
                size += len(line)
    return count, size


@dataclass(frozen=True)
class Result:
    ingest_s: float
    read_s: float
    measurements: int
    events: list[Any]
    maxrss_kb: int  # the whole process: ingest and reads
    ingest_maxrss_kb: int  # at the end of the ingest

    @property
    def rate(self) -> float:
        return self.measurements / self.ingest_s


def run(src: Path, db: Path, day: Path, memory_limit: str | None = None) -> Result:
    code = CHILD.format(src=str(src), db=str(db), day=str(day))
    env = dict(os.environ)
    if memory_limit:
        env["LIGHTSOUT_DUCKDB_MEMORY_LIMIT"] = memory_limit
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{src}: the ingest failed:\n{done.stderr.strip()[-2000:]}")
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--previous", default="6c1d760")
    parser.add_argument("--no-previous", action="store_true")
    parser.add_argument(
        "--memory-check",
        metavar="LIMIT",
        help="instead: ours on the day file and on one 4x larger, "
        "with DuckDB's memory_limit set to LIMIT (e.g. 256MB): is the peak the same?",
    )
    args = parser.parse_args()
    if args.memory_check:
        memory_check(args.copies, args.memory_check)
        return
    with tempfile.TemporaryDirectory(prefix="bench-ooni-") as tmp:
        work = Path(tmp)
        day = work / "2024-03-01-synthetic.jsonl.gz"
        count, size = build_day_file(day, args.copies)
        real = len(measurement_files())
        print(
            f"SYNTHETIC day file: {count:,} measurements ({real} real ones x {args.copies} copies, each "
            f"its own measurement_uid), {size / 1e6:.1f} MB of JSON, {day.stat().st_size / 1e6:.1f} MB gzip"
        )
        results = {"ours": run(REPO / "src", work / "ours.duckdb", day)}
        if not args.no_previous:
            previous = work / "previous"
            previous.mkdir()
            results["previous"] = run(export(args.previous, previous), work / "previous.duckdb", day)
        print(f"{'':>10} {'ingest':>10} {'meas./s':>9} {'read path':>10} {'ingest+read':>12} {'peak RSS':>9}")
        for name, r in results.items():
            print(
                f"{name:>10} {r.ingest_s:>9.2f}s {r.rate:>9,.0f} {r.read_s:>9.3f}s "
                f"{r.ingest_s + r.read_s:>11.2f}s {r.maxrss_kb / 1024:>7.0f}MB"
            )
        if "previous" in results:
            ours, prev = results["ours"], results["previous"]
            total = (prev.ingest_s + prev.read_s) / (ours.ingest_s + ours.read_s)
            print(
                f"ratios ours/previous: ingest measurements/s x{ours.rate / prev.rate:.2f}, "
                f"read path x{prev.read_s / ours.read_s:.1f} faster, ingest+one read x{total:.2f} faster, "
                f"peak RSS x{ours.maxrss_kb / prev.maxrss_kb:.2f}"
            )
            same = ours.events == prev.events
            print(f"same blocking events: {'yes' if same else 'NO'} ({len(ours.events)} events)")
            if not same:
                sys.exit(1)


def memory_check(copies: int, limit: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ooni-") as tmp:
        work = Path(tmp)
        for n in (copies, 4 * copies):
            day = work / f"day-{n}.jsonl.gz"
            count, size = build_day_file(day, n)
            r = run(REPO / "src", work / f"ours-{n}.duckdb", day, limit)
            print(
                f"SYNTHETIC day file of {count:,} measurements ({size / 1e6:.1f} MB of JSON): ingest "
                f"{r.rate:,.0f} measurements/s, peak RSS {r.ingest_maxrss_kb / 1024:.0f} MB at the end of "
                f"the ingest, {r.maxrss_kb / 1024:.0f} MB after the reads (DuckDB memory_limit {limit})"
            )


if __name__ == "__main__":
    main()
