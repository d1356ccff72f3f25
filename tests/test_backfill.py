"""``lightsout backfill``: a past window with a progress bar; killed, it resumes; nothing is fetched
or stored twice, and a finished window fetches nothing again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
