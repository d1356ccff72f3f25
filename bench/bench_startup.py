"""Start-up time of the ``lightsout`` command line, against baselines measured in the same run.

    python bench/bench_startup.py [--repeat N]

Times (best of N, default 10, wall clock of a fresh process each): ``lightsout --version`` and
``lightsout --help`` (lazy command registry), the bare interpreter (``python -c pass``, the floor),
and the previous eager start-up (every command module imported, as ``cli/__init__`` did before the
lazy registry). The target is under 0.3 s for commands that draw nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

EAGER = "import lightsout.cli as c; [__import__('lightsout.cli.' + m) for m, _ in c.COMMANDS.values()]"


def best_of(repeat: int, argv: list[str]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    py = sys.executable
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
