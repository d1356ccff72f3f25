"""A full table's per-file fixed costs in the MRT reader, this tree against a baseline tree, in turns.

    python bench/bench_tables.py --baseline-src DIR [--turns 5] [--repeat 5] [FILE]

FILE (default: the 2015 et-header update file, a whole 577k-prefix table as BGP4MP_ET updates) is
read once with ``read_mrt`` in a child process of each tree (this one, and the lightsout under
DIR/src: e.g. ``git archive`` of an earlier commit with its extensions copied in); the child then
times, CPU seconds, best of ``--repeat``:

* ``dump``: ``RouteTables.dump()`` of the tables after the file (what every full-table file pays
  to save them with its points), and the payload's size;
* ``load``: ``RouteTables.load`` of that payload (a fresh process continuing the collector);
* ``inflate``: the file's decompression (``framing.iter_decompressed``) alone;
* ``geo``: the countries of the table's IPv4 network addresses with a new ``GeoLocator`` each time
  (``country_indexes_v4``: what the first snapshot of a process pays), the database mapped anew;
* ``import``: ``import lightsout.sources.mrt`` in a fresh interpreter (``-X importtime`` total is
  not used: CPU time of the import, minus an empty interpreter's, from wait4).

The children of the two trees run alternately ``--turns`` times (the machine is shared: a change
of load hits both); each figure is reported as min and median over the turns. Both trees' modules
are byte-compiled first.

Figures: docs/mrt.md, "Saving the tables, inflating, geolocating".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ET = (
    REPO.parent / "shared" / "data" / "mrt" / "collectors" / "bgpdump-test_data" / "updates.et-header.2015.gz"
)

CHILD = """
import gc, json, resource, sys
from pathlib import Path
import numpy as np
from lightsout.attribution.geo import GeoLocator
from lightsout.sources.mrt import read_mrt
from lightsout.sources.mrt.framing import iter_decompressed
from lightsout.sources.mrt.tables import RouteTables

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def best(f):
    times = []
    for _ in range({repeat}):
        t = cpu(); f(); times.append(cpu() - t)
    return min(times)

path = Path({path!r})
payload = read_mrt(path).carry.payload
gc.disable()
state = RouteTables.load(payload)
address = state.prefix_info()[3]
v4 = address[address >= 0].astype(np.uint32)

def inflate():
    with path.open("rb") as handle:
        for _ in iter_decompressed(handle.read, str(path), [], 1 << 34):
            pass

row = dict(
    dump=best(state.dump), bytes=len(state.dump()), load=best(lambda: RouteTables.load(payload)),
    inflate=best(inflate), geo=best(lambda: GeoLocator().country_indexes_v4(v4, [], {{}})),
    prefixes=len(state.keys), addresses=len(v4),
)
print(json.dumps(row))
"""


def child_cpu(argv: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{argv[:3]} failed")
    return usage.ru_utime + usage.ru_stime, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", type=Path, required=True)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("file", nargs="?", type=Path, default=ET)
    args = parser.parse_args()
    trees = {"baseline": args.baseline_src / "src", "this tree": REPO / "src"}
    for src in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(src / "lightsout")], check=True)
    code = CHILD.format(path=str(args.file), repeat=args.repeat)
    got: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    print(f"{args.file.name}: {args.turns} turns, best of {args.repeat} within each; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    for _ in range(args.turns):
        for name, src in trees.items():
            env = {**os.environ, "PYTHONPATH": str(src)}
            _, out = child_cpu([sys.executable, "-c", code], env)
            for key, value in json.loads(out).items():
                got[name].setdefault(key, []).append(value)
            empty, _ = child_cpu([sys.executable, "-c", "pass"], env)
            imported, _ = child_cpu([sys.executable, "-c", "import lightsout.sources.mrt"], env)
            got[name].setdefault("import", []).append(imported - empty)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    first = next(iter(got.values()))
    print(f"{int(first['prefixes'][0]):,} prefixes, {int(first['addresses'][0]):,} IPv4 addresses")
    print(f"{'CPU s (min / median)':24} " + " ".join(f"{name:>22}" for name in trees) + f" {'ratio':>8}")
    for key in ("dump", "load", "inflate", "geo", "import"):
        cells = [got[name][key] for name in trees]
        text = " ".join(f"{min(v):>10.4f} / {statistics.median(v):<9.4f}" for v in cells)
        print(f"{key:24} {text} {min(cells[0]) / min(cells[1]):7.2f}x")
    sizes = [int(got[name]["bytes"][0]) for name in trees]
    print(
        f"{'stored tables, bytes':24} "
        + " ".join(f"{s:>22,}" for s in sizes)
        + f" {sizes[1] / sizes[0]:7.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
