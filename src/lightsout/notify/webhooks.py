"""Webhooks: configured endpoints get each new event once, signed, with bounded retries and a log.

Delivery is an HTTP POST of the event as JSON (the same object as one element of
``lightsout events --format json``) with the headers

    Content-Type: application/json
    X-Lightsout-Event: <event id>
    X-Lightsout-Event-Type: <event kind: outage | degradation>
    X-Lightsout-Timestamp: <Unix time of this attempt, seconds>
    X-Lightsout-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 with the endpoint's secret of
                           "<timestamp>.<event type>." followed by the body>

The timestamp and the type are signed with the body, as Stripe and GitHub do, so a receiver that
rejects timestamps older than a few minutes (:func:`verify`, ``DEFAULT_TOLERANCE_S``) cannot be
fed a captured delivery again, nor a body under another type; docs/security.md shows the
receiver's code. Each attempt is signed afresh.

Each attempt has a total deadline (``RetryPolicy.timeout_s``), not a per-read timeout: a
receiver that drips its answer is cut off (:mod:`lightsout.notify.http`). URLs are checked when
added (no whitespace or control characters, http(s) with a host) and loopback, link-local,
private and reserved targets are refused unless the endpoint was added with ``allow_private``.
The registry file holds the secrets and is created readable by its owner only (0600).

A 2xx answer delivers it. A connection error, a timeout, 408, 429 or 5xx is retried with
exponential backoff (``RetryPolicy``, bounded in attempts and in each wait); any other status
(a redirect, 4xx) is final for this run. Every attempt is logged (time, status or error,
duration). A delivered event is never sent to that endpoint again, so running ``deliver`` again
sends only what is new or what failed before. Two runs at once cannot both send one event: each
claims it first in one transaction.

**Where it is kept.** Endpoints and the log live in a small SQLite file beside the store
(``<store>.webhooks.sqlite3``), not in the DuckDB file: the ``Store`` interface has no way to
add tables (and its backend is not ours to change), DuckDB admits one writing process, which
``watch`` or an ingest may be holding for a long time, and webhook commands should neither wait
for nor block it. SQLite (standard library) gives transactions and locking between processes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from lightsout.errors import UserError
from lightsout.model import Event
from lightsout.notify import http
from lightsout.report.serialize import to_jsonable

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Lightsout-Signature"
EVENT_HEADER = "X-Lightsout-Event"
TYPE_HEADER = "X-Lightsout-Event-Type"
TIMESTAMP_HEADER = "X-Lightsout-Timestamp"
DEFAULT_TOLERANCE_S = 300
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_ATTEMPTS_LIMIT = 10
MAX_DELAY_LIMIT_S = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL,
    allow_private INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deliveries (
    webhook_id INTEGER NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_at TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (webhook_id, event_id)
);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: int
    url: str
    secret: str
    created_at: datetime
    allow_private: bool = False  # the operator allowed a loopback/private/link-local target


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST: when, what came back (an HTTP status, or the error that stopped it), how long it took."""

    webhook_id: int
    event_id: str
    attempt: int
    at: datetime
    http_status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


@dataclass(frozen=True, slots=True)
class Delivery:
    webhook_id: int
    event_id: str
    status: str  # sending | delivered | failed
    attempts: int
    claimed_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts per event and run, and the waits between them: ``base_delay_s x factor**n``, at most
    ``max_delay_s``. Both bounds are capped (10 attempts, 600 s) so a run always ends."""

    max_attempts: int = 5
    base_delay_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 60.0
    timeout_s: float = 10.0
    stale_claim: timedelta = timedelta(minutes=30)  # a 'sending' claim older than this was abandoned

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise UserError(f"max attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}")
        if not (0 <= self.base_delay_s <= self.max_delay_s <= MAX_DELAY_LIMIT_S):
            raise UserError(f"delays must satisfy 0 <= base delay <= max delay <= {MAX_DELAY_LIMIT_S:g} s")
        if self.factor < 1:
            raise UserError("backoff factor must be at least 1")
        if not 0 < self.timeout_s <= 300:
            raise UserError("timeout must be between 0 and 300 s")

    def delay_s(self, failed_attempts: int) -> float:
        """The wait after the ``failed_attempts``-th failure (1 -> base delay)."""
        return min(self.max_delay_s, self.base_delay_s * self.factor ** (failed_attempts - 1))


def sign(secret: str, timestamp: int, event_type: str, body: bytes) -> str:
    """The signature header's value: ``t=<timestamp>,v1=<hex HMAC-SHA256>`` of
    ``"<timestamp>.<event type>." + body`` keyed with ``secret``."""
    signed = f"{timestamp}.{event_type}.".encode() + body
    return f"t={timestamp},v1=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """What a receiver does (docs/security.md): recompute the signature over the timestamp, the
    event type and the body, compare in constant time, and refuse a timestamp more than
    ``tolerance_s`` from now (a replayed delivery)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    fields = dict(
        part.split("=", 1) for part in lowered.get(SIGNATURE_HEADER.lower(), "").split(",") if "=" in part
    )
    stamp, event_type = fields.get("t", ""), lowered.get(TYPE_HEADER.lower(), "")
    if not stamp.isdigit() or stamp != lowered.get(TIMESTAMP_HEADER.lower()):
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance_s:
        return False
    expected = sign(secret, int(stamp), event_type, body)
    return hmac.compare_digest(expected, f"t={stamp},v1={fields.get('v1', '')}")


def event_type(event: Event) -> str:
    return event.kind.value


def event_body(event: Event) -> bytes:
    return json.dumps(to_jsonable(event), sort_keys=True, ensure_ascii=False).encode("utf-8")


def default_registry_path(db: Path) -> Path:
    return db.with_name(db.name + ".webhooks.sqlite3")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


_SELECT_WEBHOOK = "SELECT webhook_id, url, secret, created_at, allow_private FROM webhooks"


def _webhook(row: tuple[int, str, str, str, int]) -> Webhook:
    return Webhook(row[0], row[1], row[2], datetime.fromisoformat(row[3]), bool(row[4]))


class WebhookRegistry:
    """Endpoints, deliveries and the attempt log in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            raise UserError(f"{path}: is a directory, expected the webhook registry file")
        path.parent.mkdir(parents=True, exist_ok=True)
        # The file holds the endpoints' secrets: readable by its owner only (SQLite gives its
        # -wal and -shm files the same mode).
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        self._con = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._con.execute("PRAGMA foreign_keys = ON")
        self._con.execute("PRAGMA journal_mode = WAL")
        self._con.executescript(_SCHEMA)
        columns = {row[1] for row in self._con.execute("PRAGMA table_info(webhooks)")}
        if "allow_private" not in columns:  # a registry made before the column existed
            self._con.execute("ALTER TABLE webhooks ADD COLUMN allow_private INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    # -- endpoints -----------------------------------------------------------------------------

    def add(
        self, url: str, secret: str, now: datetime | None = None, *, allow_private: bool = False
    ) -> Webhook:
        """Add an endpoint. Its URL is checked now (:func:`lightsout.notify.http.check_url`); a
        host that is, or resolves to, a loopback, link-local, private or reserved address is
        refused unless ``allow_private`` (it is checked again at each delivery)."""
        http.check_url(url)
        if not secret:
            raise UserError("a webhook needs a non-empty secret")
        if not allow_private:
            parts = urlsplit(url)
            try:
                http.checked_address(parts.hostname or "", parts.port or 80, False, 5.0)
            except http.TargetRefused as exc:
                raise UserError(str(exc)) from None
            except OSError as exc:  # not resolvable now: checked again at each delivery
                log.warning("webhook host %s does not resolve now (%s)", parts.hostname, exc)
        created = now or _now()
        try:
            with self._transaction() as con:
                cursor = con.execute(
                    "INSERT INTO webhooks (url, secret, created_at, allow_private) VALUES (?, ?, ?, ?)",
                    [url, secret, _iso(created), int(allow_private)],
                )
        except sqlite3.IntegrityError:
            raise UserError(f"{url}: already configured; remove it first to change its secret") from None
        return Webhook(int(cursor.lastrowid or 0), url, secret, created, allow_private)

    def remove(self, webhook: int | str) -> Webhook:
        found = self.get(webhook)
        with self._transaction() as con:
            con.execute("DELETE FROM webhooks WHERE webhook_id = ?", [found.webhook_id])
        return found

    def get(self, webhook: int | str) -> Webhook:
        """By id, or by URL."""
        if isinstance(webhook, int) or str(webhook).isdigit():
            row = self._con.execute(_SELECT_WEBHOOK + " WHERE webhook_id = ?", [int(webhook)]).fetchone()
        else:
            row = self._con.execute(_SELECT_WEBHOOK + " WHERE url = ?", [webhook]).fetchone()
        if row is None:
            raise UserError(f"no webhook {webhook!r}; `lightsout webhooks list` shows them")
        return _webhook(row)

    def webhooks(self) -> list[Webhook]:
        rows = self._con.execute(_SELECT_WEBHOOK + " ORDER BY webhook_id").fetchall()
        return [_webhook(r) for r in rows]

    # -- deliveries ------------------------------------------------------------------------------

    def claim(self, webhook_id: int, event_id: str, now: datetime, stale: timedelta) -> bool:
        """Take (webhook, event) for sending: true unless it was delivered, or another run holds a
        fresh claim on it."""
        with self._transaction() as con:
            row = con.execute(
                "SELECT status, claimed_at FROM deliveries WHERE webhook_id = ? AND event_id = ?",
                [webhook_id, event_id],
            ).fetchone()
            if row is not None:
                status, claimed_at = row
                if status == "delivered":
                    return False
                if status == "sending" and now - datetime.fromisoformat(claimed_at) < stale:
                    return False
            con.execute(
                "INSERT INTO deliveries (webhook_id, event_id, status, attempts, claimed_at) "
                "VALUES (?, ?, 'sending', 0, ?) ON CONFLICT (webhook_id, event_id) DO UPDATE SET "
                "status = 'sending', claimed_at = excluded.claimed_at, finished_at = NULL",
                [webhook_id, event_id, _iso(now)],
            )
        return True

    def log_attempt(self, attempt: Attempt) -> None:
        with self._transaction() as con:
            con.execute(
                "INSERT INTO attempts (webhook_id, event_id, attempt, at, http_status, error, duration_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    attempt.webhook_id,
                    attempt.event_id,
                    attempt.attempt,
                    _iso(attempt.at),
                    attempt.http_status,
                    attempt.error,
                    attempt.duration_ms,
                ],
            )
            con.execute(
                "UPDATE deliveries SET attempts = attempts + 1 WHERE webhook_id = ? AND event_id = ?",
                [attempt.webhook_id, attempt.event_id],
            )

    def finish(self, webhook_id: int, event_id: str, delivered: bool, now: datetime) -> None:
        with self._transaction() as con:
            con.execute(
                "UPDATE deliveries SET status = ?, finished_at = ? WHERE webhook_id = ? AND event_id = ?",
                ["delivered" if delivered else "failed", _iso(now), webhook_id, event_id],
            )

    def deliveries(self, webhook_id: int | None = None) -> list[Delivery]:
        rows = self._con.execute(
            "SELECT webhook_id, event_id, status, attempts, claimed_at, finished_at FROM deliveries "
            "WHERE (? IS NULL OR webhook_id = ?) ORDER BY claimed_at, webhook_id, event_id",
            [webhook_id, webhook_id],
        ).fetchall()
        return [Delivery(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), _parse(r[5])) for r in rows]

    def attempts(self, webhook_id: int | None = None, event_id: str | None = None) -> list[Attempt]:
        rows = self._con.execute(
            "SELECT webhook_id, event_id, attempt, at, http_status, error, duration_ms FROM attempts "
            "WHERE (? IS NULL OR webhook_id = ?) AND (? IS NULL OR event_id = ?) ORDER BY attempt_id",
            [webhook_id, webhook_id, event_id, event_id],
        ).fetchall()
        return [Attempt(r[0], r[1], r[2], datetime.fromisoformat(r[3]), r[4], r[5], r[6]) for r in rows]


def post(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float, allow_private: bool = False
) -> tuple[int | None, str | None]:
    """POST with a total deadline of ``timeout_s`` (see :func:`lightsout.notify.http.post`)."""
    return http.post(url, body, headers, timeout_s, allow_private)


Poster = Callable[[str, bytes, dict[str, str], float, bool], tuple[int | None, str | None]]


@dataclass(slots=True)
class DeliveryReport:
    """What one run did."""

    delivered: list[tuple[int, str]] = field(default_factory=list)  # (webhook id, event id)
    failed: list[tuple[int, str]] = field(default_factory=list)
    skipped_endpoints: list[int] = field(default_factory=list)  # gave up on after a failed event
    already: int = 0  # (webhook, event) pairs delivered before or claimed by another run
    attempts: int = 0


def deliver_new_events(
    events: Sequence[Event],
    registry: WebhookRegistry,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = _now,
    poster: Poster = post,
) -> DeliveryReport:
    """Send every event not yet delivered to every endpoint, oldest event first.

    An endpoint that fails every attempt for one event is left alone for the rest of the run
    (its remaining events stay new for the next run), so a dead endpoint costs one event's
    retries, not all of them.
    """
    policy = policy or RetryPolicy()
    report = DeliveryReport()
    ordered = sorted(events, key=lambda e: (e.start, e.event_id))
    for hook in registry.webhooks():
        for event in ordered:
            if not registry.claim(hook.webhook_id, event.event_id, clock(), policy.stale_claim):
                report.already += 1
                continue
            delivered = _send(hook, event, registry, policy, sleep, clock, poster, report)
            registry.finish(hook.webhook_id, event.event_id, delivered, clock())
            if delivered:
                report.delivered.append((hook.webhook_id, event.event_id))
            else:
                report.failed.append((hook.webhook_id, event.event_id))
                report.skipped_endpoints.append(hook.webhook_id)
                break
    return report


def _send(
    hook: Webhook,
    event: Event,
    registry: WebhookRegistry,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    clock: Callable[[], datetime],
    poster: Poster,
    report: DeliveryReport,
) -> bool:
    body = event_body(event)
    kind = event_type(event)
    for number in range(1, policy.max_attempts + 1):
        started = clock()
        stamp = int(started.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Lightsout-Webhook/2",
            EVENT_HEADER: event.event_id,
            TYPE_HEADER: kind,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(hook.secret, stamp, kind, body),
        }
        t0 = time.monotonic()
        status, error = poster(hook.url, body, headers, policy.timeout_s, hook.allow_private)
        attempt = Attempt(
            hook.webhook_id,
            event.event_id,
            number,
            started,
            status,
            error,
            int(1000 * (time.monotonic() - t0)),
        )
        registry.log_attempt(attempt)
        report.attempts += 1
        if attempt.ok:
            return True
        retryable = status is None or status in RETRY_STATUSES
        if not retryable or number == policy.max_attempts:
            return False
        sleep(policy.delay_s(number))
    return False


class BackgroundDelivery:
    """Delivery on its own thread, off the judging path (``lightsout watch``): :meth:`submit`
    hands over the current events and returns at once; the thread delivers what is new, with
    its own registry connection. Events submitted while a run is under way wait for the next
    run (only the latest list is kept: a run sends every event not yet delivered anyway)."""

    def __init__(
        self,
        registry_path: Path,
        policy: RetryPolicy | None = None,
        on_report: Callable[[DeliveryReport], None] | None = None,
        poster: Poster = post,
    ) -> None:
        self.registry_path = registry_path
        self.policy = policy or RetryPolicy()
        self._on_report = on_report
        self._poster = poster
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[Event] | None = None
        self._busy = False
        self._closing = False
        self.runs = 0
        self._thread = threading.Thread(target=self._loop, name="webhook-delivery", daemon=True)
        self._thread.start()

    def submit(self, events: Sequence[Event]) -> None:
        with self._wake:
            self._pending = list(events)
            self._wake.notify()

    def idle(self) -> bool:
        with self._lock:
            return self._pending is None and not self._busy

    def close(self, wait_s: float | None = None) -> None:
        """Deliver what was submitted (at most ``wait_s`` seconds more, default: one event's
        worth of attempts and waits), then stop the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if wait_s is None:
            policy = self.policy
            wait_s = policy.max_attempts * (policy.timeout_s + policy.max_delay_s)
        self._thread.join(wait_s)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closing:
                    self._wake.wait()
                events, self._pending = self._pending, None
                if events is None:
                    return
                self._busy = True
            try:
                registry = WebhookRegistry(self.registry_path)
                try:
                    report = deliver_new_events(events, registry, self.policy, poster=self._poster)
                finally:
                    registry.close()
                if self._on_report is not None:
                    self._on_report(report)
            except Exception as exc:  # delivery must never take the service down
                log.error("webhook delivery failed", exc_info=exc)
            finally:
                with self._lock:
                    self._busy = False
                    self.runs += 1
