"""Start-up time of the ``lightsout`` command line, against baselines measured in the same run.

    python bench/bench_startup.py [--repeat N] [--baseline-src DIR]

Times (best of N, default 10, wall clock of a fresh process each): ``lightsout --version`` and
``lightsout --help`` (lazy command registry), the bare interpreter (``python -c pass``, the floor),
and the previous eager start-up (every command module imported, as ``cli/__init__`` did before the
lazy registry). The target is under 0.3 s for commands that draw nothing. Also the start-up of an
MRT reader (``import lightsout.sources.mrt``, what each parallel ingest worker and each fresh
``read_mrt`` process pays before reading) and of a source naming one AS (``make_asn_network``,
the AS table included), here and, with ``--baseline-src DIR``, in the lightsout package under
DIR/src (e.g. ``git archive`` of an earlier commit), the two taken in turns. The package is
byte-compiled first (``compileall``, as pip does for a wheel and ``scripts/setup.sh`` does here).

Figures, 2026-12-03 20:11 UTC, ``nice -n 10 python bench/bench_startup.py --repeat 7
--baseline-src DIR``, load average 2.6-3.7 on the 2 shared cores (wall times: noisy), DIR = main at
c782eec with ``attribution/{asnames,entities,places}.py`` as before the AS table's columns and
the country names read without pycountry: floor 0.012 s, ``--version`` 0.047 s, ``--help``
0.061 s; MRT reader start-up 0.127 -> **0.108 s** (1.17x); one AS entity 0.273 -> **0.082 s**
(3.3x: pycountry's import and the TSV's parse gone). Again at 20:14 (load 4.3-4.4, the same DIR):
0.180 -> 0.124 s (1.45x), 0.327 -> 0.092 s (3.6x); ``import numpy`` 0.133 CPU s with OpenBLAS's
default threads, 0.103 s with one (what ``lightsout/__init__`` sets). docs/mrt.md, "AS entities".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

EAGER = "import lightsout.cli as c; [__import__('lightsout.cli.' + m) for m, _ in c.COMMANDS.values()]"


def best_of(repeat: int, argv: list[str]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


READER = "import lightsout.sources.mrt"
ONE_AS = "from lightsout.attribution.entities import make_asn_network; make_asn_network(12880)"


def in_turns(repeat: int, argv: list[str], trees: dict[str, Path]) -> dict[str, float]:
    """Best wall time of ``argv`` under each tree's ``src`` (PYTHONPATH), the trees taken in turns."""
    best = dict.fromkeys(trees, float("inf"))
    for _ in range(repeat):
        for name, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": str(tree / "src")}
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env=env)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def cpu_of(repeat: int, argv: list[str], env: dict[str, str]) -> float:
    """Least CPU time (user + sys, threads included, from wait4) of ``argv`` over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
        best = min(best, usage.ru_utime + usage.ru_stime)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--baseline-src", type=Path)
    args = parser.parse_args()
    py = sys.executable
    trees = {"now": Path(__file__).resolve().parents[1]}
    if args.baseline_src:
        trees["baseline"] = args.baseline_src
    for tree in trees.values():
        subprocess.run(
            [py, "-m", "compileall", "-q", str(tree / "src/lightsout")], check=True, capture_output=True
        )
    rows = [
        ("python -c pass (floor)", best_of(args.repeat, [py, "-c", "pass"])),
        ("lightsout --version", best_of(args.repeat, [py, "-m", "lightsout.cli", "--version"])),
        ("lightsout --help", best_of(args.repeat, [py, "-m", "lightsout.cli", "--help"])),
        ("every command module imported (before)", best_of(max(1, args.repeat // 3), [py, "-c", EAGER])),
    ]
    version, eager = rows[1][1], rows[3][1]
    print(f"best of {args.repeat} runs")
    for name, seconds in rows:
        print(f"{name:40} {seconds:7.3f} s")
    verdict = "met" if version < 0.3 else "NOT met"
    print(f"\nlightsout --version: {version:.3f} s (target < 0.300 s: {verdict}); "
          f"{eager / version:.1f}x faster than importing every command, "
          f"{version / rows[0][1]:.1f}x the bare interpreter")  # fmt: skip
    print()
    for what, code in (
        ("MRT reader start-up (" + READER + ")", READER),
        ("one AS entity, AS table included", ONE_AS),
    ):
        best = in_turns(args.repeat, [py, "-c", code], trees)
        line = f"{what}: {best['now']:.3f} s ({best['now'] - rows[0][1]:.3f} s above the floor)"
        if "baseline" in best:
            line += f"; baseline {best['baseline']:.3f} s: {best['baseline'] / best['now']:.2f}x"
        print(line)
    # numpy's OpenBLAS starts a thread per core at import unless told otherwise (lightsout/__init__
    # sets OPENBLAS_NUM_THREADS=1 unless the environment has it); CPU time, threads included
    bare = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    default = cpu_of(args.repeat, [py, "-c", "import numpy"], bare)
    single = cpu_of(args.repeat, [py, "-c", "import numpy"], {**bare, "OPENBLAS_NUM_THREADS": "1"})
    print(f"import numpy, CPU s: {default:.3f} with OpenBLAS's default threads, {single:.3f} with one "
          f"({default / single:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
