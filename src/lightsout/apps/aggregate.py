"""From verdicts to blocking events: "Telegram blocked on AS9198 in KZ by TLS interference since ...".

Verdicts are grouped into series by (country, network AS, target) and ordered by measurement time.
Walking a series, consecutive ``blocked`` verdicts with the same method merge into one
:class:`BlockingEvent`. An ``accessible`` verdict ends the open event (``end`` is its time); a
blocked verdict with another method ends it too and opens a new one. ``down`` and
``inconclusive`` verdicts say nothing about blocking, so they neither extend nor end an event.
An event still open at the end of the data is ongoing (``end`` is None). Verdicts without a
measurement time cannot be placed in a series and are left out.

``blocking_events(store)`` reads the measurements through the public :class:`Store` interface
(``store.measurements(MeasurementFilter(...))``), page by page in time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from lightsout.apps.finding import Method, Status
from lightsout.apps.fingerprints import FingerprintDB
from lightsout.apps.observations import SUPPORTED_TESTS
from lightsout.apps.verdict import Verdict, analyse
from lightsout.model import OoniMeasurement
from lightsout.store.base import MeasurementFilter, Store

PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class BlockingSeries:
    """Every timed verdict of one target seen from one network, oldest first."""

    country: str | None
    asn: int | None
    target: str
    verdicts: tuple[Verdict, ...]

    def count(self, status: Status) -> int:
        return sum(v.status is status for v in self.verdicts)

    @property
    def latest(self) -> Verdict:
        return self.verdicts[-1]


@dataclass(frozen=True, slots=True)
class BlockingEvent:
    country: str | None
    asn: int | None
    target: str
    test_name: str
    method: Method
    start: datetime  # the first blocked measurement
    last_blocked: datetime  # the last blocked measurement
    end: (
        datetime | None
    )  # the measurement that showed it accessible again (or blocked another way); None: ongoing
    measurement_ids: tuple[str, ...]  # the blocked measurements merged, oldest first
    reason: str  # the latest blocked verdict's reason
    fingerprint: str | None = None  # a confirming OONI fingerprint, when one of the verdicts had one

    @property
    def measurements(self) -> int:
        return len(self.measurement_ids)

    @property
    def ongoing(self) -> bool:
        return self.end is None

    def statement(self) -> str:
        """One sentence, e.g. "Telegram blocked on AS9198 in KZ by TLS interference since
        2024-03-01 10:00 UTC (3 measurements)"; an ended event says "from ... until ..."."""
        network = f"AS{self.asn}" if self.asn is not None else "an unknown network"
        where = f"{network} in {self.country}" if self.country else network
        head = f"{self.target} blocked on {where} by {self.method.phrase()}"
        seen = f"{self.measurements} measurement" + ("s" if self.measurements != 1 else "")
        if self.end is None:
            return f"{head} since {_utc(self.start)} ({seen})"
        return f"{head} from {_utc(self.start)} until {_utc(self.end)} ({seen})"


def make_series(verdicts: Iterable[Verdict]) -> list[BlockingSeries]:
    """Group timed verdicts by (country, AS, target); series sorted by their key, verdicts by time."""
    groups: dict[tuple[str, int, str], list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.start is None:
            continue
        key = (verdict.probe_cc or "", verdict.probe_asn or 0, verdict.target)
        groups.setdefault(key, []).append(verdict)
    series = []
    for (cc, asn, target), members in sorted(groups.items()):
        members.sort(key=lambda v: (v.start, v.measurement_id))
        series.append(BlockingSeries(cc or None, asn or None, target, tuple(members)))
    return series


def make_events(verdicts: Iterable[Verdict]) -> list[BlockingEvent]:
    """Merge consecutive blocked verdicts of each series (see the module docstring)."""
    events: list[BlockingEvent] = []
    for series in make_series(verdicts):
        events.extend(_series_events(series))
    events.sort(key=lambda e: (e.start, e.country or "", e.asn or 0, e.target))
    return events


def _series_events(series: BlockingSeries) -> Iterator[BlockingEvent]:
    run: list[Verdict] = []
    for verdict in series.verdicts:
        if verdict.status is Status.BLOCKED and verdict.method is not None:
            if run and run[-1].method is not verdict.method:
                yield _event(series, run, verdict.start)
                run = []
            run.append(verdict)
        elif verdict.status is Status.ACCESSIBLE and run:
            yield _event(series, run, verdict.start)
            run = []
    if run:
        yield _event(series, run, None)


def _event(series: BlockingSeries, run: list[Verdict], end: datetime | None) -> BlockingEvent:
    first, last = run[0], run[-1]
    assert first.start is not None and last.start is not None and last.method is not None  # by make_series
    return BlockingEvent(
        country=series.country,
        asn=series.asn,
        target=series.target,
        test_name=first.test_name,
        method=last.method,
        start=first.start,
        last_blocked=last.start,
        end=end,
        measurement_ids=tuple(v.measurement_id for v in run),
        reason=last.reason,
        fingerprint=next((v.fingerprint for v in reversed(run) if v.fingerprint), None),
    )


def iter_measurements(
    store: Store,
    country: str | None = None,
    asn: int | None = None,
    test_name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[OoniMeasurement]:
    """Every measurement with a start time matching the filter, oldest first, read page by page.

    The store returns pages ordered by start time; the next page starts at the last time seen
    (``since`` is inclusive), skipping the ids already returned at that time. A page made only of
    one instant is widened until the instant is read whole.
    """
    cursor = since
    seen: set[str] = set()
    limit = page_size
    while True:
        rows = store.measurements(MeasurementFilter(country, asn, test_name, cursor, until, limit))
        for row in rows:
            if row.measurement_start is not None and row.measurement_id not in seen:
                yield row
        if len(rows) < limit:
            return
        last = rows[-1].measurement_start
        if last is None:  # untimed rows sort last: every timed one has been read
            return
        at_last = {row.measurement_id for row in rows if row.measurement_start == last}
        if last == cursor:
            seen |= at_last
            limit *= 2
            continue
        cursor, seen, limit = last, at_last, page_size


def iter_verdicts(
    store: Store,
    country: str | None = None,
    asn: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    fingerprints: FingerprintDB | None = None,
) -> Iterator[Verdict]:
    """The verdict on every stored measurement of the analysed tests (see ``SUPPORTED_TESTS``)."""
    for test_name in sorted(SUPPORTED_TESTS):
        for measurement in iter_measurements(store, country, asn, test_name, since, until):
            yield analyse(measurement, fingerprints)


def blocking_events(
    store: Store,
    country: str | None = None,
    asn: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[BlockingEvent]:
    """Blocking events of every stored app and website measurement matching the filter."""
    return make_events(iter_verdicts(store, country, asn, since, until))


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
