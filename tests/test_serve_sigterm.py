"""`lightsout serve` stops cleanly on SIGTERM while an upload is being ingested (issue 13): it
stops accepting, lets the upload finish within its grace period, answers it, and exits; the
store holds the file once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from lightsout.store import open_store

TOKEN = "sigterm-test-token-0123456789"


def test_sigterm_during_an_upload(shared_data: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = tmp_path / "db.duckdb"
    env = {**os.environ, "LIGHTSOUT_TOKEN": TOKEN}
    command = [sys.executable, "-m", "lightsout.cli", "serve", "--port", str(port), "--db", str(db)]
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/api/v1/status", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        body = (shared_data / "monash-ip-observatory" / "usa-2020-08-31_HurrLaura.csv").read_bytes()
        answer: dict[str, int] = {}

        def upload() -> None:
            response = httpx.post(f"{base}/api/v1/ingest?filename=laura.csv&detect=true", content=body,
                                  headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
            answer["status"] = response.status_code

        thread = threading.Thread(target=upload)
        thread.start()
        time.sleep(1.0)
        stopped_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=90)
        took = time.monotonic() - stopped_at
        thread.join(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert code in (0, -signal.SIGTERM), log.read_text(errors="replace")
    assert took < 60 and answer == {"status": 200}
    store = open_store(db, read_only=True)
    try:
        assert len(store.sources()) == 1
    finally:
        store.close()
