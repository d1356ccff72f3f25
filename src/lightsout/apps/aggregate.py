"""From verdicts to blocking events: "Telegram blocked on AS9198 in KZ by TLS interference since ...".

Verdicts are grouped into series by (country, network AS, target) and ordered by measurement time.
Copies of one OONI measurement (the same ``measurement_uid``, or the same ``report_id``, input and
start time, read from several files such as ``report1.json`` and ``report1.json.pretty``) count once; copies
that disagree are one *inconclusive* verdict. Walking a series, consecutive ``blocked`` verdicts
merge into one :class:`BlockingEvent`, whatever their method: an event names every method its
measurements showed, with their counts, so one run of measurements never becomes a DNS event and a
TLS event in the same minute. An ``accessible`` verdict ends the open event (``end`` is its time),
unless it was measured within a minute of the last blocked one (contradicting evidence of one
moment, counted in the event's tally). ``down`` and ``inconclusive`` verdicts say nothing about
blocking, so they neither extend nor end an event. An event still open at the end of the data has
``end`` None: its statement says "ongoing" only when the series' last measurement is recent
(``LIVE_WINDOW``), else "at the end of the data". Verdicts without a measurement time cannot be
placed in a series and are left out.

**The evidence bar** (docs/apps.md): an event is a finding of blocking when OONI's fingerprints
confirm a blockpage in one of its measurements, or when it has at least ``MIN_BLOCKED``
blocked measurements on at least ``MIN_DAYS`` different days (UTC). Below the bar its statement
says so ("below the evidence bar ... not a finding of blocking") and the dashboard does not count
it. Every statement gives the counts (blocked, accessible, all measurements of the target on that
network) and every measurement links to OONI Explorer when OONI published it.

``blocking_events(store)`` reads the verdicts stored at ingest through the public :class:`Store`
interface (``store.verdicts``), page by page in time order, and judges on read only the
measurements without a verdict of the running analysis (:mod:`lightsout.apps.stored`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from lightsout.apps.finding import Method, Status, inconclusive
from lightsout.apps.stored import PAGE_SIZE, pages, stored_verdicts
from lightsout.apps.verdict import Verdict
from lightsout.model import OoniMeasurement
from lightsout.report.words import LIVE_WINDOW as LIVE_WINDOW  # the docstring's window (report.words)
from lightsout.report.words import is_live
from lightsout.store.base import MeasurementFilter, Store

MIN_BLOCKED = 3  # the evidence bar: blocked measurements ...
MIN_DAYS = 2  # ... on this many different UTC days (or one confirmed by an OONI fingerprint)
SIMULTANEOUS = timedelta(minutes=1)  # an accessible verdict this close to a blocked one ends nothing


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
    method: Method  # the latest blocked measurement's method (``methods`` has them all)
    start: datetime  # the first blocked measurement
    last_blocked: datetime  # the last blocked measurement
    end: datetime | None  # the measurement that showed it accessible again; None: open at the end of the data
    measurement_ids: tuple[str, ...]  # the blocked measurements merged, oldest first
    reason: str  # the latest blocked verdict's reason
    fingerprint: str | None = None  # a confirming OONI fingerprint, when one of the verdicts had one
    methods: tuple[tuple[Method, int], ...] = ()  # every method seen, with its count, most seen first
    days: int = 1  # different UTC days with a blocked measurement
    accessible: int = 0  # accessible measurements of the target on this network, in all
    series_measurements: int = 0  # measurements of the target on this network, in all
    data_end: datetime | None = None  # the latest measurement of the target on this network
    explorer_urls: tuple[str, ...] = ()  # per blocked measurement: its OONI Explorer page ("" if none)

    @property
    def measurements(self) -> int:
        return len(self.measurement_ids)

    @property
    def ongoing(self) -> bool:
        """Open at the end of the data (no later measurement showed it accessible)."""
        return self.end is None

    @property
    def confirmed(self) -> bool:
        return self.fingerprint is not None

    @property
    def meets_bar(self) -> bool:
        """Whether the event clears the evidence bar (see the module docstring)."""
        return self.confirmed or (self.measurements >= MIN_BLOCKED and self.days >= MIN_DAYS)

    def live(self, now: datetime | None = None) -> bool:
        """Whether the series was measured within ``LIVE_WINDOW`` of ``now`` (default: the clock):
        :func:`lightsout.report.words.is_live`."""
        return is_live(self.data_end, now)

    def methods_phrase(self) -> str:
        """ "DNS tampering", or "DNS tampering (4 measurements) and TLS interference (1)"."""
        counted = self.methods or ((self.method, self.measurements),)
        if len(counted) == 1:
            return counted[0][0].phrase()
        parts = [f"{m.phrase()} ({n} measurement{'s' if n != 1 else ''})" for m, n in counted[:1]]
        parts += [f"{m.phrase()} ({n})" for m, n in counted[1:]]
        return ", ".join(parts[:-1]) + " and " + parts[-1]

    def tally(self) -> str:
        """ "1 blocked of 1 measurement, 0 accessible, on 1 day"."""
        total = max(self.series_measurements, self.measurements)
        return (
            f"{self.measurements} blocked of {total} measurement{'s' if total != 1 else ''}, "
            f"{self.accessible} accessible, on {self.days} day{'s' if self.days != 1 else ''}"
        )

    def statement(self, now: datetime | None = None) -> str:
        """One sentence with its counts, e.g. "Telegram blocked on AS9198 in KZ by TLS interference
        from 2024-03-01 10:00 UTC until 2024-03-01 22:00 UTC (3 blocked of 4 measurements, 1
        accessible, on 1 day)"; an open event says "ongoing" only when the data are live (``now``),
        else "at the end of the data"; an event below the evidence bar says so."""
        network = f"AS{self.asn}" if self.asn is not None else "an unknown network"
        where = f"{network} in {self.country}" if self.country else network
        single = self.start == self.last_blocked
        if self.end is not None:
            when = f"from {_utc(self.start)} until {_utc(self.end)}"
        elif self.live(now):
            when = f"since {_utc(self.start)}, ongoing"
        else:
            last = self.data_end or self.last_blocked
            if single and last == self.start:
                when = f"on {_utc(self.start)}, at the end of the data"
            else:
                first = f"on {_utc(self.start)}" if single else f"from {_utc(self.start)}"
                when = f"{first}, still blocked at the end of the data ({_utc(last)})"
        confirmed = f"; OONI fingerprint {self.fingerprint}" if self.fingerprint else ""
        tally = f"({self.tally()}{confirmed})"
        if self.meets_bar:
            return f"{self.target} blocked on {where} by {self.methods_phrase()} {when} {tally}"
        return (
            f"Below the evidence bar: {self.target} looked blocked on {where} by {self.methods_phrase()} "
            f"{when} {tally}; the bar is {MIN_BLOCKED} blocked measurements on {MIN_DAYS} days or an OONI "
            "fingerprint: not a finding of blocking"
        )


def make_series(verdicts: Iterable[Verdict]) -> list[BlockingSeries]:
    """Group timed verdicts by (country, AS, target); series sorted by their key, verdicts by time."""
    groups: dict[tuple[str, int, str], list[Verdict]] = {}
    for verdict in dedupe(verdicts):
        if verdict.start is None:
            continue
        key = (verdict.probe_cc or "", verdict.probe_asn or 0, verdict.target)
        groups.setdefault(key, []).append(verdict)
    series = []
    for (cc, asn, target), members in sorted(groups.items()):
        members.sort(key=lambda v: (v.start, v.measurement_id))
        series.append(BlockingSeries(cc or None, asn or None, target, tuple(members)))
    return series


def dedupe(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """One verdict per OONI measurement (:attr:`Verdict.ooni_identity`): copies of it read from
    several files count once; copies that disagree become one inconclusive verdict."""
    found: dict[tuple[str, ...], Verdict] = {}
    for verdict in verdicts:
        key = verdict.ooni_identity
        first = found.get(key)
        if first is None:
            found[key] = verdict
        elif (first.status, first.method) != (verdict.status, verdict.method):
            why = inconclusive(
                "copies of one OONI measurement disagree "
                f"({first.status.value} in {first.measurement_id[:12]}, "
                f"{verdict.status.value} in {verdict.measurement_id[:12]})"
            )
            found[key] = replace(first, status=why.status, method=None, reason=why.reason, fingerprint=None)
    return list(found.values())


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
            run.append(verdict)
        elif verdict.status is Status.ACCESSIBLE and run and not _simultaneous(verdict, run[-1]):
            yield _event(series, run, verdict.start)
            run = []
    if run:
        yield _event(series, run, None)


def _simultaneous(one: Verdict, other: Verdict) -> bool:
    """Measured within ``SIMULTANEOUS`` of each other: contradicting evidence of one moment, which
    does not end an event (it is counted in it) nor split it in two."""
    assert one.start is not None and other.start is not None  # by make_series
    return abs(one.start - other.start) < SIMULTANEOUS


def _event(series: BlockingSeries, run: list[Verdict], end: datetime | None) -> BlockingEvent:
    first, last = run[0], run[-1]
    assert first.start is not None and last.start is not None and last.method is not None  # by make_series
    counts = Counter(v.method for v in run if v.method is not None)
    latest = series.verdicts[-1].start
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
        methods=tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0].value))),
        days=len({v.start.astimezone(UTC).date() for v in run if v.start is not None}),
        accessible=series.count(Status.ACCESSIBLE),
        series_measurements=len(series.verdicts),
        data_end=latest,
        explorer_urls=tuple(v.explorer_url or "" for v in run),
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
    """Every measurement with a start time matching the filter, oldest first, read page by page
    (:func:`lightsout.apps.stored.pages`)."""
    return pages(store.measurements, MeasurementFilter(country, asn, test_name, since, until, page_size))


def blocking_events(
    store: Store,
    country: str | None = None,
    asn: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[BlockingEvent]:
    """Blocking events of every stored app and website measurement matching the filter."""
    return make_events(stored_verdicts(store, country, asn, since, until))


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
