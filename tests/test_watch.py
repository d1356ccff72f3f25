"""`lightsout watch`: online rounds that judge new bins and tell subscribers within the round."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

from lightsout.cli.detect import _event_line
from lightsout.detect.service import data_ends, list_events
from lightsout.model import Scope
from lightsout.store import open_store

MONASH = "monash-ip-observatory"


class _Receiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_new_event_line_says_ongoing_only_for_live_data(iran_db: Path) -> None:
    """`watch`'s "new event" line follows the events table, the feed and the event page: an open
    end is "ongoing" only when the entity's data are live (report.words.is_live)."""
    store = open_store(iran_db, read_only=True)
    try:
        national = next(e for e in list_events(store) if e.scope == Scope.NATIONAL)
        until = data_ends(store.series(entity_id=national.entity_id))[national.entity_id]
    finally:
        store.close()
    assert national.end is None and until == datetime(2019, 11, 20, 3, 30, tzinfo=UTC)
    line = _event_line(national, until)
    assert "in Iran (country/IR) 2019-11-16 17:30 UTC - end of data, level" in line, line
    assert "ongoing" not in line
    live = _event_line(national, datetime.now(UTC) - timedelta(hours=1))
    assert "2019-11-16 17:30 UTC - ongoing, level" in live, live
    ended = _event_line(replace(national, end=until), until)
    assert "2019-11-16 17:30 UTC - 2019-11-20 03:30 UTC, level" in ended, ended


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False, timeout=300)


def test_watch_detects_new_files_and_notifies_once(shared_data: Path, tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.posts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {**os.environ, "LIGHTSOUT_DB": str(tmp_path / "db.duckdb"), "COLUMNS": "200"}
    cli = [sys.executable, "-m", "lightsout.cli"]
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        secret = "s3cret-for-the-test"
        added = run([*cli, "webhooks", "add", url, "--secret", secret, "--allow-private"], env)
        assert added.returncode == 0, added.stderr
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        (inbox / "ven.csv").write_bytes((shared_data / MONASH / "ven-2019-07-22_gif.csv").read_bytes())
        first = run([*cli, "watch", "--inbox", str(inbox), "--once"], env)
        assert first.returncode == 0, first.stderr
        assert "ingested ven.csv" in first.stdout
        assert "new event: national outage in Venezuela" in first.stdout
        national = [json.loads(body) for _, body in _Receiver.posts if b'"national"' in body]
        assert len(national) == 1 and national[0]["entity_id"] == "country/VE"
        headers, body = _Receiver.posts[0]
        stamp, kind = headers["X-Lightsout-Timestamp"], headers["X-Lightsout-Event-Type"]
        signed = f"{stamp}.{kind}.".encode() + body
        expected = f"t={stamp},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert headers["X-Lightsout-Signature"] == expected
        count = len(_Receiver.posts)
        # A second round: nothing new to judge, nothing sent again.
        second = run([*cli, "watch", "--inbox", str(inbox), "--once"], env)
        assert second.returncode == 0, second.stderr
        assert "new event" not in second.stdout
        assert len(_Receiver.posts) == count
    finally:
        server.shutdown()
        server.server_close()
