"""``lightsout backfill``: a past window with a progress bar; killed, it resumes; nothing is fetched
or stored twice, and a finished window fetches nothing again."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lightsout.errors import UserError
from lightsout.model import Checkpoint
from lightsout.service.backfills import (
    BackfillJob,
    Backfills,
    JobState,
    job_id,
    jobs_path,
    load_jobs,
    save_jobs,
)
from lightsout.service.config import load_config
from lightsout.sources.pump import Claims
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


def _backfill(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lightsout.cli", "backfill", "ooni", "--since", "2020-10-01",
         "--until", "2026-12-01", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip


def test_backfill_resumes_after_a_kill_and_never_fetches_twice(
    tmp_path: Path, server: ReplayServer, replay: OoniReplay
) -> None:
    config = tmp_path / "lightsout.toml"
    config.write_text(
        f'[store]\npath = "b.duckdb"\n[sources.ooni]\nkind = "ooni-api"\nbase_url = "{server.url}"\n'
        'countries = ["RU", "US"]\ntests = ["web_connectivity", "telegram"]\nslice_days = 180\n',
        encoding="utf-8",
    )
    available = {u for u in replay.meta if u.split("_")[1] in ("RU", "US") and "tor" not in u}
    server.inject(Fault.slow(0.1, path=META, count=-1))  # ~0.8 s per measurement
    proc = _backfill(config)
    deadline = time.monotonic() + 30
    while len(server.hits(META)) < 2 and time.monotonic() < deadline:  # the first one is stored
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    store = open_store(tmp_path / "b.duckdb", read_only=True)
    try:
        first = {m.measurement_id for m in store.measurements(MeasurementFilter(limit=100))}
    finally:
        store.close()
    assert first and first < available  # killed part-way
    server.clear_faults()
    mark = len(server.requests)
    proc = _backfill(config)
    out, err = proc.communicate(timeout=60)
    out = " ".join(out.split())
    assert proc.returncode == 0, err
    assert f"{len(available - first)} stored" in out and "not available from the source" in out
    again = {r.arg("measurement_uid") for r in server.requests[mark:] if r.path == META}
    assert not again & first  # nothing stored before the kill was fetched again
    store = open_store(tmp_path / "b.duckdb", read_only=True)
    try:
        assert sorted(m.measurement_id for m in store.measurements(MeasurementFilter(limit=100))) == sorted(
            available
        )
        assert len([s for s in store.sources() if s.format == "ooni-api"]) == len(available)
    finally:
        store.close()
    # The window is done: running it again lists and fetches nothing.
    mark = len(server.requests)
    proc = _backfill(config)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "is already complete" in out, err
    assert server.requests[mark:] == []


# -- through a running service ------------------------------------------------------------------


def test_backfill_runs_through_the_service_that_holds_the_store(
    tmp_path: Path, server: ReplayServer, replay: OoniReplay
) -> None:
    """`lightsout backfill` while `lightsout run` holds the store: the window is handed to the
    service; the command killed mid-job and run again joins the same job; every measurement is
    fetched once and stored once; the finished window fetches nothing again."""
    import json
    import os

    import httpx

    from lightsout.service.holder import holder_path

    config = tmp_path / "lightsout.toml"
    config.write_text(
        f'[store]\npath = "s.duckdb"\n[serve]\nport = 0\n[detect]\nevery = "1m"\n'
        f'[sources.ooni]\nkind = "ooni-api"\nbase_url = "{server.url}"\ncountries = ["RU", "US"]\n'
        'tests = ["web_connectivity", "telegram"]\nslice_days = 180\nstart = 2026-11-01\nevery = "1m"\n',
        encoding="utf-8",
    )  # the service follows from November 2026 on: the older measurements come only from the backfill
    store_path = tmp_path / "s.duckdb"
    available = {u for u in replay.meta if u.split("_")[1] in ("RU", "US") and "tor" not in u}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    service = subprocess.Popen(
        [sys.executable, "-m", "lightsout.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not holder_path(store_path).exists() and time.monotonic() < deadline:
            assert service.poll() is None, service.stdout.read() if service.stdout else ""
            time.sleep(0.05)
        holder = json.loads(holder_path(store_path).read_text())
        assert oct(holder_path(store_path).stat().st_mode & 0o777) == "0o600"  # the control token is private
        # Without the control token, nobody may start a backfill.
        window = {"source": "ooni", "since": "2020-10-01", "until": "2026-12-01"}
        refused = httpx.post(f"{holder['url']}/api/v1/backfills", json=window)
        assert refused.status_code == 401
        server.inject(Fault.slow(0.01, path=META, count=-1))  # ~0.1 s per measurement
        proc = subprocess.Popen(
            [sys.executable, "-m", "lightsout.cli", "backfill", "ooni", "--since", "2020-10-01",
             "--until", "2026-12-01", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not server.hits(META) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # the command dies; the job goes on in the service
        _, first_err = proc.communicate(timeout=10)
        proc = _backfill_to(config, "s.duckdb")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        job = first_err.split("job ")[-1].split()[0]
        assert f"job {job}" in err  # the same window: the same job, joined
        assert "listed but not available from the source" in " ".join(out.split())
        # Every measurement fetched once (by the job), none by the follow thread, none twice.
        fetched = [r.arg("measurement_uid") for r in server.requests if r.path == META]
        assert sorted(u for u in fetched if u in available) == sorted(available)
        # Done: the same window again is complete at once and fetches nothing.
        mark_meta = len(server.hits(META))
        proc = _backfill_to(config, "s.duckdb")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "is already complete" in out, err
        assert not server.hits(META)[mark_meta:]
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
        assert service.returncode == 0, output
        # the job's record outlives the service (a restarted one lists it as it ended): the
        # window's latest job, the run that found it complete
        [record] = load_jobs(jobs_path(store_path))
        assert record.job_id == job and record.state == JobState.DONE and record.already_complete
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate(timeout=10)
    store = open_store(store_path, read_only=True)
    try:
        stored = sorted(m.measurement_id for m in store.measurements(MeasurementFilter(limit=100)))
        ledger = [s for s in store.sources() if s.format == "ooni-api"]
    finally:
        store.close()
    assert stored == sorted(available) and len(ledger) == len(available)


def test_a_restarted_service_lists_its_jobs_and_resumes_the_interrupted_ones(tmp_path: Path) -> None:
    """The job records a service left (``<store>.backfills.json``): a finished job is listed as it
    ended, a job running when the service was killed is resumed from its window's checkpoint (here
    complete: nothing to fetch), a job the user stopped stays stopped."""
    config_file = tmp_path / "lightsout.toml"
    config_file.write_text(
        '[store]\npath = "r.duckdb"\n[sources.ooni]\nkind = "ooni-api"\nbase_url = "http://127.0.0.1:9"\n'
        'countries = ["RU"]\n',
        encoding="utf-8",
    )
    config = load_config(config_file)
    path = jobs_path(tmp_path / "r.duckdb")
    day = datetime(2026, 6, 1, tzinfo=UTC)

    def job(days: int, state: JobState, **more: Any) -> BackfillJob:
        since, until = day - timedelta(days=days), day
        return BackfillJob(job_id("ooni", since, until), "ooni", since, until, day, state=state, **more)

    done = job(1, JobState.DONE, items_stored=3, started_at=day, finished_at=day)
    killed = job(2, JobState.RUNNING, items_stored=2, started_at=day, reached=day - timedelta(days=1))
    cancelled = job(3, JobState.STOPPED, cancelled=True, finished_at=day)
    save_jobs(path, [done, killed, cancelled])
    complete = Checkpoint("ooni", killed.window.stream, "{}", day, day)
    reads: list[object] = []

    def read(work: Callable[[Any], object]) -> object:
        reads.append(work)
        return complete

    def write(work: Callable[[Any], object]) -> object:
        raise AssertionError("a resumed job whose window is complete writes nothing")

    backfills = Backfills(config, write, Claims(), threading.Event(), read=read, path=path)
    try:
        deadline = time.monotonic() + 10
        while not (resumed := backfills.get(killed.job_id)) or not resumed.finished:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        assert backfills.close(10)
    by_id = {j.job_id: j for j in backfills.jobs()}
    assert set(by_id) == {done.job_id, killed.job_id, cancelled.job_id}
    assert by_id[done.job_id].state == JobState.DONE and by_id[done.job_id].items_stored == 3
    assert by_id[killed.job_id].state == JobState.DONE and by_id[killed.job_id].already_complete
    assert by_id[killed.job_id].notes[0].startswith("resumed after the service restarted")
    assert by_id[cancelled.job_id].state == JobState.STOPPED and len(reads) == 1
    # what the next service will list
    assert [(j.job_id, j.state) for j in load_jobs(path)] == [
        (j.job_id, by_id[j.job_id].state) for j in (done, killed, cancelled)
    ]
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not a backfill job list"):
        load_jobs(path)


def _backfill_to(config: Path, store: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lightsout.cli", "backfill", "ooni", "--since", "2020-10-01",
         "--until", "2026-12-01", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
