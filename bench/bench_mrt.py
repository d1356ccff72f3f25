"""Benchmark of the MRT reader against the bare library and bgpdump, in one run.

    python bench/bench_mrt.py [FILE] [--repeat N]

FILE defaults to ../shared/data/mrt/ripe-ris/rrc15/2010.02/updates.20100227.1600.gz. Each contender
runs N times (default 5) and the best time counts. ``read_mrt`` gets a fresh GeoLocator each run, so
its per-address cache starts cold as it does when a file is ingested for the first time. Rates are
per MRT record framed in the file and per MB of the file as stored (compressed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pybgpkit_parser

from lightsout.attribution.geo import GeoLocator
from lightsout.sources import mrt

REPO = Path(__file__).resolve().parents[1]
RIS = REPO.parent / "shared" / "data" / "mrt" / "ripe-ris"
DEFAULT = RIS / "rrc15" / "2010.02" / "updates.20100227.1600.gz"


def best_of(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    """Best wall time of ``repeat`` runs and what the run counted."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return best, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path: Path = args.file
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    size_mb = path.stat().st_size / 1e6
    data, _ = mrt.decompress(path.read_bytes(), str(path))
    records = len(mrt.frame_records(data, str(path)).records)
    print(f"file: {path}  ({size_mb:.3f} MB stored, {len(data) / 1e6:.3f} MB of MRT, {records} MRT records)")

    def ours() -> int:
        return len(mrt.read_mrt(path, locator=GeoLocator()).points)

    def bare() -> int:
        return sum(1 for _ in pybgpkit_parser.Parser(url=str(path)))

    warm_locator = GeoLocator()

    def ours_warm() -> int:
        return len(mrt.read_mrt(path, locator=warm_locator).points)

    rows: list[tuple[str, float, str]] = []
    t_ours, points = best_of(args.repeat, ours)
    rows.append(("read_mrt (lightsout)", t_ours, f"{points} points"))
    t_warm, _ = best_of(args.repeat, ours_warm)
    rows.append(("read_mrt, geolocation cache warm", t_warm, "as when a process ingests many files"))
    t_bare, elems = best_of(args.repeat, bare)
    rows.append(("pybgpkit-parser, bare iteration", t_bare, f"{elems} elements"))
    bgpdump = shutil.which("bgpdump")
    if bgpdump:

        def dump() -> int:
            out = subprocess.run([bgpdump, "-m", str(path)], capture_output=True, check=False).stdout
            return out.count(b"\n")

        t_dump, lines = best_of(args.repeat, dump)
        rows.append(("bgpdump -m", t_dump, f"{lines} lines"))
    else:
        print("bgpdump not found (apt-get install bgpdump): skipped")

    print(f"\nbest of {args.repeat} runs")
    print(f"{'':34} {'seconds':>8} {'records/s':>11} {'MB/s':>7}  output")
    for name, seconds, what in rows:
        print(f"{name:34} {seconds:8.3f} {records / seconds:11,.0f} {size_mb / seconds:7.2f}  {what}")
    print(f"\nratio read_mrt / bare pybgpkit-parser: {t_ours / t_bare:.2f}x")
    print(f"  with the geolocation cache warm:      {t_warm / t_bare:.2f}x")
    if bgpdump:
        print(f"ratio read_mrt / bgpdump -m:           {t_ours / t_dump:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
