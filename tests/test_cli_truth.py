"""A command line a person can live with (issue 11): regression tests, one per defect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from lightsout.api.app import create_app
from lightsout.cli.data import number, pct_or_dash
from lightsout.detect.service import list_events
from lightsout.model import SeriesKey, SignalKind
from lightsout.report.describe import describe
from lightsout.store import TimeSeries, open_store

MONASH = "monash-ip-observatory"


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"LIGHTSOUT_DB": str(db)}
    return subprocess.run(
        [sys.executable, "-m", "lightsout.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_events_table_fits_100_columns_with_the_event_id(iran_db: Path) -> None:
    result = run(iran_db, "events", "--country", "Iran")  # a country's name where a code is taken
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    store = open_store(iran_db, read_only=True)
    try:
        ids = [e.event_id for e in list_events(store)]
    finally:
        store.close()
    assert ids and all(event_id in result.stdout for event_id in ids)  # whole ids, what `report` takes
    shown = run(iran_db, "show", "Iran")
    assert shown.returncode == 0 and max(len(line) for line in shown.stdout.splitlines()) <= 100
    assert "Sistan and Baluchestan" in shown.stdout and "times in UTC (2019)" in shown.stdout


def test_a_window_that_ends_before_it_starts_is_refused(iran_db: Path) -> None:
    for command in (["events"], ["show", "IR"], ["blocking"], ["measurements"], ["detect"]):
        result = run(iran_db, *command, "--since", "2019-11-20", "--until", "2019-11-10")
        assert result.returncode == 1, (command, result.stdout)
        assert result.stderr.startswith("error: --since 2019-11-20 is not before --until 2019-11-10"), command


def test_a_missing_chart_folder_is_created(iran_db: Path, tmp_path: Path) -> None:
    chart = tmp_path / "new" / "deeper" / "iran.svg"
    result = run(iran_db, "show", "IR", "--chart", str(chart))
    assert result.returncode == 0, result.stderr
    assert chart.read_text().startswith("<?xml")


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(shared_data: Path, tmp_path: Path) -> None:
    """Before: `ingest --db file.csv` said records were written, and stored nothing."""
    csv = tmp_path / "file.csv"
    csv.write_text("a,b\n1,2\n")
    result = run(csv, "ingest", str(shared_data / "ooni/fastpath/whatsapp.json"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == f"error: {csv}: not a DuckDB store; give a new file name or an existing store (--db)"
    )
    assert csv.read_text() == "a,b\n1,2\n"


def test_no_nan_percent_no_exponent_no_minus_one() -> None:
    key = SeriesKey("county/XX/a", SignalKind.LATENCY_INDEX, "monash", 3600)
    times = np.arange(6, dtype=np.int64) * 3600
    zeros = describe(TimeSeries(key, times, np.zeros(6)))
    assert zeros is not None and pct_or_dash(zeros.minimum_pct) == "-"  # no ordinary level: no percentage
    gaps = describe(TimeSeries(key, times, np.array([-1.0, 100, 90, -1, 80, 100])))
    assert gaps is not None and gaps.minimum == 80.0  # the source's -1 is a gap, not a level
    assert describe(TimeSeries(key, times, np.full(6, -1.0))) is None
    assert (number(3491.0), number(1e6), number(0.25), number(float("nan"))) == (
        "3,491",
        "1,000,000",
        "0.25",
        "-",
    )


def test_api_v1_answers_with_its_endpoints(iran_db: Path) -> None:
    with TestClient(create_app(iran_db, None)) as client:
        body = client.get("/api/v1").json()
    paths = {e["path"] for e in body["data"]["endpoints"]}
    assert {"/api/v1/events", "/api/v1/entities", "/api/v1/blocking"} <= paths
    assert body["meta"]["count"] == len(body["data"]["endpoints"])


def test_detect_shows_progress_on_stderr_when_asked_and_is_quiet_otherwise(
    iran_db: Path, tmp_path: Path
) -> None:
    """`lightsout detect` over many series: a progress bar of the series judged on stderr (on a
    terminal, or with --progress); off a terminal nothing but the summary."""
    import shutil

    from click.testing import CliRunner

    from lightsout.cli.detect import detect

    db = tmp_path / "iran.duckdb"
    shutil.copy(iran_db, db)
    store = open_store(db, read_only=True)
    series = len(store.series())
    store.close()
    asked = CliRunner().invoke(detect, ["--db", str(db), "--progress"])
    assert asked.exit_code == 0, asked.output
    assert "judging series" in asked.stderr and f"{series}/{series}" in asked.stderr
    assert "judging series" not in asked.stdout and asked.stdout.startswith(f"judged {series} series")
    quiet = CliRunner().invoke(detect, ["--db", str(db)])  # CliRunner's stderr is not a terminal
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
