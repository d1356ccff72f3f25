"""Events as users ask for them: fused from the stored alerts on every read, so batch and online
runs, which write the same alerts, always show the same events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from lightsout.detect.events import EventParams, make_events
from lightsout.detect.noise import Judgement, judge_events
from lightsout.model import Alert, Entity, EntityKind, Event, Scope, SeriesKey, SeriesSummary
from lightsout.store import Store


@dataclass(frozen=True, slots=True)
class EventFilter:
    country: str | None = None
    scope: Scope | None = None
    since: datetime | None = None  # events still going on at or after this time
    until: datetime | None = None  # events that started before this time
    entity_id: str | None = None


def list_events(
    store: Store,
    query: EventFilter | None = None,
    params: EventParams | None = None,
    judgements: dict[str, Judgement] | None = None,
) -> list[Event]:
    """Every event of the store passing ``query``. ``judgements``, when given, receives what the
    judgement against noise measured for each event it measured (detect.noise.judge_events)."""
    query = query or EventFilter()
    alerts = store.alerts()
    entities = entities_for(store, {a.entity_id for a in alerts})
    events = fused_events(store, entities, alerts, params, judgements)
    return [e for e in events if event_matches(e, query)]


def entities_for(store: Store, entity_ids: set[str]) -> dict[str, Entity]:
    """What fusing the alerts of ``entity_ids`` reads of the entities: those entities, their
    ancestors (whose spans absorb theirs, whose clusters gather them) and the children of all of
    them (an event's breadth is a share of its entity's children), read by id and parent rather
    than all of them (the alerts of a 74,000-entity store name a few hundred)."""
    found: dict[str, Entity] = {}
    wanted = set(entity_ids)
    while wanted:  # a level of parents at a time
        read = store.entities(entity_ids=wanted)
        found.update((e.entity_id, e) for e in read)
        wanted = {e.parent_id for e in read if e.parent_id is not None} - found.keys()
    for child in store.entities(parent_ids=set(found)):
        found.setdefault(child.entity_id, child)
    return found


def events_touching(
    store: Store, entity_id: str, params: EventParams | None = None, entities: dict[str, Entity] | None = None
) -> list[Event]:
    """The events of every entity in :func:`touching` ``entity_id``: exactly those of
    ``list_events(store)`` (same order), computed from those entities' alerts alone. A page about one
    entity (its events, the events of its ancestors that list it, the events inside it) needs no
    other; on IODA's 74,000 entities it reads 1% of the alerts (bench/bench_events.py).

    Why the result is the same: an entity's events are made of its own alerts, those of the
    entities below it (folded or clustered into its spans) and those above it (that absorb its
    spans), every link a ``parent_id`` (detect.events); recurrence, intermittence and the noise
    judgement work per entity or per event, reading the store for its series. So events depend on
    no alert outside their entity's tree of parent links, and :func:`touching` returns whole trees."""
    entities = entities if entities is not None else entities_touching(store, entity_id)
    ids = touching(entity_id, entities)
    return fused_events(store, entities, store.alerts(entity_ids=ids), params)


def entities_touching(store: Store, entity_id: str) -> dict[str, Entity]:
    """The entities of :func:`touching` ``entity_id``, read from the store without reading every
    entity: up its parent links one by one, then down from the tops a level at a time
    (``Store.entities(parent_ids=...)``). Given to :func:`touching` in place of every entity, it
    gives the same set, so :func:`events_touching` may fuse with it alone: every parent link of an
    entity in it stays inside it."""
    page = store.entity(entity_id)
    if page is None:
        return {}
    found = {entity_id: page}
    starts = [page]
    if page.kind == EntityKind.COUNTRY:
        starts += store.entities(kind=EntityKind.NETWORK, country=page.country_code)
    tops: dict[str, Entity] = {}
    for start in starts:
        if start.entity_id in tops:
            continue
        top, seen = start, {start.entity_id}
        while top.parent_id is not None and top.parent_id not in seen:
            parent = found.get(top.parent_id) or tops.get(top.parent_id) or store.entity(top.parent_id)
            if parent is None:
                break
            top = parent
            seen.add(top.entity_id)
        tops[top.entity_id] = top
    found.update(tops)
    frontier = set(tops)
    below: set[str] = set()
    while frontier:
        below |= frontier
        children = store.entities(parent_ids=frontier)
        found.update((child.entity_id, child) for child in children)
        frontier = {child.entity_id for child in children} - below
    return found


def fused_events(
    store: Store,
    entities: dict[str, Entity],
    alerts: list[Alert],
    params: EventParams | None = None,
    judgements: dict[str, Judgement] | None = None,
) -> list[Event]:
    """``alerts`` fused into events and judged against noise, with the series the store holds."""
    # Events are made of the alerted entities and their ancestors (a cluster of counties becomes
    # its region's event): only their series matter, not every series of the store.
    summaries = store.series(entity_ids=with_ancestors({a.entity_id for a in alerts}, entities))

    def count_points(key: SeriesKey, start: datetime, end: datetime) -> int:
        return int(store.points(key, start, end).times_s.size)

    events = make_events(alerts, entities, data_ends(summaries), params, summaries, count_points)
    # judged against noise here, once, so the events list, API, feed, dashboard and statements agree
    return judge_events(store, events, entities, alerts, judgements)


def touching(entity_id: str, entities: dict[str, Entity]) -> set[str]:
    """The entities whose events a page about ``entity_id`` can show: every entity of its tree of
    ``parent_id`` links (its ancestors, their descendants), and for a country, also the trees of
    the networks placed in it by country code (listed inside it even without a parent link)."""
    children: dict[str, list[str]] = {}
    for entity in entities.values():
        if entity.parent_id is not None and entity.parent_id in entities:
            children.setdefault(entity.parent_id, []).append(entity.entity_id)
    starts = [entity_id]
    page = entities.get(entity_id)
    if page is not None and page.kind == EntityKind.COUNTRY:
        starts += [
            e.entity_id
            for e in entities.values()
            if e.kind == EntityKind.NETWORK and e.country_code == page.country_code
        ]
    found: set[str] = set()
    for start in starts:
        if start in found:
            continue
        top, seen = start, {start}  # the top of its tree (a loop of parent links stops anywhere on it)
        while True:
            parent = entities[top].parent_id if top in entities else None
            if parent is None or parent not in entities or parent in seen:
                break
            top = parent
            seen.add(top)
        stack = [top]
        while stack:  # the tree below the top: with a loop, the loop and everything hanging from it
            node = stack.pop()
            if node not in found:
                found.add(node)
                stack.extend(children.get(node, ()))
    return found


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
