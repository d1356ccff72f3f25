"""Events as users ask for them: fused from the stored alerts on every read, so batch and online
runs, which write the same alerts, always show the same events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lightsout.detect.events import EventParams, make_events
from lightsout.model import Event, Scope
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
    data_end: dict[str, datetime] = {}
    for summary in store.series():
        end = summary.last + timedelta(seconds=summary.key.bin_s)
        previous = data_end.get(summary.key.entity_id)
        data_end[summary.key.entity_id] = end if previous is None else max(previous, end)
    events = make_events(store.alerts(), entities, data_end, params)
    return [e for e in events if event_matches(e, query)]


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
