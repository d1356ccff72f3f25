"""Start-up: commands that draw nothing import none of the heavy libraries (lazy command registry)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest

from lightsout.cli import COMMANDS, HELP_LINES, cli

HEAVY = ("matplotlib", "fastapi", "duckdb", "numpy", "pyarrow", "geolite2", "pybgpkit_parser", "rich")

PROBE = """
import sys
from lightsout.cli import main
sys.argv = ["lightsout", *{args!r}]
try:
    main()
except SystemExit:
    pass
import json
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_start_up_imports_no_heavy_module(args: list[str]) -> None:
    code = PROBE.format(args=args, heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert loaded == [], f"lightsout {' '.join(args)} imported {loaded}"
    if args == ["--version"]:
        from importlib.metadata import version

        assert proc.stdout.strip() == f"lightsout, version {version('lightsout')}"  # the installed one
    else:
        for name in COMMANDS:
            assert name in proc.stdout


def test_registry_lists_every_command_with_its_own_help() -> None:
    ctx = click.Context(cli)
    assert HELP_LINES.keys() == COMMANDS.keys()
    for name, (module, attr) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name, (module, attr)
        assert HELP_LINES[name] == command.get_short_help_str(limit=78), name


def test_mrt_reader_imports_nothing_it_does_not_use() -> None:
    # A worker reads each file in a fresh process: pycountry's import alone (importlib.metadata,
    # email, ...: ~25 ms) cost more than its country names (read from its ISO 3166-1 file instead).
    code = (
        "import sys, json; import lightsout.sources.mrt; "
        f"print(json.dumps(sorted(m for m in {UNNEEDED_BY_MRT!r} if m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


UNNEEDED_BY_MRT = ("pycountry", "importlib.metadata", "email", "difflib", "yaml", "numpy", "maxminddb")


def test_numpy_blas_single_threaded_unless_the_user_says_otherwise() -> None:
    # OpenBLAS threads started at numpy's import cost ~45 ms CPU per fresh process; Lightsout does no BLAS
    code = "import lightsout, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    argv = [sys.executable, "-c", code]
    out = [subprocess.run(argv, capture_output=True, text=True, env=e, check=True).stdout
           for e in (env, {**env, "OPENBLAS_NUM_THREADS": "4"})]  # fmt: skip
    assert out == ["1\n", "4\n"]
