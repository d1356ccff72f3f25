"""Fuzz every reader for a while and report inputs tried, crashes found and peak memory.

    python bench/fuzz_readers.py [--seconds 60] [--readers monash,ooni,mrt,ioda]

Runs the Hypothesis strategies of tests/fuzz/strategies.py (hostile values in valid files, and
byte mutations of real seeds) through the whole ingest (reader, bounds, store), as the CI test
does with a few dozen examples per reader, but for ``--seconds`` per reader. An input whose ingest
raises anything but a one-line InputError is a crash; crashes are counted by exception type and
place, not stopped at (no shrinking). Peak memory is the process's maximum resident set size,
measured after each reader (the readers run one after another in this process); the baseline is
the peak before the first reader.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fuzz.harness import ingest_one  # noqa: E402
from tests.fuzz.strategies import READERS  # noqa: E402

from lightsout.store import open_store  # noqa: E402


class _TimeUp(Exception):
    pass


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fuzz(reader: str, seconds: float, store_dir: Path) -> tuple[int, Counter[str], Counter[str]]:
    strategy, name = READERS[reader]
    outcomes: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    tried = 0
    store = open_store(store_dir / f"{reader}.duckdb")
    deadline = time.monotonic() + seconds

    @settings(
        max_examples=10**9,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(data: bytes) -> None:
        nonlocal tried
        if time.monotonic() > deadline:
            raise _TimeUp
        tried += 1
        try:
            outcome = ingest_one(store, reader, name, data)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            crashes[f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"] += 1
            return
        outcomes[outcome.split(":")[0]] += 1

    try:
        run()
    except _TimeUp:
        pass
    finally:
        store.close()
    return tried, outcomes, crashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Per reader.")
    parser.add_argument("--readers", default="monash,ooni,mrt,ioda")
    args = parser.parse_args()
    print(f"baseline peak memory {peak_mib():.0f} MiB")
    total_tried = total_crashes = 0
    with tempfile.TemporaryDirectory(prefix="lightsout-fuzz-bench-") as tmp:
        for reader in args.readers.split(","):
            started = time.monotonic()
            tried, outcomes, crashes = fuzz(reader, args.seconds, Path(tmp))
            took = time.monotonic() - started
            total_tried += tried
            total_crashes += sum(crashes.values())
            print(
                f"{reader}: {tried:,} inputs in {took:.0f} s ({tried / took:.1f}/s): "
                f"{outcomes['ingested']:,} ingested, {outcomes['refused']:,} refused with one line, "
                f"{outcomes['already']:,} already stored; {sum(crashes.values())} crashes; "
                f"peak memory so far {peak_mib():.0f} MiB"
            )
            for where, count in crashes.most_common():
                print(f"  crash x{count}: {where}")
    print(f"total: {total_tried:,} inputs, {total_crashes} crashes")
    return 1 if total_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
