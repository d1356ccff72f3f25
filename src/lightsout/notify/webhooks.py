"""Webhooks: configured endpoints get each new event once, signed, with bounded retries and a log.

Delivery is an HTTP POST of the event as JSON (the same object as one element of
``lightsout events --format json``) with the headers

    Content-Type: application/json
    X-Lightsout-Event: <event id>
    X-Lightsout-Signature: sha256=<hex HMAC-SHA256 of the body with the endpoint's secret>

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
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from lightsout.errors import UserError
from lightsout.model import Event
from lightsout.report.serialize import to_jsonable

SIGNATURE_HEADER = "X-Lightsout-Signature"
EVENT_HEADER = "X-Lightsout-Event"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_ATTEMPTS_LIMIT = 10
MAX_DELAY_LIMIT_S = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
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


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header)


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


class WebhookRegistry:
    """Endpoints, deliveries and the attempt log in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            raise UserError(f"{path}: is a directory, expected the webhook registry file")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._con.execute("PRAGMA foreign_keys = ON")
        self._con.execute("PRAGMA journal_mode = WAL")
        self._con.executescript(_SCHEMA)

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

    def add(self, url: str, secret: str, now: datetime | None = None) -> Webhook:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"{url!r}: a webhook URL must be http:// or https:// with a host")
        if not secret:
            raise UserError("a webhook needs a non-empty secret")
        created = now or _now()
        try:
            with self._transaction() as con:
                cursor = con.execute(
                    "INSERT INTO webhooks (url, secret, created_at) VALUES (?, ?, ?)",
                    [url, secret, _iso(created)],
                )
        except sqlite3.IntegrityError:
            raise UserError(f"{url}: already configured; remove it first to change its secret") from None
        return Webhook(int(cursor.lastrowid or 0), url, secret, created)

    def remove(self, webhook: int | str) -> Webhook:
        found = self.get(webhook)
        with self._transaction() as con:
            con.execute("DELETE FROM webhooks WHERE webhook_id = ?", [found.webhook_id])
        return found

    def get(self, webhook: int | str) -> Webhook:
        """By id, or by URL."""
        if isinstance(webhook, int) or str(webhook).isdigit():
            row = self._con.execute("SELECT * FROM webhooks WHERE webhook_id = ?", [int(webhook)]).fetchone()
        else:
            row = self._con.execute("SELECT * FROM webhooks WHERE url = ?", [webhook]).fetchone()
        if row is None:
            raise UserError(f"no webhook {webhook!r}; `lightsout webhooks list` shows them")
        return Webhook(row[0], row[1], row[2], datetime.fromisoformat(row[3]))

    def webhooks(self) -> list[Webhook]:
        rows = self._con.execute("SELECT * FROM webhooks ORDER BY webhook_id").fetchall()
        return [Webhook(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in rows]

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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook answer that redirects is not a delivery: report it as the status it is."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int | None, str | None]:
    """POST and return (HTTP status, None), or (None, error) when no answer came."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read(65_536)
            return int(response.status), None
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code), None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return None, f"{type(reason).__name__}: {reason}"


Poster = Callable[[str, bytes, dict[str, str], float], tuple[int | None, str | None]]


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
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Lightsout-Webhook/1",
        EVENT_HEADER: event.event_id,
        SIGNATURE_HEADER: sign(hook.secret, body),
    }
    for number in range(1, policy.max_attempts + 1):
        started = clock()
        t0 = time.monotonic()
        status, error = poster(hook.url, body, headers, policy.timeout_s)
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
