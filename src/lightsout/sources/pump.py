"""The runner of the connector contract (:mod:`lightsout.sources.connector`): one round of one
source, and the health that follows from it. Used by ``lightsout run`` (every source on its
schedule) and ``lightsout backfill`` (one window, with a progress bar).

The store is reached through a *writer*: a function that runs a job on the write store. In the
service that is the API's :meth:`lightsout.api.access.StoreAccess.write` (one writer, behind a
lock, in the process that also serves); on the command line it is ``direct_writer(store)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from lightsout.errors import InputError
from lightsout.ingest import make_batch, point_count
from lightsout.model import Checkpoint, HealthState, SourceFile, SourceHealth
from lightsout.sources import Parsed
from lightsout.sources.connector import (
    Backoff,
    BadPayload,
    Connector,
    Fetched,
    NotYet,
    RateLimited,
    SourceError,
    Window,
    WorkItem,
    ledger_digest,
)
from lightsout.store import Store

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")
Writer = Callable[[Callable[[Store], T]], T]


def direct_writer(store: Store) -> Callable[[Callable[[Store], object]], object]:
    """A writer for a store this process opened itself."""

    def write(job: Callable[[Store], object]) -> object:
        return job(store)

    return write


@dataclass(slots=True)
class RoundResult:
    """What one round did. ``error`` set: the round stopped there (everything before it is stored)."""

    source: str
    stream: str
    items_stored: int = 0
    items_known: int = 0  # discovered but already in the ledger: not fetched again
    unreadable: int = 0  # fetched, never readable (stored in the ledger so never fetched again)
    not_yet: int = 0  # listed but not served yet (not in the ledger: a later round may get them)
    measurements: int = 0
    points: int = 0
    retries: int = 0
    last_data: datetime | None = None  # newest data time stored in this round
    clock_skew_s: float | None = None  # the source's Date header minus our clock, at the last fetch
    error: str | None = None
    retry_after_s: float | None = None  # set when the round ended rate-limited
    stopped: bool = False  # the stop event was set
    notes: list[str] = field(default_factory=list)

    @property
    def rate_limited(self) -> bool:
        return self.retry_after_s is not None


@dataclass(frozen=True, slots=True)
class RoundLimits:
    """Retries of one item inside a round; past them the round ends and the source backs off."""

    attempts: int = 4
    max_wait_s: float = 60.0  # a longer Retry-After ends the round (the service waits it out)
    backoff_base_s: float = 1.0
    max_items: int | None = None  # stop after this many stored items (the round resumes next time)


class Claims:
    """The items being fetched right now in this process, by ledger digest: two streams of one
    source (the service's follow thread and a backfill job) that list the same item leave it to
    whichever claimed it first, so it is fetched once (the ledger covers what is already stored)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[str] = set()

    def claim(self, digest: str) -> bool:
        with self._lock:
            if digest in self._held:
                return False
            self._held.add(digest)
            return True

    def release(self, digest: str) -> None:
        with self._lock:
            self._held.discard(digest)


# Called with (item, stored items so far) after every item, for progress bars.
ItemProgress = Callable[[WorkItem, "RoundResult"], None]


def run_round(
    connector: Connector,
    client: httpx.Client,
    write: Writer[object],
    window: Window,
    *,
    limits: RoundLimits | None = None,
    stop: threading.Event | None = None,
    progress: ItemProgress | None = None,
    claims: Claims | None = None,
) -> RoundResult:
    """Discover, fetch, parse and store items of ``window`` until discovery ends, an error persists,
    ``limits.max_items`` is reached or ``stop`` is set. Each item is one transaction with its
    checkpoint and ledger row. ``claims``: shared with the other streams of this process; an item
    another stream is fetching is counted as known and left to it."""
    limits = limits or RoundLimits()
    claims = claims or Claims()
    stop = stop or threading.Event()
    result = RoundResult(connector.name, window.stream)
    checkpoint = _call(write, lambda s: s.load_checkpoint(connector.name, window.stream))
    use_carry = getattr(connector, "use_carry", None)
    if callable(use_carry):  # a connector whose reader continues stored state (MRT routing tables)
        use_carry(lambda key: _call(write, lambda s: s.load_carry(key)))
    state = _Cursor(checkpoint, checkpoint)
    backoff = Backoff(base_s=limits.backoff_base_s, cap_s=limits.max_wait_s)
    try:
        for attempt in range(1, limits.attempts + 1):
            try:
                _pass(connector, client, write, window, limits, stop, progress, claims, result, state)
                break
            except _DiscoveryFailed as failed:
                # A listing failed: discovery starts again from where the stream stands (the ledger
                # skips what is stored), after a jittered wait, a few times.
                cause = failed.cause
                wait = cause.retry_after_s if isinstance(cause, RateLimited) else None
                if attempt == limits.attempts or (wait or 0.0) > limits.max_wait_s:
                    raise cause from None
                result.retries += 1
                if stop.wait(backoff.next_delay(wait)):
                    result.stopped = True
                    break
    except RateLimited as exc:
        result.error = str(exc)
        result.retry_after_s = exc.retry_after_s if exc.retry_after_s is not None else 0.0
    except SourceError as exc:
        result.error = str(exc)
    except BadPayload as exc:  # a listing that can never be read: the source changed its format
        result.error = str(exc)
    if state.last is not None and state.last is not state.saved:  # known items, idle: still move on
        final = state.last
        _call(write, lambda s: s.save_checkpoint(final))
    return result


@dataclass(slots=True)
class _Cursor:
    last: Checkpoint | None  # where the stream stands
    saved: Checkpoint | None  # what the store holds


class _DiscoveryFailed(Exception):
    def __init__(self, cause: SourceError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _discovered(
    connector: Connector, client: httpx.Client, checkpoint: Checkpoint | None, window: Window
) -> Iterator[WorkItem]:
    """The connector's items; a failure of discovery itself (not of a fetch) is told apart."""
    items = iter(connector.discover(client, checkpoint, window))
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except SourceError as exc:
            raise _DiscoveryFailed(exc) from exc
        yield item


def _pass(
    connector: Connector,
    client: httpx.Client,
    write: Writer[object],
    window: Window,
    limits: RoundLimits,
    stop: threading.Event,
    progress: ItemProgress | None,
    claims: Claims,
    result: RoundResult,
    state: _Cursor,
) -> None:
    for item in _discovered(connector, client, state.last, window):
        if stop.is_set():
            result.stopped = True
            return
        digest = ledger_digest(connector.name, item.key)
        # Claimed by another stream of this process (it is fetching it), or already stored: known.
        if not claims.claim(digest):
            result.items_known += 1
        else:
            try:
                if _call(write, lambda s, d=digest: s.has_source(d)):  # type: ignore[misc]
                    result.items_known += 1
                else:
                    answer = _fetch(connector, client, item, limits, stop, result)
                    if answer is None:
                        result.stopped = True
                        return
                    if answer.server_date is not None:
                        result.clock_skew_s = (answer.server_date - answer.fetched_at).total_seconds()
                    if _store(connector, write, item, digest, answer, result):
                        state.saved = item.checkpoint
            finally:
                claims.release(digest)
        state.last = item.checkpoint
        if progress is not None:
            progress(item, result)
        if limits.max_items is not None and result.items_stored >= limits.max_items:
            return
    idle = connector.idle_checkpoint(state.last, window, datetime.now(UTC))
    if idle is not None:
        state.last = idle


def _call(write: Writer[object], job: Callable[[Store], T]) -> T:
    return write(job)  # type: ignore[return-value]


def _fetch(
    connector: Connector,
    client: httpx.Client,
    item: WorkItem,
    limits: RoundLimits,
    stop: threading.Event,
    result: RoundResult,
) -> Fetched | None:
    """Fetch one item with bounded, jittered retries; None if ``stop`` was set while waiting."""
    backoff = Backoff(base_s=limits.backoff_base_s, cap_s=limits.max_wait_s)
    for attempt in range(1, limits.attempts + 1):
        try:
            return connector.fetch(client, item)
        except RateLimited as exc:
            if attempt == limits.attempts or (exc.retry_after_s or 0.0) > limits.max_wait_s:
                raise
            delay = backoff.next_delay(exc.retry_after_s)
        except SourceError:
            if attempt == limits.attempts:
                raise
            delay = backoff.next_delay()
        result.retries += 1
        if stop.wait(delay):
            return None
    raise AssertionError("unreachable")


def _store(
    connector: Connector,
    write: Writer[object],
    item: WorkItem,
    digest: str,
    answer: Fetched,
    result: RoundResult,
) -> bool:
    """Parse and store one item with its checkpoint; False when the source cannot serve it yet."""
    try:
        parsed = connector.parse(answer)
    except NotYet:
        result.not_yet += 1  # counted, not noted: common and expected (late uploads)
        return False
    except (BadPayload, InputError) as exc:
        # Never readable: keep it in the ledger (no data) so it is not fetched again, and say so.
        parsed = Parsed(format=connector.format, records_read=1)
        result.unreadable += 1
        result.notes.append(f"{item.label or item.key}: {exc}")
    source = SourceFile(
        sha256=digest,
        path=_provenance(item),
        format=parsed.format if parsed.format else connector.format,
        ingested_at=datetime.now(UTC),
        records_read=parsed.records_read,
        records_skipped=len(parsed.skipped) + (1 if not parsed.records_read else 0),
        points_written=point_count(parsed),
    )
    verdicts = []
    if parsed.measurements:  # judged once, here, and stored with them (lightsout.apps.stored)
        from lightsout.apps.stored import judge_all

        verdicts = judge_all(parsed.measurements)
    # as `lightsout ingest` writes a file (MRT archives: points as Arrow columns)
    batch = make_batch(source, parsed, checkpoint=item.checkpoint, verdicts=verdicts)
    _call(write, lambda s: s.write_batch(batch))
    result.items_stored += 1
    result.measurements += len(parsed.measurements)
    result.points += point_count(parsed)
    newest = item.data_time if item.data_time is not None else _newest_data(parsed)
    if newest is not None and (result.last_data is None or newest > result.last_data):
        result.last_data = newest
    return True


def _newest_data(parsed: Parsed) -> datetime | None:
    """The end of the newest bin an item stored, for connectors whose items do not know their data
    time before the answer (a time-series API may answer an empty or shorter window than asked)."""
    ends = [p.bin_start + timedelta(seconds=p.bin_s) for p in parsed.points]
    columns = parsed.point_columns
    if columns is not None and len(columns):
        ends.append(datetime.fromtimestamp(int(columns.bin_start_s.max()) + columns.bin_s, UTC))
    return max(ends, default=None)


def _provenance(item: WorkItem) -> str:
    """The URL the item was fetched from, query included: what a report cites and a reader can fetch
    again (never a secret: connectors send those in headers)."""
    from urllib.parse import urlencode

    return f"{item.url}?{urlencode(item.params)}" if item.params else item.url


# -- health --------------------------------------------------------------------------------------


def health_after(
    previous: SourceHealth | None,
    result: RoundResult,
    now: datetime,
    interval: timedelta,
    late_after: timedelta,
    backoff: Backoff,
) -> SourceHealth:
    """The source's health after a round, and when to try it next.

    A failed round backs off (jittered, bounded; at least the source's Retry-After); a good round
    resets the backoff and comes back after ``interval``. A good round whose newest data is older
    than ``late_after`` is LATE: the source answers but has nothing new (a gap, not an outage).
    """
    base = previous or SourceHealth(result.source, HealthState.PENDING, None, None, None, None, None)
    last_data = base.last_data
    if result.last_data is not None and (last_data is None or result.last_data > last_data):
        last_data = result.last_data
    skew = result.clock_skew_s if result.clock_skew_s is not None else base.clock_skew_s
    if result.error is not None:
        delay = backoff.next_delay(result.retry_after_s)
        state = HealthState.RATE_LIMITED if result.rate_limited else HealthState.FAILING
        return replace(
            base,
            state=state,
            checked_at=now,
            last_data=last_data,
            last_error=result.error,
            next_attempt=now + timedelta(seconds=delay),
            failures=base.failures + 1,
            clock_skew_s=skew,
        )
    backoff.reset()
    # Judged on the source's own clock: a source running behind ours is not late for that reason.
    source_now = now + timedelta(seconds=skew) if skew is not None else now
    late = last_data is None or source_now - last_data > late_after
    return replace(
        base,
        state=HealthState.LATE if late else HealthState.OK,
        checked_at=now,
        last_success=now,
        last_data=last_data,
        next_attempt=now + interval,
        failures=0,
        clock_skew_s=skew,
    )
