"""AS entities of a full BGP table in a fresh process, against a baseline tree, in one run.

    python bench/bench_entities.py [--repeat N] [--baseline-src DIR] [FILE]

The ASes are those FILE's routes name (default: the 2015 BGP4MP_ET update file of bgpdump's test
data, a whole table: 51,736 ASes), read once with ``read_mrt``. Then, ``--repeat`` times (default 7),
contenders taken in turns, each in a fresh process with numpy imported and the cyclic garbage
collector paused (as ``read_mrt`` has them when it names its ASes): the CPU time of
``make_asn_networks(asns)``, the AS table's reading included, its module's import given apart.
Contenders: ``c`` (this tree, C extension ``_fastnames``), ``python`` (this tree,
``fast=False``: no extension), ``baseline`` (``--baseline-src DIR``: the package under DIR/src,
e.g. ``git archive`` of an earlier commit with its built extensions copied in). Every contender's
entities are checked equal to the first's (a digest of their reprs).

Figures: docs/mrt.md, "AS entities".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared/data/mrt/collectors/bgpdump-test_data/updates.et-header.2015.gz"

CHILD = """
import gc, hashlib, json, sys, time
import numpy
gc.disable()
asns = [int(x) for x in open(sys.argv[1]).read().split()]
start = time.process_time()
from lightsout.attribution.entities import make_asn_networks
imported = time.process_time()
kwargs = {"fast": False} if sys.argv[2] == "python" else {}
entities = make_asn_networks(asns, **kwargs)
made = time.process_time()
digest = hashlib.sha256("\\n".join(map(repr, entities)).encode()).hexdigest()
print(json.dumps({"import": imported - start, "make": made - imported, "n": len(entities), "digest": digest}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline-src", type=Path)
    args = parser.parse_args()
    from lightsout.sources.mrt import read_mrt

    asns = sorted(e.asn for e in read_mrt(args.file, columns=True).entities if e.asn is not None)
    contenders = {"c": {}, "python": {}}
    if args.baseline_src:
        contenders["baseline"] = {"PYTHONPATH": str(args.baseline_src / "src")}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    imports: dict[str, list[float]] = {name: [] for name in contenders}
    digests = set()
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(map(str, asns)))
        listing.flush()
        for _ in range(args.repeat):
            for name, env in contenders.items():
                argv = [sys.executable, "-c", CHILD, listing.name, name]
                environ = {**os.environ, **env}
                out = subprocess.run(argv, env=environ, capture_output=True, check=True, text=True)
                row = json.loads(out.stdout)
                times[name].append(row["make"])
                imports[name].append(row["import"])
                digests.add(row["digest"])
    load = os.getloadavg()[0]
    print(f"{args.file.name}: {len(asns)} ASes; load average {load:.2f}; {args.repeat} runs each")
    for name in contenders:
        best, median = min(times[name]), statistics.median(times[name])
        print(f"{name:9} make_asn_networks best {best:.3f} s, median {median:.3f} s "
              f"(module import median {statistics.median(imports[name]):.3f} s)")  # fmt: skip
    if "baseline" in contenders:
        base = statistics.median(times["baseline"])
        for name in ("c", "python"):
            print(f"{name}: {base / statistics.median(times[name]):.1f}x faster than baseline (medians)")
    if len(digests) != 1:
        print(f"ENTITIES DIFFER between contenders ({len(digests)} digests)")
        return 1
    print("entities identical in every contender")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
