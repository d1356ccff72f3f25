"""End to end: a replay server plays recorded OONI and IODA answers (Iraq's exam shutdowns of August
2023 among them); ``lightsout run`` follows both; the API and dashboard show the signals while ingest
goes on; the detector judges the new bins into Iraq's outage; the feed lists it and the configured
webhook receives it, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from lightsout.service.holder import holder_path
from replay.ioda import IodaReplay
from replay.ooni import OoniReplay
from replay.server import ReplayServer

REPO = Path(__file__).resolve().parents[1]


class _Receiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        type(self).posts.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.posts = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _poll(proc: subprocess.Popen[str], what: str, check: object, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"service exited waiting for {what}"
        try:
            value = check()  # type: ignore[operator]
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_service_follows_ooni_and_ioda_judges_and_notifies(tmp_path: Path, receiver: str) -> None:
    with ReplayServer([OoniReplay(), IodaReplay()]) as replay:
        config = tmp_path / "lightsout.toml"
        config.write_text(
            f"""
[store]
path = "e2e.duckdb"
[serve]
port = 0
[detect]
every = "1s"
[sources.ooni]
kind = "ooni-api"
base_url = "{replay.url}"
countries = ["RU"]
tests = ["web_connectivity", "telegram"]
start = 2020-10-01
slice_days = 180
every = "2s"
late_after = "3000d"
[sources.ioda]
kind = "ioda-api"
base_url = "{replay.url}/v2"
countries = ["IQ"]
datasources = ["bgp", "ping-slash24"]
start = 2023-08-13
slice = "60d"
every = "2s"
late_after = "3000d"
""",
            encoding="utf-8",
        )
        store = tmp_path / "e2e.duckdb"
        cli = [sys.executable, "-m", "lightsout.cli"]
        add = [*cli, "webhooks", "add", receiver, "--secret", "e2e-secret", "--allow-private"]
        add += ["--db", str(store)]
        added = subprocess.run(add, capture_output=True, text=True, cwd=REPO, check=False)
        assert added.returncode == 0, added.stderr
        proc = subprocess.Popen([*cli, "run", "--config", str(config)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        try:
            url = str(_poll(proc, "the service", lambda: json.loads(holder_path(store).read_text())["url"]))

            def iraq_points() -> int:
                query = {"entity": "country/IQ", "source": "ioda"}
                answer = httpx.get(f"{url}/api/v1/signals", params=query)
                if answer.status_code != 200:
                    return 0
                return sum(s["stored_points"] for s in answer.json()["data"])

            _poll(proc, "Iraq's IODA signals in the API", iraq_points)
            seen_at = time.time()
            # Ingest goes on after the API showed data (the catch-up spans several rounds).
            _poll(proc, "more IODA fetches", lambda: any(r.at > seen_at for r in replay.hits("/v2/")))
            page = httpx.get(f"{url}/entity/country/IQ")  # the dashboard, meanwhile
            assert page.status_code == 200 and "ioda:" in page.text

            def iraq_outage() -> dict[str, object] | None:
                events = httpx.get(f"{url}/api/v1/events", params={"country": "IQ"}).json()["data"]
                national = [e for e in events if e["entity_id"] == "country/IQ" and e["scope"] == "national"]
                return national[0] if national else None

            event = _poll(proc, "Iraq's outage", iraq_outage)
            assert isinstance(event, dict) and str(event["start"]).startswith("2023-08-2")
            assert {e["source"] for e in event["evidence"]} == {"ioda"}  # type: ignore[attr-defined]
            assert str(event["event_id"]) in httpx.get(f"{url}/feed.atom").text
            event_id = str(event["event_id"]).encode()
            _poll(proc, "the webhook", lambda: any(event_id in b for b in _Receiver.posts))
            # OONI measurements beside it, both sources healthy.
            entities = httpx.get(f"{url}/api/v1/entities").json()["data"]
            assert "country/RU" in {e["entity_id"] for e in entities}

            def all_ok() -> dict[str, object] | None:
                view: dict[str, object] = httpx.get(f"{url}/api/v1/sources").json()["data"]
                states = {s["state"] for s in view["sources"]}  # type: ignore[attr-defined]
                return view if states == {"ok"} else None

            view = _poll(proc, "both sources ok", all_ok)
            assert view["state"] == "live"  # type: ignore[index]
            page = httpx.get(f"{url}/").text
            assert "every source is current" in page and "ioda: ok" in page
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output
        delivered = [json.loads(b)["event_id"] for b in _Receiver.posts]
        assert len(delivered) == len(set(delivered))  # each event delivered once
