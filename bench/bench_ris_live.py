"""RIS Live: messages (and prefixes) the connector takes per second, against the recording's own
rate; the process's memory after an hour of collector time.

    python bench/bench_ris_live.py [--passes 300] [--hour-shift 5] [--skip-hour]

The recorded firehose (``../shared/data/api-samples/ris-live/firehose-1000-msgs-2019-05-23.jsonl``:
1,000 real messages of 14 collectors spanning 0.12 s of collector time, a burst of ~8,300
messages/s) is served by the loopback replay server (``tests/replay/ris_live.py``, its own process,
every collector's frames: the whole firehose) as fast as the connection takes it, in a loop with
shifted timestamps and ids. The connector (websocket client thread, parse, dedupe, the MRT
tables, 5-minute bins written to a DuckDB store with their checkpoint and carried tables, through
the same runner as the service) follows collector rrc00 from a RIB dump DERIVED from the recording
(``replay.ris_live.rrc00_rib_routes``); the other collectors' messages are read and set aside.

1. Rate: ``--passes`` loops, each shifted by the recording's own span (0.12 s), so collector time
   runs at the recording's pace. Printed: messages/s and announced+withdrawn prefixes/s (timed
   from the first round after the RIB dump is stored, counting only the frames that arrived after
   it although those queued meanwhile are processed in that time: a lower bound), and the ratio to
   8,333 messages/s (the recording's rate). Goal: >= 1x on one core.
2. An hour: loops shifted by ``--hour-shift`` seconds until 3,600 s of collector time have passed
   (720 loops at 5 s: 12 bins closed), as fast as possible; then the resident memory (VmRSS) and
   peak (ru_maxrss). The tables here are small (the derived RIB: ~3,000 routes); what it shows is
   whether the connector's own state (dedupe window, caches, queue) grows with the stream. A full
   collector's tables cost what docs/mrt.md measures for MRT files (the same tables).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

RECORDING_S = 0.12  # 14:00:47.05 .. 14:00:47.17
RECORDING_MESSAGES = 1000
T0 = 1558620000


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prefixes_per_pass() -> int:
    from replay.ris_live import FIREHOSE

    total = 0
    for line in FIREHOSE.read_text().splitlines():
        data = json.loads(line)["data"]
        total += len(data.get("withdrawals") or ())
        total += sum(len({p for p in a["prefixes"]}) for a in data.get("announcements") or ())
    return total


def run(passes: int, shift: float, workdir: Path, label: str) -> dict[str, float]:
    import httpx

    from lightsout.sources.connector import Window
    from lightsout.sources.pump import direct_writer, run_round
    from lightsout.sources.ris_live import RisLiveConnector, RisLiveSettings
    from lightsout.store import open_store
    from replay.ris_live import rrc00_rib_routes, write_rib

    rib = write_rib(workdir / label / "rrc00" / "bview.20190523.1400.gz", T0, rrc00_rib_routes())
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "replay.ris_live",
            "--passes",
            str(passes),
            "--shift",
            str(shift),
            "--all-hosts",
        ],
        cwd=REPO / "tests",
        stdout=subprocess.PIPE,
        text=True,
    )
    store = open_store(workdir / label / "bench.duckdb")
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        settings = RisLiveSettings("rrc00", url=url, rib_file=rib, ris_url=None, round_s=0.5, settle_s=1e9)
        connector = RisLiveConnector("bench", settings)
        window = Window("follow", datetime(2019, 5, 23, tzinfo=UTC))
        expected = passes * RECORDING_MESSAGES
        started: float | None = None
        counted = 0
        with httpx.Client() as client:
            while connector.frames < expected:
                run_round(connector, client, direct_writer(store), window)
                if started is None and connector.cursor.synced and connector.frames:
                    # From here on: the RIB dump is stored (reading it is not the stream's cost).
                    # Frames that arrived before (taken or still queued) are not counted, though
                    # the queued ones are processed in the timed span: a lower bound.
                    queued = connector.reader.events.qsize() if connector.reader is not None else 0
                    started, counted = time.perf_counter(), connector.frames + queued
        seconds = time.perf_counter() - (started or time.perf_counter())
        connector.close()
        bins = sum(1 for f in store.sources() if "/rib/" not in f.path)
    finally:
        server.terminate()
        server.wait()
        store.close()
    return {"messages": connector.frames - counted, "seconds": seconds, "bins_stored": bins,
            "applied": connector.totals.get("messages applied", 0)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=300, help="loops of the recording for the rate")
    parser.add_argument("--hour-shift", type=float, default=5.0, help="collector seconds per loop (hour)")
    parser.add_argument("--skip-hour", action="store_true")
    args = parser.parse_args()
    recording_rate = RECORDING_MESSAGES / RECORDING_S
    per_pass = prefixes_per_pass()
    with tempfile.TemporaryDirectory() as tmp:
        rate = run(args.passes, RECORDING_S, Path(tmp), "rate")
        mps = rate["messages"] / rate["seconds"]
        print(f"rate: {rate['messages']:,} messages (of {args.passes} loops of the firehose) "
              f"in {rate['seconds']:.2f} s: {mps:,.0f} messages/s, "
              f"{per_pass * rate['messages'] / RECORDING_MESSAGES / rate['seconds']:,.0f} prefixes/s; "
              f"{rate['applied']:,} rrc00 messages applied to the tables in all")  # fmt: skip
        ratio = mps / recording_rate
        print(f"ratio to the recording's own rate ({recording_rate:,.0f} messages/s): {ratio:.2f}x")
        print(f"memory after it: VmRSS {vm_rss_mb():.0f} MB")
        if not args.skip_hour:
            passes = int(3600 / args.hour_shift)
            hour = run(passes, args.hour_shift, Path(tmp), "hour")
            hour_rate = hour["messages"] / hour["seconds"]
            print(f"an hour of collector time: {hour['messages']:,} messages in {hour['seconds']:.1f} s "
                  f"({hour_rate:,.0f} messages/s), {hour['bins_stored']:.0f} bins stored; "
                  f"memory after it: VmRSS {vm_rss_mb():.0f} MB, peak "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
