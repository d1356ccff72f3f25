"""The one contract every live source implements: discover -> fetch -> parse -> checkpoint.

A connector knows one public API (OONI, IODA, Cloudflare Radar, ...); the runner
(:mod:`lightsout.sources.pump`) drives it and owns everything else: HTTP retries, the store, health.

1. **discover** ``(client, checkpoint, window) -> Iterable[WorkItem]``: from where the stream stands
   (its last :class:`Checkpoint`, None the first time), name the next units of work, oldest first.
   Listing calls (an index, a search page) happen here. Each item carries the checkpoint the stream
   reaches once the item is stored.
2. **fetch** ``(client, item) -> Fetched``: download one item. Use :func:`http_get`, which turns
   HTTP 429 / 5xx / network errors / truncated bodies into :class:`SourceError` subclasses; the
   runner retries them with :class:`Backoff`.
3. **parse** ``(fetched) -> Parsed``: the typed records (points, measurements, entities) of one item,
   with the existing file readers where one exists. Raise :class:`BadPayload` for an answer that can
   never be read (the runner records it and moves on: it is not retried), :class:`NotYet` for one
   the source cannot serve yet (not recorded: a later discovery may offer it again).
4. **checkpoint**: the runner writes the item's records, its ``sources`` row (the *ledger*: the
   SHA-256 of ``"<source>:<item key>"``, so an item is fetched and stored once, ever) and
   ``item.checkpoint`` in ONE transaction (:class:`lightsout.store.IngestBatch`). A kill at any
   moment leaves either all of an item or none of it; the restarted service resumes after the last
   stored item and skips any item already in the ledger.

Gaps: a connector whose source can skip data (an archive missing update files) keeps them in its
cursor, a JSON object with ``"gaps": [{"from", "to", "missing"?, "collector"?}]`` (the latest ones)
and ``"gaps_total"`` (all of them); ``lightsout sources``, ``GET /api/v1/sources`` and the
dashboard's banner show the count and the latest window of the follow stream
(:func:`lightsout.service.freshness.source_gaps`). A gap is missing data, never an outage.

Windows: the service follows a source with ``Window("follow", since, None)``: ``since`` is how far
back the first round reaches; once the stream has a checkpoint the service passes ``since`` no later
than the checkpoint's ``data_until``, so a restart after any downtime resumes from the checkpoint
and loses nothing. ``lightsout backfill`` uses ``Window("backfill/<since>/<until>", since, until)``,
a stream of its own, so a backfill never moves the follow cursor and resumes on its own.

Connectors must be small and synchronous (one thread per source in the service); they never touch
the store. Tests run them against the loopback replay server in ``tests/replay``.
"""

from __future__ import annotations

import email.utils
import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from lightsout.model import Checkpoint
from lightsout.sources import Parsed

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True)
class Window:
    """The span of data a stream covers: ``[since, until)``; ``until`` None follows the present."""

    stream: str  # "follow" or "backfill/<since>/<until>"
    since: datetime
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One unit of work: one HTTP fetch that yields one atomic batch."""

    key: str  # stable identity within the source (e.g. an OONI measurement_uid); the ledger key
    url: str
    checkpoint: Checkpoint  # where the stream stands once this item is stored
    params: tuple[tuple[str, str], ...] = ()  # stored as provenance: secrets go in headers, never here
    # The time of the data the item holds (for lag); None: the end of the newest bin it stored.
    data_time: datetime | None = None
    label: str = ""  # for progress lines, e.g. "RU web_connectivity 2026-07-11"


@dataclass(frozen=True, slots=True)
class Fetched:
    """The answer to one item, as received."""

    item: WorkItem
    status: int
    body: bytes
    content_type: str
    fetched_at: datetime
    server_date: datetime | None = None  # the answer's Date header (to see the source's clock skew)


class Connector(Protocol):
    """What every live source module provides (one connector per module under lightsout.sources)."""

    name: str  # the configured source name: stored in checkpoints, health, the ledger
    format: str  # SourceFile.format of what it stores, e.g. "ooni-api"

    def discover(
        self, client: httpx.Client, checkpoint: Checkpoint | None, window: Window
    ) -> Iterable[WorkItem]: ...

    def fetch(self, client: httpx.Client, item: WorkItem) -> Fetched: ...

    def parse(self, fetched: Fetched) -> Parsed: ...

    def idle_checkpoint(
        self, checkpoint: Checkpoint | None, window: Window, now: datetime
    ) -> Checkpoint | None:
        """The checkpoint after a round that stored nothing (discovery still moved on), or None."""


# -- errors -------------------------------------------------------------------------------------


class SourceError(Exception):
    """A source failed in a way worth retrying later (the runner backs off)."""


class SourceUnavailable(SourceError):
    """HTTP 5xx, a network error, a timeout or a truncated body."""


class RateLimited(SourceError):
    """HTTP 429. ``retry_after_s`` is the source's own wait, when it gave one."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BadPayload(Exception):
    """An answer that will never be readable (wrong format, HTTP 4xx other than 429): not retried."""


class NotYet(Exception):
    """The source lists the item but cannot serve it yet (e.g. an OONI measurement whose raw body is
    not uploaded yet): nothing is stored, the item stays out of the ledger, a later round may get it."""


# -- HTTP ----------------------------------------------------------------------------------------


def user_agent() -> str:
    from importlib.metadata import version

    return f"lightsout/{version('lightsout')} (+https://github.com/lightsout; open shutdown observatory)"


def new_client(timeout_s: float = 30.0) -> httpx.Client:
    """The HTTP client connectors use: timeouts on connect and on every read, a named user agent."""
    import httpx

    return httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
        headers={"User-Agent": user_agent()},
        follow_redirects=True,
    )


def http_get(
    client: httpx.Client,
    url: str,
    params: Iterable[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """GET ``url`` and read the whole body; map failures to :class:`SourceError` / :class:`BadPayload`.

    A body shorter than its Content-Length, a connection closed mid-body or a read timeout (slow
    body) is :class:`SourceUnavailable`: httpx raises for them and nothing half-read is returned.
    """
    import httpx

    try:
        response = client.get(url, params=list(params), headers=headers)
    except httpx.TimeoutException as exc:
        raise SourceUnavailable(f"{_where(url)}: timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:  # refused, reset, closed before the end of the body
        raise SourceUnavailable(f"{_where(url)}: {type(exc).__name__}: {exc}") from None
    status = response.status_code
    if status == 429:
        raise RateLimited(
            f"{_where(url)}: HTTP 429 (rate-limited)", retry_after(response.headers, datetime.now(UTC))
        )
    if status >= 500:
        raise SourceUnavailable(f"{_where(url)}: HTTP {status}")
    if status >= 400:
        raise BadPayload(f"{_where(url)}: HTTP {status}: {response.text[:200]!r}")
    return response


def fetched(item: WorkItem, response: httpx.Response) -> Fetched:
    """A :class:`Fetched` from a complete response."""
    return Fetched(
        item=item,
        status=response.status_code,
        body=response.content,
        content_type=response.headers.get("content-type", ""),
        fetched_at=datetime.now(UTC),
        server_date=_http_date(response.headers.get("date")),
    )


def retry_after(headers: httpx.Headers, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds, or an HTTP date read against the
    answer's own Date header when it has one (so a source whose clock is skewed does not make us
    wait hours or hammer it)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    server_now = _http_date(headers.get("date")) or now
    return max((when - server_now).total_seconds(), 0.0)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _where(url: str) -> str:
    return url.split("?", 1)[0]


# -- backoff -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Backoff:
    """Jittered, bounded exponential backoff ("full jitter", Brooker 2015, AWS Architecture Blog:
    *Exponential Backoff And Jitter*): the n-th wait is uniform in ``[0, min(cap, base * 2**n)]``,
    but never shorter than the source's own Retry-After, and never longer than ``cap`` unless the
    source asked for it (up to ``max_retry_after_s``)."""

    base_s: float = 1.0
    cap_s: float = 300.0
    max_retry_after_s: float = 3600.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self, retry_after_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2.0**self.attempt))
        self.attempt += 1
        delay = self.rng.uniform(0.0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_retry_after_s))
        return delay

    def reset(self) -> None:
        self.attempt = 0


def ledger_digest(source: str, key: str) -> str:
    """The ``sources.sha256`` of a fetched item: one row per item, ever (the fetch-once ledger)."""
    return hashlib.sha256(f"{source}:{key}".encode()).hexdigest()
