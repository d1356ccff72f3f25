"""What a report needs from the store, and every signal normalised to its ordinary level.

The store keeps ``value``, ``baseline`` and ``ratio`` only for alerted bins. To draw a signal as
"% of ordinary" over its whole span, :func:`normalise` replays the detector's own
:class:`~lightsout.detect.seasonal.SeasonalBank` over the stored series, from its first bin and
with the same parameters as ``lightsout detect``: every bin gets the baseline the detector saw
(inpainted, so an outage never lowers it), and on the alerted bins it is exactly the stored
alert's baseline. Bins of the warm-up (fewer than ``min_days`` days of history) have no baseline
and are not drawn as a level: no ordinary level is known there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from lightsout.detect.noise import Judgement, KeptLevels, beyond_noise, event_noise, kept_levels
from lightsout.detect.noise import events_with_own_alerts as events_with_own_alerts
from lightsout.detect.policy import POLICIES
from lightsout.detect.seasonal import BaselineParams, SeasonalBank
from lightsout.detect.service import list_events
from lightsout.errors import UserError
from lightsout.model import Entity, Event, SeriesKey, SeriesSummary, SignalKind, SourceFile
from lightsout.store import Store, TimeSeries

IngestState = tuple[int, datetime | None]  # Store.ingest_state(): (source records, newest ingest)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Order in which an entity's signals are listed and drawn: reachability first.
SIGNAL_ORDER = [
    SignalKind.CONNECTIVITY_INDEX,
    SignalKind.RESPONSIVE_ADDRESSES,
    SignalKind.PROBING_UP_SLASH24S,
    SignalKind.BGP_SLASH24S,
    SignalKind.BGP_PREFIXES,
    SignalKind.LATENCY_INDEX,
    SignalKind.MEDIAN_RTT_MS,
]


@dataclass(frozen=True, slots=True)
class NormalisedSeries:
    """A stored series with the detector's baseline for every bin (NaN during the warm-up)."""

    key: SeriesKey
    times_s: IntArray
    values: FloatArray
    baselines: FloatArray

    @property
    def level_pct(self) -> FloatArray:
        """100 x value / baseline; NaN where there is no value or no positive baseline."""
        with np.errstate(divide="ignore", invalid="ignore"):
            level = np.where(self.baselines > 0, 100.0 * self.values / self.baselines, np.nan)
        return np.asarray(level, dtype=np.float64)

    def window(self, start_s: int, end_s: int) -> NormalisedSeries:
        """The bins starting in ``[start_s, end_s)``."""
        keep = (self.times_s >= start_s) & (self.times_s < end_s)
        return NormalisedSeries(self.key, self.times_s[keep], self.values[keep], self.baselines[keep])


def normalise(series: TimeSeries, params: BaselineParams | None = None) -> NormalisedSeries:
    """Replay the detector over ``series`` (from its first bin) and keep each bin's baseline."""
    key = series.key
    baselines = np.full(series.values.size, np.nan)
    policy = POLICIES.get(key.signal)
    if policy is not None and series.values.size:
        bank = SeasonalBank(1, key.bin_s, policy, params)
        for i, (time_s, value) in enumerate(zip(series.times_s, series.values, strict=True)):
            result = bank.step(int(time_s), np.array([value], dtype=np.float64))
            baselines[i] = result.baselines[0]
    return NormalisedSeries(key, series.times_s, series.values, baselines)


def signal_rank(key: SeriesKey) -> tuple[int, str, int]:
    order = SIGNAL_ORDER.index(key.signal) if key.signal in SIGNAL_ORDER else len(SIGNAL_ORDER)
    return (order, key.source, key.bin_s)


def data_end(summaries: list[SeriesSummary]) -> datetime | None:
    """End of the last stored bin over ``summaries``."""
    ends = [s.end for s in summaries]
    return max(ends) if ends else None


@dataclass(frozen=True, slots=True)
class EntityContext:
    """An entity with its normalised signals, its events and the events that list it as affected."""

    entity: Entity
    entities: dict[str, Entity]
    summaries: list[SeriesSummary]
    series: list[NormalisedSeries]
    events: list[Event]  # events of the entity itself
    affecting: list[Event]  # events of an ancestor that list this entity as affected
    data_end: datetime | None
    ingest_state: IngestState  # Store.ingest_state() when read (never every source record)


@dataclass(frozen=True, slots=True)
class EventContext:
    """An event with everything its statement and chart need."""

    event: Event
    entity: Entity | None
    entities: dict[str, Entity]
    series: list[NormalisedSeries]
    entity_events: list[Event]  # every event of the same entity (the chart shades them)
    data_end: datetime | None
    ingest_state: IngestState  # Store.ingest_state() when read (never every source record)
    own_alerts: bool = True  # False: only sub-entities alerted (counties clustered into a region's event)
    sub_series: list[NormalisedSeries] = field(default_factory=list)  # their series, when own_alerts is False
    files: list[SourceFile] = field(default_factory=list)  # the files the event's numbers come from
    noise: dict[str, float] = field(default_factory=dict)  # ordinary low % per entity (detect.noise)
    kept: KeptLevels | None = None  # levels of the sub-entities beyond noise alone (detect.noise)


MAX_SUB_SERIES = 8  # sub-entity series drawn for an event seen only in its sub-entities


class NormaliseCache:
    """Normalised series kept between requests of a server (least recently used dropped first).

    A series is only ever changed by an ingest, and every ingest adds a row to the store's sources
    table, so (series summary, number of files, last ingest time) names one state of the series
    (``Store.ingest_state()``: two aggregates, not the ledger's millions of rows).
    """

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[object, ...], NormalisedSeries] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: Store, summary: SeriesSummary, state: IngestState) -> NormalisedSeries:
        key = (summary, *state)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        value = normalise(store.points(summary.key))
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value


def _normalised(
    store: Store, summaries: list[SeriesSummary], state: IngestState, cache: NormaliseCache | None
) -> list[NormalisedSeries]:
    ordered = sorted(summaries, key=lambda s: signal_rank(s.key))
    if cache is None:
        return [normalise(store.points(s.key)) for s in ordered]
    return [cache.get(store, s, state) for s in ordered]


def find_event(events: list[Event], event_id: str) -> Event:
    """The event with this id, or the only one whose id starts with it."""
    exact = [e for e in events if e.event_id == event_id]
    if exact:
        return exact[0]
    matches = [e for e in events if event_id and e.event_id.startswith(event_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"event id {event_id!r} is ambiguous: {', '.join(e.event_id for e in matches[:5])}")
    raise UserError(f"no event {event_id!r}; `lightsout events --format csv` lists event ids")


def _affected_series(
    store: Store, event: Event, state: IngestState, cache: NormaliseCache | None
) -> list[NormalisedSeries]:
    """The deepest affected sub-entities' series of the event's signal, at most MAX_SUB_SERIES."""
    signals = {e.signal for e in event.evidence}
    chosen: list[SeriesSummary] = []
    for affected in sorted(event.affected, key=lambda a: (a.min_ratio, a.name)):
        candidates = [s for s in store.series(affected.entity_id) if s.key.signal in signals]
        if candidates:
            chosen.append(min(candidates, key=lambda s: signal_rank(s.key)))
        if len(chosen) == MAX_SUB_SERIES:
            break
    if cache is None:
        return [normalise(store.points(s.key)) for s in chosen]
    return [cache.get(store, s, state) for s in chosen]


def event_files(
    store: Store, event: Event, own_alerts: bool = True, params: BaselineParams | None = None
) -> list[SourceFile]:
    """Exactly the ingested files that wrote bins of the event's evidence series (the entity's own, or
    its affected sub-entities' when only they alerted) between the start of the baseline window
    (``params.days`` before the event) and the event's end: the files its numbers come from.

    A store whose files were ingested before provenance was recorded has no answer: []."""
    days = (params or BaselineParams()).days
    wanted = {(e.signal, e.source, e.bin_s) for e in event.evidence}
    # every sub-entity that alerted, also those whose fall stayed within their own swing (not_counted)
    owners = [event.entity_id] if own_alerts else [a.entity_id for a in (*event.affected, *event.not_counted)]
    keys = [
        s.key
        for owner in owners
        for s in store.series(owner)
        if (s.key.signal, s.key.source, s.key.bin_s) in wanted
    ]
    start = event.start - timedelta(days=days)
    end = event.end
    rows = [r for r in store.file_series(keys) if r.last >= start and (end is None or r.first < end)]
    chosen = dict.fromkeys(r.sha256 for r in rows)
    by_sha = {f.sha256: f for f in store.sources_by_sha(chosen)}
    return [by_sha[sha] for sha in chosen if sha in by_sha]


def event_judgement(
    store: Store, event: Event, judgements: Mapping[str, Judgement] | None = None
) -> Judgement:
    """What the judgement against noise measured for ``event``: ``list_events``'s own (its
    ``judgements``), else (an event it did not measure, or none given) measured now the same way."""
    found = judgements.get(event.event_id) if judgements else None
    if found is not None:
        return found
    own = event.event_id in events_with_own_alerts(store, [event])
    noise = event_noise(store, event)
    return Judgement(own, noise, None if own else kept_levels(store, event, noise))


def load_event_context(
    store: Store,
    event_id: str,
    events: list[Event] | None = None,
    cache: NormaliseCache | None = None,
    judgements: Mapping[str, Judgement] | None = None,
) -> EventContext:
    """Read the event (by id or unique id prefix) and what its report shows. ``judgements``: what
    ``list_events`` measured when it made ``events`` (without ``events``, it is made here)."""
    if events is None:
        made: dict[str, Judgement] = {}
        events, judgements = list_events(store, judgements=made), made
    all_events = events
    event = find_event(all_events, event_id)
    entities = {e.entity_id: e for e in store.entities()}
    summaries = store.series(event.entity_id)
    state = store.ingest_state()
    judged = event_judgement(store, event, judgements)
    own, noise = judged.own_alerts, judged.noise
    # the sub-entities drawn: those whose fall is beyond their own ordinary swing (detect.noise)
    alerted = (*event.affected, *event.not_counted)
    beyond = [a for a in alerted if beyond_noise(100 * a.min_ratio, noise.get(a.entity_id))]
    drawn = replace(event, affected=tuple(beyond or alerted))
    sub_series = [] if own else _affected_series(store, drawn, state, cache)
    ends = [s.times_s[-1] + s.key.bin_s for s in sub_series if s.times_s.size]
    end = data_end(summaries)
    if end is None and ends:
        end = datetime.fromtimestamp(int(max(ends)), UTC)
    return EventContext(
        event=event,
        entity=entities.get(event.entity_id),
        entities=entities,
        series=_normalised(store, summaries, state, cache),
        entity_events=[e for e in all_events if e.entity_id == event.entity_id],
        data_end=end,
        ingest_state=state,
        own_alerts=own,
        sub_series=sub_series,
        files=event_files(store, event, own),
        noise=noise,
        kept=judged.kept,
    )


def load_entity_context(
    store: Store,
    entity_id: str,
    events: list[Event] | None = None,
    cache: NormaliseCache | None = None,
    with_series: bool = True,
    entities: dict[str, Entity] | None = None,
) -> EntityContext:
    """Read an entity, its events and (unless ``with_series`` is false) its normalised signals.
    ``entities``: every entity of the store, when the caller has read them already."""
    entity = store.entity(entity_id)
    if entity is None:
        raise UserError(f"no entity {entity_id!r} in the store")
    all_events = events if events is not None else list_events(store)
    entities = entities if entities is not None else {e.entity_id: e for e in store.entities()}
    summaries = store.series(entity_id)
    state = store.ingest_state()
    return EntityContext(
        entity=entity,
        entities=entities,
        summaries=sorted(summaries, key=lambda s: signal_rank(s.key)),
        series=_normalised(store, summaries, state, cache) if with_series else [],
        events=[e for e in all_events if e.entity_id == entity_id],
        affecting=[
            e
            for e in all_events
            if e.entity_id != entity_id and any(a.entity_id == entity_id for a in e.affected)
        ],
        data_end=data_end(summaries),
        ingest_state=state,
    )


def epoch_s(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())
