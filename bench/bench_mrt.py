"""MRT ingest against bgpdump -m and the previous implementation, in one run; memory; full scale.

    python bench/bench_mrt.py [--repeat N] [--full-scale] [--peers 40] [--previous REV]

For each real file (the 2014 route-views.jinx RIB: 497k prefixes, one full IPv4 feed; the 2015
BGP4MP_ET full-table transfer: 577k announcements; RIS rrc23 updates of 2022: 52k announcements)
every contender runs in its own process, ``--repeat`` times (default 3), best wall time counts,
and its peak resident memory (ru_maxrss of that process) is reported:

* ``bgpdump -m FILE > /dev/null`` (Debian's bgpdump 1.6.2): the field's C reader, printing text;
* ``read_mrt`` (this package, one process, cold: a new process per run);
* the previous implementation (the pybgpkit-parser-based reader of commit ``--previous``,
  default 744dc3c, exported from git into a temporary package), unless ``--no-previous``.

Rates are MRT records per second and routes (RIB entries / announced or withdrawn prefixes) per
second, each on one core. ``--full-scale`` also builds a synthetic RIB: the jinx full feed
(196.223.14.55's 497k routes) replayed as ``--peers`` peers (default 40, ~20 million routes,
uncompressed TABLE_DUMP_V2, SYNTHETIC: every peer has the same routes) and reads it with
``read_mrt``; bgpdump on it would take minutes, so its rate there is taken from the real RIB.
(Many files across collectors in parallel, ``lightsout ingest --jobs N``, is not timed here.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "mrt"
JINX_RIB = DATA / "collectors" / "route-views.jinx" / "routeviews.route-views.jinx.ribs.1401487200.bz2"
ET = DATA / "collectors" / "bgpdump-test_data" / "updates.et-header.2015.gz"
RRC23 = DATA / "collectors" / "rrc23" / "rrc23.updates.20220421.0200.gz"
FULL_PEER = bytes([196, 223, 14, 55])

CHILD = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {prev!r})
start = time.perf_counter()
if {kind!r} == "ours":
    from lightsout.sources.mrt import read_mrt
    parsed = read_mrt(Path({path!r}))
else:
    from prev_mrt import read_mrt
    parsed = read_mrt(Path({path!r}))
seconds = time.perf_counter() - start
note = next(n for n in parsed.notes if n.startswith(("read ", "pybgpkit-parser yielded")))
print(json.dumps({{"seconds": seconds, "records": parsed.records_read, "points": len(parsed.points),
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "note": note[:120]}}))
"""


def run_measured(argv: list[str], stdout: int | None = subprocess.PIPE) -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS (kB) of the child and its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss, out


def bgpdump_counts(path: Path) -> tuple[int, int]:
    """(lines, routes) of ``bgpdump -m``: every line is a route but the STATE lines."""
    out = subprocess.run(["bgpdump", "-m", str(path)], capture_output=True, check=True).stdout
    lines = out.count(b"\n")
    state = out.count(b"|STATE|")
    return lines, lines - state


def export_previous(rev: str, into: Path) -> Path | None:
    """The MRT package of ``rev`` as the module ``prev_mrt`` under ``into``."""
    pkg = into / "prev_mrt"
    pkg.mkdir()
    argv = ["git", "-C", str(REPO), "ls-tree", "--name-only", rev, "src/lightsout/sources/mrt/"]
    listing = subprocess.run(argv, capture_output=True, text=True, check=False)
    if listing.returncode or not listing.stdout.strip():
        return None
    for name in listing.stdout.split():
        argv = ["git", "-C", str(REPO), "show", f"{rev}:{name}"]
        text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        (pkg / Path(name).name).write_text(text.replace("lightsout.sources.mrt", "prev_mrt"))
    return into


def build_full_scale(path: Path, peers: int) -> tuple[int, int]:
    """The jinx full feed's routes as ``peers`` peers (SYNTHETIC), uncompressed. (records, routes)."""
    from lightsout.sources.mrt import decompress

    data, _ = decompress(JINX_RIB.read_bytes(), str(JINX_RIB))
    off, index_of_full, records, routes = 0, -1, 0, 0
    with path.open("wb") as out:
        while off < len(data):
            ts, kind, sub, length = struct.unpack_from(">IHHI", data, off)
            body = data[off + 12 : off + 12 + length]
            off += 12 + length
            if kind != 13:
                continue
            if sub == 1:  # PEER_INDEX_TABLE: find the full feed's index, write ours
                (name_len,) = struct.unpack_from(">H", body, 4)
                pos = 6 + name_len
                (count,) = struct.unpack_from(">H", body, pos)
                pos += 2
                for i in range(count):
                    ptype = body[pos]
                    alen, aslen = (16 if ptype & 1 else 4), (4 if ptype & 2 else 2)
                    if body[pos + 5 : pos + 5 + alen] == FULL_PEER:
                        index_of_full = i
                    pos += 5 + alen + aslen
                table = body[:4] + struct.pack(">HH", 0, peers)
                for i in range(peers):
                    table += b"\x02" + bytes([10, 0, i // 256, i % 256]) + bytes([10, 0, i // 256, i % 256])
                    table += struct.pack(">I", 64512 + i)
                out.write(struct.pack(">IHHI", ts, 13, 1, len(table)) + table)
                continue
            if sub not in (2, 4):
                continue
            plen = body[4]
            at = 5 + (plen + 7) // 8
            (count,) = struct.unpack_from(">H", body, at)
            pos, entry = at + 2, b""
            for _ in range(count):
                (alen,) = struct.unpack_from(">H", body, pos + 6)
                if struct.unpack_from(">H", body, pos)[0] == index_of_full:
                    entry = body[pos + 2 : pos + 8 + alen]
                pos += 8 + alen
            if not entry:
                continue
            entries = b"".join(struct.pack(">H", i) + entry for i in range(peers))
            new = body[:at] + struct.pack(">H", peers) + entries
            out.write(struct.pack(">IHHI", ts, 13, sub, len(new)) + new)
            records += 1
            routes += peers
    return records, routes


def measure(kind: str, path: Path, repeat: int, prev: str) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(repeat):
        if kind == "bgpdump":
            seconds, rss, _ = run_measured(["bgpdump", "-m", str(path)], stdout=subprocess.DEVNULL)
            row = {"seconds": seconds, "maxrss_kb": rss}
        else:
            code = CHILD.format(kind=kind, path=str(path), prev=prev)
            seconds, rss, out = run_measured([sys.executable, "-c", code])
            row = json.loads(out)
            row["wall"] = seconds
        if not best or row["seconds"] < best["seconds"]:
            best = row
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full-scale", action="store_true")
    parser.add_argument("--peers", type=int, default=40)
    parser.add_argument("--previous", default="744dc3c")
    parser.add_argument("--no-previous", action="store_true")
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if not shutil.which("bgpdump"):
        print("bgpdump not found (scripts/ci-system-deps.sh installs it)", file=sys.stderr)
        return 2
    files = args.files or [JINX_RIB, ET, RRC23]
    with tempfile.TemporaryDirectory(prefix="bench-mrt-") as tmp:
        prev = None if args.no_previous else export_previous(args.previous, Path(tmp))
        load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        print(f"best of {args.repeat}; each run a fresh process on one core; {load} (shared: compare ratios)")
        header = f"{'file':34} {'reader':10} {'seconds':>8} {'records/s':>10} {'routes/s':>10} {'peak MB':>8}"
        print(header)
        dump_rate: dict[str, float] = {}
        for path in files:
            _, routes = bgpdump_counts(path)
            rows = {"bgpdump -m": measure("bgpdump", path, args.repeat, "")}
            rows["read_mrt"] = measure("ours", path, args.repeat, "")
            if prev is not None:
                rows["previous"] = measure("prev", path, max(1, args.repeat // 3), str(prev))
            records = int(rows["read_mrt"]["records"])
            for name, row in rows.items():
                sec = row["seconds"]
                rates = f"{records / sec:10,.0f} {routes / sec:10,.0f}"
                print(f"{path.name[:34]:34} {name:10} {sec:8.2f} {rates} {row['maxrss_kb'] / 1024:8.0f}")
            ours, dump = rows["read_mrt"]["seconds"], rows["bgpdump -m"]["seconds"]
            dump_rate[path.name] = routes / dump
            line = f"  -> read_mrt runs at {dump / ours:.2f}x bgpdump -m's rate"
            if "previous" in rows:
                line += f", {rows['previous']['seconds'] / ours:.1f}x the previous implementation's"
                line += f"; memory {rows['previous']['maxrss_kb'] / rows['read_mrt']['maxrss_kb']:.1f}x less"
            print(line + f"  ({rows['read_mrt']['note']})")
        if args.full_scale:
            big = Path(tmp) / "route-views.jinx" / "routeviews.route-views.jinx.ribs.1401487200.x40"
            big.parent.mkdir()
            started = time.perf_counter()
            records, routes = build_full_scale(big, args.peers)
            print(f"\nfull scale (SYNTHETIC): the jinx full feed replayed as {args.peers} peers: {records:,} "
                  f"records, {routes:,} routes, {big.stat().st_size / 1e9:.2f} GB uncompressed "
                  f"(built in {time.perf_counter() - started:.0f} s)")  # fmt: skip
            row = measure("ours", big, 1, "")
            sec, rss = row["seconds"], row["maxrss_kb"] / 1024
            rate = routes / sec
            ref = dump_rate.get(JINX_RIB.name)
            vs = f"; {rate / ref:.2f}x bgpdump -m's routes/s on the real jinx RIB in this run" if ref else ""
            verdict = "met" if rss < 4096 else "NOT met"
            print(f"  read_mrt: {sec:.1f} s, {records / sec:,.0f} records/s, {rate:,.0f} routes/s, "
                  f"peak {rss:,.0f} MB (target < 4,096 MB: {verdict}){vs}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
