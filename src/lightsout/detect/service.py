"""Events as users ask for them: fused from the stored alerts on every read, so batch and online
runs, which write the same alerts, always show the same events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lightsout.detect.events import EventParams, make_events
from lightsout.detect.noise import judge_events
from lightsout.model import Entity, Event, Scope, SeriesKey, SeriesSummary
from lightsout.store import Store


@dataclass(frozen=True, slots=True)
class EventFilter:
    country: str | None = None
    scope: Scope | None = None
    since: datetime | None = None  # events still going on at or after this time
    until: datetime | None = None  # events that started before this time
    entity_id: str | None = None


def list_events(
    store: Store, query: EventFilter | None = None, params: EventParams | None = None
) -> list[Event]:
    query = query or EventFilter()
    entities = {e.entity_id: e for e in store.entities()}
    alerts = store.alerts()
    # Events are made of the alerted entities and their ancestors (a cluster of counties becomes
    # its region's event): only their series matter, not every series of the store.
    summaries = store.series(entity_ids=with_ancestors({a.entity_id for a in alerts}, entities))

    def count_points(key: SeriesKey, start: datetime, end: datetime) -> int:
        return int(store.points(key, start, end).times_s.size)

    events = make_events(alerts, entities, data_ends(summaries), params, summaries, count_points)
    # judged against noise here, once, so the events list, API, feed, dashboard and statements agree
    events = judge_events(store, events, entities, alerts)
    return [e for e in events if event_matches(e, query)]


def with_ancestors(entity_ids: set[str], entities: dict[str, Entity]) -> set[str]:
    """``entity_ids`` and every entity above one of them."""
    out = set(entity_ids)
    for entity_id in entity_ids:
        entity = entities.get(entity_id)
        while entity is not None and entity.parent_id is not None and entity.parent_id not in out:
            out.add(entity.parent_id)
            entity = entities.get(entity.parent_id)
    return out


def data_ends(summaries: Iterable[SeriesSummary]) -> dict[str, datetime]:
    """Per entity, the end of its latest stored bin (an event reaching it is still going on)."""
    ends: dict[str, datetime] = {}
    for summary in summaries:
        entity_id = summary.key.entity_id
        ends[entity_id] = max(summary.end, ends.get(entity_id, summary.end))
    return ends


def event_matches(event: Event, query: EventFilter) -> bool:
    """Whether an event passes a filter (what ``list_events`` returns)."""
    if query.country and event.country_code != query.country:
        return False
    if query.scope and event.scope != query.scope:
        return False
    if query.entity_id and event.entity_id != query.entity_id:
        return False
    if query.since and event.end is not None and event.end <= query.since:
        return False
    return not (query.until and event.start >= query.until)
