"""``lightsout run`` end to end, as a separate process against the recorded OONI API on loopback:
the API shows data while ingest goes on; SIGKILL and restart lose nothing and store nothing twice;
SIGTERM stops cleanly; other commands meet the held store with one plain line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lightsout.service.holder import holder_path
from lightsout.store import MeasurementFilter, open_store
from replay.ooni import OoniReplay
from replay.server import Fault, ReplayServer

REPO = Path(__file__).resolve().parents[1]
META = "/api/v1/measurement_meta"


@pytest.fixture
def replay() -> OoniReplay:
    return OoniReplay()


@pytest.fixture
def server(replay: OoniReplay) -> Iterator[ReplayServer]:
    with ReplayServer([replay]) as srv:
        yield srv


def _config(tmp_path: Path, server: ReplayServer) -> Path:
    path = tmp_path / "lightsout.toml"
    path.write_text(
        f"""
[store]
path = "live.duckdb"
[serve]
host = "127.0.0.1"
port = 0
[watch]
countries = ["RU", "US"]
[detect]
every = "1s"
[sources.ooni]
kind = "ooni-api"
base_url = "{server.url}"
tests = ["web_connectivity", "telegram"]
start = 2020-10-01
slice_days = 180
lookback = "3000d"   # every round re-lists everything: the ledger must skip what is stored
every = "1s"
late_after = "3000d"
""",
        encoding="utf-8",
    )
    return path


def _start(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lightsout.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
    )  # fmt: skip


def _wait(what: str, check: Callable[[], Any], proc: subprocess.Popen[str], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"service exited ({proc.returncode}) waiting for {what}: {output}")
        try:
            value = check()
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _url(store: Path) -> str:
    return str(json.loads(holder_path(store).read_text())["url"])


def _holder_of(store: Path, pid: int) -> str | None:
    data = json.loads(holder_path(store).read_text())
    return str(data["url"]) if data["pid"] == pid else None


def _entities(url: str) -> set[str]:
    return {e["entity_id"] for e in httpx.get(f"{url}/api/v1/entities?limit=1000").json()["data"]}


def _sources(url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{url}/api/v1/sources").json()["data"]
    return data


def test_service_serves_while_it_ingests_and_resumes_after_sigkill(
    tmp_path: Path, server: ReplayServer, replay: OoniReplay
) -> None:
    config = _config(tmp_path, server)
    store_path = tmp_path / "live.duckdb"
    available = {u for u in replay.meta if u.split("_")[1] in ("RU", "US") and "tor" not in u}
    assert len(available) == 3
    # Only the 2020 measurement is out at first; each fetch is slow enough to catch the service mid-round.
    replay.release_until = datetime(2021, 1, 1, tzinfo=UTC)
    server.inject(Fault.slow(0.02, path=META, count=-1))
    proc = _start(config)
    try:
        url = _wait("the service to listen", lambda: _url(store_path), proc)
        # The API answers while the source is followed, and shows what was ingested so far.
        _wait("RU from OONI in the API", lambda: "country/RU" in _entities(url), proc)
        assert "network/AS51604" in _entities(url)
        assert "country/US" not in _entities(url)
        # The held store: other commands say so in one line, naming the service and its API.
        other = subprocess.run(
            [sys.executable, "-m", "lightsout.cli", "events", "--db", str(store_path)],
            capture_output=True, text=True, cwd=REPO, check=False,
        )  # fmt: skip
        assert other.returncode == 1
        assert other.stderr.strip().count("\n") == 0, other.stderr
        assert f"held by `lightsout run` (pid {proc.pid}, {url})" in other.stderr
        # `lightsout sources` works through the service.
        shown = subprocess.run(
            [sys.executable, "-m", "lightsout.cli", "sources", "--config", str(config), "--format", "json"],
            capture_output=True, text=True, cwd=REPO, check=False,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["sources"][0]["source"] == "ooni"
        # Newer measurements are published: the next round brings them in; kill it mid-round.
        replay.release_until = None
        before = len(server.hits(META))
        _wait("the next round to fetch", lambda: len(server.hits(META)) > before + 1, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    store = open_store(store_path, read_only=True)
    try:
        stored_before_kill = {m.measurement_id for m in store.measurements(MeasurementFilter(limit=100))}
    finally:
        store.close()
    assert stored_before_kill < available or stored_before_kill == available
    server.clear_faults()
    hits_before_restart = len(server.requests)
    proc = _start(config)  # the holder file of the killed process names a dead pid: ignored
    try:
        url = _wait("the restarted service", lambda: _holder_of(store_path, proc.pid), proc)
        _wait("every measurement", lambda: {"country/RU", "country/US"} <= _entities(url), proc)
        _wait("a completed round", lambda: _sources(url)["sources"][0]["state"] == "ok", proc)
        view = _sources(url)
        assert view["state"] == "live" and view["sources"][0]["last_error"] is None
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, output
    assert "lightsout run: stopped" in output
    assert not holder_path(store_path).exists()
    store = open_store(store_path, read_only=True)
    try:
        stored = store.measurements(MeasurementFilter(limit=100))
        ledger = [s for s in store.sources() if s.format == "ooni-api"]
    finally:
        store.close()
    # Nothing lost, nothing doubled: each available measurement stored once, one ledger row each.
    assert sorted(m.measurement_id for m in stored) == sorted(available)
    assert len(ledger) == len(available)
    # What was stored before the kill was never fetched again after the restart.
    refetched = {r.arg("measurement_uid") for r in server.requests[hits_before_restart:] if r.path == META}
    assert not refetched & stored_before_kill


def test_when_every_source_fails_lightsout_says_it_is_offline(tmp_path: Path, server: ReplayServer) -> None:
    server.inject(Fault.status_code(503, count=-1))
    config = _config(tmp_path, server)
    store_path = tmp_path / "live.duckdb"
    proc = _start(config)
    try:
        url = _wait("the service to listen", lambda: _url(store_path), proc)
        view = _wait("the source to fail", lambda: (v := _sources(url))["sources"][0]["failures"] and v, proc)
        assert view["state"] == "offline" and "Lightsout itself is offline" in view["message"]
        assert view["sources"][0]["state"] == "failing" and "HTTP 503" in view["sources"][0]["last_error"]
        page = httpx.get(f"{url}/").text
        assert "Lightsout itself is offline" in page and "not an outage" in page
        assert httpx.get(f"{url}/api/v1/status").json()["data"] == []  # no outage invented from the gap
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_the_service_store_access_keeps_the_file_locked_against_other_processes(tmp_path: Path) -> None:
    # Opening the pool's read connections must not drop the writer's lock (a POSIX lock is lost when
    # the process closes any descriptor of the file): another process must still be refused.
    from lightsout.api.access import StoreAccess

    path = tmp_path / "held.duckdb"
    access = StoreAccess(path, writable=True, readers=3)
    try:
        code = "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True)"
        probe = [sys.executable, "-c", code, str(path)]
        other = subprocess.run(probe, capture_output=True, text=True, check=False)
        assert other.returncode != 0 and "lock" in other.stderr.lower()
    finally:
        access.close()
    other = subprocess.run(probe, capture_output=True, text=True, check=False)
    assert other.returncode == 0, other.stderr


def test_stop_waits_for_a_judge_round_before_closing_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A judge still mid-round past the join time: the store must stay open until its write ends
    # (closing DuckDB's connection under it failed with "connection is busy").
    import io
    import threading

    from rich.console import Console

    import lightsout.detect.run as detect_run
    from lightsout.api.access import StoreAccess
    from lightsout.service.config import ServiceConfig
    from lightsout.service.run import Service

    started = threading.Event()
    finished: list[int] = []

    def slow_round(store: Any, params: Any = None, stop: Any = None) -> detect_run.DetectSummary:
        started.set()
        time.sleep(1.0)  # one long series group: the stop flag is only asked between groups
        finished.append(len(store.source_health()))  # the write connection is still open
        return detect_run.DetectSummary()

    monkeypatch.setattr(detect_run, "detect_online", slow_round)
    out = io.StringIO()
    path = tmp_path / "s.duckdb"
    service = Service(ServiceConfig(tmp_path / "x.toml", path), console=Console(file=out), join_s=0.1)
    access = StoreAccess(path, writable=True, readers=1)
    judge = threading.Thread(target=service._judge, args=(access,), name="judge")
    judge.start()
    assert started.wait(10)
    service._shutdown([judge], None, access)
    assert finished == [0] and not judge.is_alive()
    log = out.getvalue()
    assert "waiting for judge to end its transaction" in log and "judge: " not in log, log
    reopened = open_store(path)  # closed cleanly: the file opens again
    reopened.close()
