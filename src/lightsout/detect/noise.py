"""How low a series ordinarily swings, so that words match depth *beyond noise* (docs/reporting.md).

A county whose connectivity index swings between 50 and 100 all week is not "affected" when it
touches 55% of its baseline during a hurricane: it does that every day. For each series the
**ordinary low** is ``100 x p5 / median`` of its values over the ``NOISE_DAYS`` before the event
(the whole series outside the event when there are fewer than ``MIN_BINS`` such bins). A level
is *beyond noise* when it is below ``NOISE_FACTOR`` x the ordinary low; a series that ordinarily
swings down to 67% must fall below 53% to count.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from lightsout.detect.events import confidence
from lightsout.detect.policy import POLICIES
from lightsout.model import Alert, Entity, Event, EventKind, SeriesSummary, SignalEvidence, SignalKind
from lightsout.store import Store

SeriesId = tuple[str, SignalKind, str, int]  # entity, signal, source, bin seconds

NOISE_DAYS = 7
MIN_BINS = 24
NOISE_FACTOR = 0.8
LOW_PERCENTILE = 5.0


def ordinary_low_pct(values: np.ndarray) -> float | None:
    """100 x (5th percentile / median) of ``values``; None when there is no positive median."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return None
    median = float(np.median(finite))
    if median <= 0:
        return None
    return 100.0 * float(np.percentile(finite, LOW_PERCENTILE)) / median


def beyond_noise(level_pct: float, low_pct: float | None) -> bool:
    """Whether ``level_pct`` is a fall beyond the series' ordinary swing (True when unknown)."""
    return low_pct is None or level_pct < NOISE_FACTOR * low_pct


def noise_floors(
    store: Store,
    entity_ids: Iterable[str],
    signals: set[SignalKind],
    start: datetime,
    end: datetime | None,
    catalogue: Mapping[str, list[SeriesSummary]] | None = None,
    alerted: Callable[[], Mapping[SeriesId, np.ndarray]] | None = None,
) -> dict[str, float]:
    """The ordinary low (% of median) per entity, of its first stored series of one of ``signals``,
    measured before ``start`` (see the module docstring); entities without one are left out.
    ``alerted``: gives :func:`alerted_times` of the store's alerts (called only for a short
    history; the caller's cached copy when it has the alerts already)."""
    floors: dict[str, float] = {}
    ids = list(dict.fromkeys(entity_ids))
    if alerted is None:  # only these entities' alerted bins are looked up
        alerted = functools.cache(lambda: alerted_times(store.alerts(entity_ids=ids)))
    by_entity: Mapping[str, list[SeriesSummary]] = catalogue or {}
    read_all = catalogue is not None or len(ids) > 3
    if catalogue is None and read_all:  # one read of their summaries costs about three per-entity ones
        by_entity = _catalogue(store, ids)
    for entity_id in ids:
        found = by_entity.get(entity_id, []) if read_all else store.series(entity_id)
        summaries = [s for s in found if s.key.signal in signals]
        if not summaries:
            continue
        key = min(summaries, key=lambda s: (s.key.signal.value, s.key.source, s.key.bin_s)).key
        before = store.points(key, since=start - timedelta(days=NOISE_DAYS), until=start).values
        if before.size < MIN_BINS:
            # a short history: the series' bins outside the event, less every bin the detector judged
            # out of the ordinary (another cut of the same series is not its ordinary swing)
            whole = store.points(key)
            start_s = start.timestamp()
            end_s = end.timestamp() if end is not None else float("inf")
            outside = (whole.times_s < start_s) | (whole.times_s >= end_s)
            flagged = alerted().get((key.entity_id, key.signal, key.source, key.bin_s))
            if flagged is not None:
                outside &= ~np.isin(np.asarray(whole.times_s, dtype=np.int64), flagged)
            before = whole.values[outside]
        low = ordinary_low_pct(before)
        if low is not None:
            floors[entity_id] = low
    return floors


def alerted_times(alerts: Iterable[Alert]) -> dict[SeriesId, np.ndarray]:
    """Every alerted bin's start (epoch seconds) per series (entity, signal, source, bin)."""
    found: dict[SeriesId, list[int]] = {}
    for alert in alerts:
        key = (alert.entity_id, alert.signal, alert.source, alert.bin_s)
        found.setdefault(key, []).append(int(alert.bin_start.timestamp()))
    return {key: np.array(times, dtype=np.int64) for key, times in found.items()}


def _catalogue(store: Store, entity_ids: Collection[str]) -> dict[str, list[SeriesSummary]]:
    """The series summaries of ``entity_ids``, per entity."""
    by_entity: dict[str, list[SeriesSummary]] = {}
    for summary in store.series(entity_ids=entity_ids):
        by_entity.setdefault(summary.key.entity_id, []).append(summary)
    return by_entity


def event_noise(
    store: Store,
    event: Event,
    catalogue: Mapping[str, list[SeriesSummary]] | None = None,
    alerted: Callable[[], Mapping[SeriesId, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Ordinary lows of the event's entity and of every alerted sub-entity, for its signals, measured
    before the detector's start of the event: the first alerted bin of any of them (a judged event's
    own start may be later, that of the sub-entities beyond noise, and must not move the window)."""
    signals = {e.signal for e in event.evidence} or {SignalKind.CONNECTIVITY_INDEX}
    start, end = alerted_span(event)
    ids = [event.entity_id, *(a.entity_id for a in (*event.affected, *event.not_counted))]
    return noise_floors(store, ids, signals, start, end, catalogue, alerted)


def alerted_span(event: Event) -> tuple[datetime, datetime | None]:
    """The start and end of the event as the detector fused it, over every alerted sub-entity."""
    alerted = (*event.affected, *event.not_counted)
    start = min([event.start, *(a.start for a in alerted)])
    ends = [event.end, *(a.end for a in alerted)]
    return start, None if any(e is None for e in ends) else max(e for e in ends if e is not None)


@dataclass(frozen=True, slots=True)
class KeptLevels:
    """An event's levels recomputed over the affected sub-entities whose fall is beyond noise."""

    mean_level_pct: float
    min_level_pct: float
    evidence: tuple[SignalEvidence, ...]
    entity_ids: tuple[str, ...]  # the sub-entities they are averaged over
    start: datetime  # their first alerted bin
    end: datetime | None  # the end of their last alerted bin; None while one goes on at the data's end


def kept_levels(store: Store, event: Event, noise: Mapping[str, float]) -> KeptLevels | None:
    """For an event seen only in its sub-entities (counties clustered into a region's event), its
    mean and lowest level, start and end, over the alerted bins of only those sub-entities whose own
    fall is beyond their ordinary swing: the detector averages over every alerted county, and the
    statement must not call a level of 34 counties the level of the 16 it names. None when nothing
    is left out or nothing is kept (the detector's levels stand)."""
    kept = [a.entity_id for a in event.affected if beyond_noise(100 * a.min_ratio, noise.get(a.entity_id))]
    if not kept or len(kept) == len(event.affected):
        return None
    wanted = {(e.signal, e.source, e.bin_s) for e in event.evidence}
    ids = set(kept)
    alerts = [
        a
        for a in store.alerts(since=event.start, until=event.end, entity_ids=ids)
        if a.entity_id in ids
        and (a.signal, a.source, a.bin_s) in wanted
        and a.bin_start >= event.start
        and (event.end is None or a.bin_start < event.end)
    ]
    primary = [a for a in alerts if POLICIES[a.signal].outage] or alerts
    if not primary:
        return None
    groups: dict[tuple[SignalKind, str, int], list[Alert]] = {}
    for a in alerts:
        groups.setdefault((a.signal, a.source, a.bin_s), []).append(a)
    evidence = tuple(
        sorted(
            (_evidence(group) for group in groups.values()),
            key=lambda e: e.signal.value,
        )
    )
    ongoing = event.end is None and any(a.end is None for a in event.affected if a.entity_id in ids)
    return KeptLevels(
        round(100.0 * statistics.fmean(a.ratio for a in primary), 1),
        round(100.0 * min(a.ratio for a in primary), 1),
        evidence,
        tuple(kept),
        min(a.bin_start for a in alerts),
        None if ongoing else max(a.bin_start + timedelta(seconds=a.bin_s) for a in alerts),
    )


def _evidence(group: list[Alert]) -> SignalEvidence:
    ratios = [a.ratio for a in group]
    times = [a.bin_start for a in group]
    first = group[0]
    return SignalEvidence(first.signal, first.source, first.bin_s, len(group), statistics.fmean(ratios),
                          min(ratios), min(times), max(times))  # fmt: skip


def judge(
    event: Event,
    own_alerts: bool,
    noise: Mapping[str, float],
    kept: KeptLevels | None,
    entities: Mapping[str, Entity],
) -> Event:
    """The event as every output publishes it (events list, API, feed, dashboard, statement): the
    one judgement of its depth against noise. Its ``affected`` are only the alerted sub-entities
    whose fall is beyond their own ordinary swing (the others go to ``not_counted``);
    ``within_noise`` says its fall stays within ordinary variation - its own series' (an event whose
    entity alerted) or, for an event seen only in sub-entities, that none of them fell beyond its
    own. When an event seen only in sub-entities keeps some and leaves others out, its levels,
    evidence, start and end are those of the kept ones alone (``kept``: :func:`kept_levels`).
    ``noise``: :func:`event_noise`; empty leaves the event as it is. Judging a judged event again
    changes nothing."""
    if event.kind != EventKind.OUTAGE or not noise:
        return event
    alerted = (*event.affected, *event.not_counted)
    keep = tuple(a for a in alerted if beyond_noise(100 * a.min_ratio, noise.get(a.entity_id)))
    dropped = tuple(a for a in alerted if a not in keep)
    if not own_alerts and alerted and not keep:  # a dip of sub-entities, each within its own swing
        return replace(event, affected=(), affected_children=0, not_counted=dropped, within_noise=True)
    within = not beyond_noise(event.min_level_pct, noise.get(event.entity_id))
    before = event
    if dropped:
        parents = {a.entity_id: entities[a.entity_id].parent_id for a in keep if a.entity_id in entities}
        children = sum(1 for a in keep if parents.get(a.entity_id) == event.entity_id)
        event = replace(event, affected=keep, affected_children=children, not_counted=dropped)
    if not own_alerts and keep:
        # the levels are the kept sub-entities' own (each beyond its own swing), not all alerted ones'
        within = False
        if dropped and kept is not None:
            event = replace(event, mean_level_pct=kept.mean_level_pct, min_level_pct=kept.min_level_pct,
                            evidence=kept.evidence, start=kept.start, end=kept.end)  # fmt: skip
    if dropped:
        event = rescored(before, event)
    return replace(event, within_noise=within)


def rescored(before: Event, after: Event) -> Event:
    """``after``'s confidence when the judgement changed what an event counts: depth x persistence
    x breadth (:func:`lightsout.detect.events.confidence`) of the kept sub-entities and evidence,
    times the factors fusion gave ``before`` (signals' agreement, history: ``fusion_factor``, which
    fusion records), which the judgement does not change; the reason that states the product is
    rewritten to match."""
    new = confidence(after.evidence, after.affected_children, after.affected_of)
    prefix = "depth x persistence x breadth = "
    reasons = tuple(
        f"{prefix}{new:.2f}" if reason.startswith(prefix) else reason for reason in after.confidence_reasons
    )
    return replace(
        after, confidence=round(min(1.0, new * before.fusion_factor), 3), confidence_reasons=reasons
    )


def events_with_own_alerts(store: Store, events: list[Event], alerts: list[Alert] | None = None) -> set[str]:
    """Ids of the events whose entity's own series alerted during them. The others were seen only in
    sub-entities (county spans clustered into a regional event): their level is the sub-entities'.
    ``alerts``: the store's alerts when the caller has them already."""
    wanted = {event.entity_id for event in events}
    by_entity: dict[str, list[int]] = {}
    stamps: dict[datetime, int] = {}  # alerts share their bin starts: one conversion per distinct one
    for alert in store.alerts(entity_ids=wanted) if alerts is None else alerts:
        if alert.entity_id in wanted:
            stamp = stamps.get(alert.bin_start)
            if stamp is None:
                stamp = stamps[alert.bin_start] = int(alert.bin_start.timestamp())
            by_entity.setdefault(alert.entity_id, []).append(stamp)
    found = set()
    for event in events:
        times = np.sort(np.array(by_entity.get(event.entity_id, []), dtype=np.int64))
        end = int(event.end.timestamp()) if event.end is not None else np.iinfo(np.int64).max
        first = int(np.searchsorted(times, int(event.start.timestamp())))
        if first < times.size and times[first] < end:
            found.add(event.event_id)
    return found


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the judgement of one event against noise measured (:func:`judge_events`): a statement or
    page about the event uses it instead of measuring the same again."""

    own_alerts: bool  # the event's entity alerted itself (:func:`events_with_own_alerts`)
    noise: dict[str, float]  # :func:`event_noise`
    kept: KeptLevels | None  # :func:`kept_levels` (None for an event whose entity alerted)


def judge_events(
    store: Store,
    events: list[Event],
    entities: Mapping[str, Entity],
    alerts: list[Alert] | None = None,
    judgements: dict[str, Judgement] | None = None,
) -> list[Event]:
    """Every event judged against noise (:func:`judge`) with the store's series: what
    ``list_events`` returns, so that every output states the same affected list, level and times.
    Only outages listing sub-entities are measured (the judgement changes no other event's numbers);
    ``judgements``, when given, receives what was measured for each of them, by event id."""
    alerts = store.alerts() if alerts is None else alerts
    own = events_with_own_alerts(store, events, alerts)
    judged = []
    measured = [e for e in events if e.kind == EventKind.OUTAGE and (e.affected or e.not_counted)]
    # the series of every entity measured, read once if needed; the alerted bins, likewise
    ids = {i for e in measured for i in (e.entity_id, *(a.entity_id for a in (*e.affected, *e.not_counted)))}
    catalogue = _catalogue(store, ids) if measured else {}
    alerted = functools.cache(lambda: alerted_times(alerts))
    for event in events:
        if event.kind == EventKind.OUTAGE and (event.affected or event.not_counted):
            noise = event_noise(store, event, catalogue, alerted)
            is_own = event.event_id in own
            kept = None if is_own else kept_levels(store, event, noise)
            event = judge(event, is_own, noise, kept, entities)
            if judgements is not None:
                judgements[event.event_id] = Judgement(is_own, noise, kept)
        judged.append(event)
    return judged
