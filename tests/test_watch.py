"""`lightsout watch`: online rounds that judge new bins and tell subscribers within the round."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

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
