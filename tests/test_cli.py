"""The command line as a user meets it: exit codes, one-line errors, killed ingests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lightsout.store import open_store

MONASH = "monash-ip-observatory"


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIGHTSOUT_DB": str(db), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "lightsout.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in ["ingest", "entities", "signals", "show", "measurements"]:
        result = run(tmp_path / "db", command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


def test_ingest_then_show_iran(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    result = run(db, "ingest", str(shared_data / MONASH / "irn-2019-11-11_gif.csv"))
    assert result.returncode == 0, result.stderr
    assert "16,279 records read" in result.stdout
    chart = tmp_path / "iran.png"
    shown = run(db, "show", "IR", "--chart", str(chart))
    assert shown.returncode == 0, shown.stderr
    assert "30 of 30 sub-entities fell below half their ordinary level" in shown.stdout
    assert "Sistan and Baluchestan" in shown.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000
    listed = run(db, "entities", "--country", "IRN", "--kind", "region")
    assert "30 entities" in listed.stdout and "region/IR-23" in listed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "{tmp}"], "is a directory"),
        (["ingest", "{tmp}/missing.csv"], "no such file"),
        (["ingest", "{tmp}/empty.csv"], "empty file"),
        (["ingest", "{tmp}/wrong.csv"], "line 1: unknown columns"),
        (["show", "XX"], "no entity 'XX'"),
        (["entities", "--country", "QQQ"], "unknown country 'QQQ': give an ISO 3166-1 code"),
        (["show", "IR", "--since", "yesterday"], "not an ISO 8601 time"),
    ],
)
def test_user_errors_are_one_line_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "wrong.csv").write_text("a,b\n1,2\n")
    db = tmp_path / "store" / "db.duckdb"
    run(db, "ingest", str(tmp_path / "wrong.csv"))  # creates the store
    result = run(db, *[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]


def test_killed_ingest_leaves_store_consistent_and_reruns(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / MONASH / "usa-2020-08-31_HurrLaura.csv"
    clean_db = tmp_path / "clean.duckdb"
    assert run(clean_db, "ingest", str(path)).returncode == 0
    clean = open_store(clean_db, read_only=True)
    expected = (len(clean.series()), sum(s.points for s in clean.series()))
    clean.close()

    db = tmp_path / "killed.duckdb"
    env = {**os.environ, "LIGHTSOUT_DB": str(db)}
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen([sys.executable, "-m", "lightsout.cli", "ingest", str(path)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if db.exists():
            store = open_store(db)  # as the next run would: the kill may have come before the schema
            series = store.series()
            # All of the file or nothing of it, never a part.
            assert len(store.sources()) in (0, 1)
            assert (len(series), sum(s.points for s in series)) in ((0, 0), expected)
            store.close()
    assert run(db, "ingest", str(path)).returncode == 0
    store = open_store(db, read_only=True)
    assert (len(store.series()), sum(s.points for s in store.series())) == expected
    assert len(store.sources()) == 1
    store.close()
