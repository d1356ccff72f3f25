"""Webhooks against hostile or broken receivers and hostile configuration (issue 13): a total
deadline per attempt, delivery off the caller's path, URL and target checks at `webhooks add`,
an owner-only registry, and signatures a receiver following docs/security.md can check."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lightsout.detect.service import list_events
from lightsout.errors import UserError
from lightsout.model import Event
from lightsout.notify.webhooks import BackgroundDelivery, RetryPolicy, WebhookRegistry, deliver_new_events
from lightsout.store import open_store

DOCS = Path(__file__).resolve().parents[1] / "docs" / "security.md"
SECRET = "a-secret-for-the-security-tests"


@pytest.fixture(scope="module")
def events(iran_db: Path) -> list[Event]:
    store = open_store(iran_db, read_only=True)
    try:
        return sorted(list_events(store), key=lambda e: (e.start, e.event_id))
    finally:
        store.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[WebhookRegistry]:
    reg = WebhookRegistry(tmp_path / "hooks.sqlite3")
    yield reg
    reg.close()


class _RawServer:
    """A TCP server on 127.0.0.1 that runs ``serve(connection)`` for each client."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self._serve = serve
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            self._serve(connection)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def _drip(connection: socket.socket) -> None:
    """Read the request, then answer one byte every 0.3 s, for a minute."""
    connection.recv(65536)
    for byte in b"HTTP/1.1 200 OK\r\n" * 10:
        connection.sendall(bytes([byte]))
        time.sleep(0.3)


def _silent(connection: socket.socket) -> None:
    """Accept, read, never answer (a dead endpoint that holds the connection)."""
    connection.recv(65536)
    time.sleep(30)


def test_a_dripping_receiver_is_cut_off_at_the_deadline(
    registry: WebhookRegistry, events: list[Event]
) -> None:
    server = _RawServer(_drip)
    try:
        registry.add(server.url, SECRET, allow_private=True)
        policy = RetryPolicy(max_attempts=1, timeout_s=1.0)
        started = time.monotonic()
        report = deliver_new_events(events[:1], registry, policy)
        took = time.monotonic() - started
    finally:
        server.close()
    [attempt] = registry.attempts()
    assert report.failed and attempt.http_status is None
    assert attempt.error is not None and "no complete answer within 1 s" in attempt.error
    # A per-read timeout would wait 0.3 s per byte for 170 bytes (about 50 s).
    assert took < 2.5 and attempt.duration_ms < 2000


def test_dead_endpoints_do_not_slow_the_caller(tmp_path: Path, events: list[Event]) -> None:
    servers = [_RawServer(_silent), _RawServer(_silent)]
    path = tmp_path / "hooks.sqlite3"
    setup = WebhookRegistry(path)
    for server in servers:
        setup.add(server.url, SECRET, allow_private=True)
    setup.close()
    reports: list[Any] = []
    delivery = BackgroundDelivery(path, RetryPolicy(max_attempts=2, base_delay_s=0.1, timeout_s=1.0),
                                  on_report=reports.append)
    try:
        started = time.monotonic()
        for _ in range(5):  # five judging rounds hand over their events
            delivery.submit(events)
        handed_over = time.monotonic() - started
        assert handed_over < 0.1, f"submitting took {handed_over:.3f} s"
        assert not delivery.idle()
        deadline = time.monotonic() + 30
        while not delivery.idle() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert delivery.idle() and reports
        # Each dead endpoint cost at most its attempts' deadlines, on the delivery thread.
        assert {len(r.failed) for r in reports} <= {0, 2}
    finally:
        delivery.close(wait_s=5)
        for server in servers:
            server.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.1/hook with space",
        "http://192.0.2.1/hook\r\nX-Injected: 1",
        "http://192.0.2.1/hook\n",
        "http://192.0.2.1/\x00",
        "http://user:pass@192.0.2.1/hook",
        "http://192.0.2.1:99999/hook",
        "ftp://192.0.2.1/hook",
        "http:///nohost",
    ],
)
def test_add_refuses_bad_urls(registry: WebhookRegistry, url: str) -> None:
    with pytest.raises(UserError):
        registry.add(url, SECRET, allow_private=True)
    assert registry.webhooks() == []


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.10/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "the unspecified"),
    ],
)
def test_private_targets_need_the_operator(registry: WebhookRegistry, url: str, what: str) -> None:
    article = "" if what.startswith("the ") else "a "
    with pytest.raises(UserError, match=f"is {article}{what} address.*--allow-private"):
        registry.add(url, SECRET)
    hook = registry.add(url, SECRET, allow_private=True)
    assert hook.allow_private


def test_a_private_target_is_refused_at_delivery_too(
    registry: WebhookRegistry, events: list[Event], tmp_path: Path
) -> None:
    # A registry written before the check (or by hand): the delivery itself refuses to connect.
    import sqlite3

    con = sqlite3.connect(registry.path)
    con.execute("INSERT INTO webhooks (url, secret, created_at) VALUES "
                "('http://127.0.0.1:9/hook', 's', '2026-01-01T00:00:00+00:00')")
    con.commit()
    con.close()
    report = deliver_new_events(events[:1], registry, RetryPolicy(max_attempts=1, timeout_s=1.0))
    [attempt] = registry.attempts()
    assert report.failed and attempt.error is not None and attempt.error.startswith("refused: 127.0.0.1")


def test_registry_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    WebhookRegistry(path).close()
    assert path.stat().st_mode & 0o777 == 0o600
    old = tmp_path / "old.sqlite3"
    old.touch(mode=0o644)
    old.chmod(0o644)
    WebhookRegistry(old).close()
    assert old.stat().st_mode & 0o777 == 0o600


def _documented_receiver() -> Callable[..., bool]:
    """The receiver's code exactly as docs/security.md prints it."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### Verifying a delivery", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), namespace)
    verify: Callable[..., bool] = namespace["verify_lightsout"]
    return verify


def test_a_receiver_following_the_docs_rejects_replays_and_forgeries(
    registry: WebhookRegistry, events: list[Event]
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        registry.add(f"http://127.0.0.1:{server.server_address[1]}/hook", SECRET, allow_private=True)
        deliver_new_events(events[:2], registry, RetryPolicy(max_attempts=1, timeout_s=5.0))
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 2
    verify = _documented_receiver()
    seen: set[str] = set()
    for headers, body in received:
        assert verify(SECRET, headers, body, seen)
    headers, body = received[0]
    stamp = int(headers["X-Lightsout-Timestamp"])
    # Replays: the same delivery again, and the same delivery six minutes later.
    assert not verify(SECRET, headers, body, seen)
    assert not verify(SECRET, headers, body, set(), now=stamp + 360)
    # Forgeries: another body, another type, a fresher timestamp, another secret.
    assert not verify(SECRET, headers, body.replace(b"outage", b"degradation"), set())
    assert not verify(SECRET, {**headers, "X-Lightsout-Event-Type": "degradation"}, body, set())
    fresh = str(stamp + 60)
    moved = {**headers, "X-Lightsout-Timestamp": fresh,
             "X-Lightsout-Signature": headers["X-Lightsout-Signature"].replace(f"t={stamp}", f"t={fresh}")}
    assert not verify(SECRET, moved, body, set(), now=stamp + 60)
    assert not verify("another secret", headers, body, set())
    # And the untouched delivery is still good for a receiver that has not seen it.
    assert verify(SECRET, headers, body, set())


def test_the_service_hands_events_to_delivery_without_waiting(tmp_path: Path, events: list[Event]) -> None:
    """`lightsout run`'s judge thread returns from notifying while a dead receiver still holds the
    connection: delivery runs on its own thread, never on the judging path."""
    from lightsout.notify.webhooks import default_registry_path
    from lightsout.service.config import ServiceConfig
    from lightsout.service.run import Service
    from lightsout.store import sidecar_base

    held = threading.Event()

    def hold(connection: socket.socket) -> None:
        connection.recv(65536)
        held.set()
        time.sleep(5)

    server = _RawServer(hold)
    config = ServiceConfig(path=tmp_path / "lightsout.toml", store=tmp_path / "live.duckdb")
    setup = WebhookRegistry(default_registry_path(sidecar_base(config.store)))
    setup.add(server.url, SECRET, allow_private=True)
    setup.close()
    service = Service(config)
    try:
        service._notify(events[:1])
        assert service.delivery is not None
        # _notify has returned; the receiver is reached afterwards, by the delivery thread.
        assert held.wait(10), "the delivery thread never reached the receiver"
        assert not service.delivery.idle()
    finally:
        if service.delivery is not None:
            service.delivery.close(wait_s=3)
        server.close()
