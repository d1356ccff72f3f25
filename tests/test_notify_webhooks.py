"""Webhooks against a real HTTP server on 127.0.0.1 that fails when told to: signatures, retries with
backoff, the delivery log, and no event sent twice."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from lightsout.cli.notify import webhooks
from lightsout.detect.service import list_events
from lightsout.errors import UserError
from lightsout.model import Event
from lightsout.notify.webhooks import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookRegistry,
    deliver_new_events,
    verify,
)
from lightsout.store import open_store

SECRET = "s3cret-for-tests"


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """Answers ``statuses`` in turn (then ``then``), after ``delay_s``; records every request."""

    statuses: list[int] = field(default_factory=list)
    then: int = 200
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else self.then

    def delivered(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if state.delay_s:
                time.sleep(state.delay_s)
            status = state.answer()
            with state.lock:
                state.received.append(Received(time.monotonic(), self.path, dict(self.headers), body, status))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


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


FAST = RetryPolicy(max_attempts=4, base_delay_s=0.05, factor=2.0, max_delay_s=1.0, timeout_s=5.0)


def test_signed_retried_logged_and_never_sent_twice(
    receiver: Receiver, registry: WebhookRegistry, events: list[Event]
) -> None:
    receiver.statuses = [503, 503]
    hook = registry.add(receiver.url, SECRET, allow_private=True)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    report = deliver_new_events(events[:3], registry, FAST, sleep=sleep)
    assert [e for _, e in report.delivered] == [e.event_id for e in events[:3]] and not report.failed
    assert report.attempts == 5 and waits == [0.05, 0.1]  # exponential backoff
    got = receiver.received
    assert [r.status for r in got] == [503, 503, 200, 200, 200]
    assert got[1].at - got[0].at >= 0.05 and got[2].at - got[1].at >= 0.1
    for request in got:
        assert request.path == "/hook" and request.headers["Content-Type"] == "application/json"
        assert verify(SECRET, request.body, request.headers)
        assert request.headers[SIGNATURE_HEADER].startswith("t=")
        assert not verify("wrong secret", request.body, request.headers)
        payload = json.loads(request.body)
        assert payload["event_id"] == request.headers[EVENT_HEADER]
    assert json.loads(got[0].body)["entity_name"] == events[0].entity_name
    # the log: every attempt with its status and time; one delivery row per event
    log = registry.attempts(hook.webhook_id)
    assert [(a.event_id, a.attempt, a.http_status) for a in log] == [
        (events[0].event_id, 1, 503),
        (events[0].event_id, 2, 503),
        (events[0].event_id, 3, 200),
        (events[1].event_id, 1, 200),
        (events[2].event_id, 1, 200),
    ]
    assert all(a.error is None and a.duration_ms >= 0 for a in log)
    assert [a.at for a in log] == sorted(a.at for a in log)
    deliveries = {d.event_id: d for d in registry.deliveries()}
    assert (
        deliveries[events[0].event_id].attempts == 3 and deliveries[events[0].event_id].status == "delivered"
    )
    # re-running sends only what is new, then nothing
    again = deliver_new_events(events, registry, FAST, sleep=sleep)
    assert len(again.delivered) == len(events) - 3 and again.already == 3
    third = deliver_new_events(events, registry, FAST, sleep=sleep)
    assert third.delivered == [] and third.attempts == 0 and third.already == len(events)
    sent = [r.headers[EVENT_HEADER] for r in receiver.delivered()]
    assert sorted(sent) == sorted(e.event_id for e in events)  # each event exactly once


def test_dead_endpoint_costs_one_events_retries_and_heals_next_run(
    receiver: Receiver, registry: WebhookRegistry, events: list[Event]
) -> None:
    receiver.then = 500
    registry.add(receiver.url, SECRET, allow_private=True)
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)
    report = deliver_new_events(events, registry, policy)
    assert len(receiver.received) == 3 and report.failed == [(1, events[0].event_id)]
    assert report.skipped_endpoints == [1] and report.delivered == []
    assert [d.status for d in registry.deliveries()] == ["failed"]
    receiver.then = 200
    healed = deliver_new_events(events, registry, policy)
    assert len(healed.delivered) == len(events) and not healed.failed
    assert len(registry.attempts(event_id=events[0].event_id)) == 4
    assert len(receiver.delivered()) == len(events)


@pytest.mark.parametrize("status", [400, 404, 302])
def test_client_errors_and_redirects_are_final(
    status: int, receiver: Receiver, registry: WebhookRegistry, events: list[Event]
) -> None:
    receiver.statuses = [status]
    registry.add(receiver.url, SECRET, allow_private=True)
    report = deliver_new_events(events[:2], registry, FAST)
    assert report.attempts == 1 and len(report.failed) == 1
    assert [r.status for r in receiver.received] == [status]  # the redirect was not followed
    assert registry.attempts()[0].http_status == status


def test_connection_errors_are_logged_and_retried(registry: WebhookRegistry, events: list[Event]) -> None:
    import socket

    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registry.add(f"http://127.0.0.1:{port}/hook", SECRET, allow_private=True)
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.0, timeout_s=2.0)
    report = deliver_new_events(events[:1], registry, policy)
    attempts = registry.attempts()
    assert report.attempts == 2 and len(attempts) == 2
    assert all(a.http_status is None and a.error and "Connection" in a.error for a in attempts)


def test_two_runs_at_once_send_each_event_once(
    receiver: Receiver, tmp_path: Path, events: list[Event]
) -> None:
    receiver.delay_s = 0.02
    path = tmp_path / "shared.sqlite3"
    setup = WebhookRegistry(path)
    setup.add(receiver.url, SECRET, allow_private=True)
    setup.close()
    reports = []

    def run() -> None:
        reg = WebhookRegistry(path)
        try:
            reports.append(deliver_new_events(events, reg, FAST))
        finally:
            reg.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sent = [r.headers[EVENT_HEADER] for r in receiver.received]
    assert sorted(sent) == sorted(e.event_id for e in events)
    assert sum(len(r.delivered) for r in reports) == len(events)


def test_each_endpoint_gets_its_own_signature(
    receiver: Receiver, registry: WebhookRegistry, events: list[Event]
) -> None:
    registry.add(receiver.url, "first", allow_private=True)
    registry.add(receiver.url + "?second", "second", allow_private=True)
    deliver_new_events(events[:2], registry, FAST)
    by_path: dict[str, list[Received]] = {}
    for r in receiver.received:
        by_path.setdefault(r.path, []).append(r)
    assert len(by_path["/hook"]) == 2 and len(by_path["/hook?second"]) == 2
    assert all(verify("first", r.body, r.headers) for r in by_path["/hook"])
    assert all(verify("second", r.body, r.headers) for r in by_path["/hook?second"])


def test_retry_policy_is_bounded() -> None:
    assert RetryPolicy(base_delay_s=1, factor=2, max_delay_s=5).delay_s(10) == 5
    assert RetryPolicy().delay_s(1) == 1.0 and RetryPolicy().delay_s(3) == 4.0
    for bad in [
        {"max_attempts": 0},
        {"max_attempts": 11},
        {"base_delay_s": 10.0, "max_delay_s": 5.0},
        {"max_delay_s": 601.0},
        {"factor": 0.5},
        {"timeout_s": 0.0},
    ]:
        with pytest.raises(UserError):
            RetryPolicy(**bad)  # type: ignore[arg-type]


def test_registry_rejects_bad_urls_and_duplicates(registry: WebhookRegistry) -> None:
    for url in ["ftp://example.org/x", "example.org/hook", "http:///nohost"]:
        with pytest.raises(UserError, match="must be http"):
            registry.add(url, SECRET, allow_private=True)
    registry.add("http://127.0.0.1:9/hook", SECRET, allow_private=True)
    with pytest.raises(UserError, match="already configured"):
        registry.add("http://127.0.0.1:9/hook", "other", allow_private=True)
    with pytest.raises(UserError, match="non-empty secret"):
        registry.add("http://127.0.0.1:9/other", "", allow_private=True)
    with pytest.raises(UserError, match="no webhook"):
        registry.remove(42)


def test_webhooks_commands(receiver: Receiver, iran_db: Path, tmp_path: Path, events: list[Event]) -> None:
    runner = CliRunner()
    reg = ["--registry", str(tmp_path / "cli.sqlite3"), "--db", str(iran_db)]
    added = runner.invoke(webhooks, ["add", receiver.url, "--allow-private", *reg])
    assert added.exit_code == 0, added.output
    assert "webhook 1 added" in added.output and "secret (shown once): " in added.output
    secret = added.output.split("secret (shown once): ")[1].strip()
    receiver.statuses = [503]
    delivered = runner.invoke(webhooks, ["deliver", "--base-delay", "0.01", *reg])
    assert delivered.exit_code == 0, delivered.output
    assert f"{len(events)} delivered, 0 failed ({len(events) + 1} attempts)" in delivered.output
    assert all(verify(secret, r.body, r.headers) for r in receiver.received)
    listed = runner.invoke(webhooks, ["list", *reg])
    assert (
        f"{receiver.url}\t{len(events)} delivered\t0 failed" in listed.output and secret not in listed.output
    )
    log = runner.invoke(webhooks, ["log", "--event", events[0].event_id, *reg])
    assert "attempt 1\t503" in log.output and "attempt 2\t200" in log.output and "2 attempts" in log.output
    again = runner.invoke(webhooks, ["deliver", *reg])
    assert f"0 delivered, 0 failed (0 attempts); {len(events)} already delivered" in again.output
    receiver.then = 500
    added = runner.invoke(webhooks, ["add", receiver.url + "?b", "--secret", "x", "--allow-private", *reg])
    failing = runner.invoke(webhooks, ["deliver", "--max-attempts", "1", *reg])
    assert failing.exit_code == 1 and "1 failed" in failing.output
    removed = runner.invoke(webhooks, ["remove", receiver.url + "?b", *reg])
    assert removed.exit_code == 0 and "webhook 2 removed" in removed.output
    assert "1 webhooks" in runner.invoke(webhooks, ["list", *reg]).output
