"""Read endpoints: entities, signals, events, app and website blocking, status. Public, GET only."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Path, Query, Request

from lightsout.api.access import StoreAccess
from lightsout.api.blocking import BlockingItem, select_blocking
from lightsout.api.downsample import METHOD, downsample
from lightsout.api.errors import ApiError
from lightsout.api.params import TIME_HELP, parse_country, parse_range
from lightsout.api.schemas import (
    CountMeta,
    DownsampledSeries,
    EntityDetail,
    EntityStatus,
    Envelope,
    ErrorEnvelope,
    ListMeta,
    OngoingEvent,
    SignalsMeta,
)
from lightsout.api.state import store_access
from lightsout.detect.service import EventFilter
from lightsout.detect.service import event_matches as service_event_matches
from lightsout.model import Entity, EntityKind, Event, EventKind, Scope, SignalKind
from lightsout.report.words import is_live

router = APIRouter(
    responses={
        400: {"model": ErrorEnvelope, "description": "A bad parameter"},
        404: {"model": ErrorEnvelope, "description": "Nothing with this id"},
        503: {"model": ErrorEnvelope, "description": "Every store connection busy"},
    }
)

Access = Annotated[StoreAccess, Depends(store_access)]
Country = Annotated[str | None, Query(description="ISO 3166-1 alpha-2 or alpha-3 code.", max_length=3)]
Since = Annotated[str | None, Query(description=TIME_HELP, max_length=64)]
Until = Annotated[str | None, Query(description=TIME_HELP + " Exclusive.", max_length=64)]
Limit = Annotated[int, Query(ge=1, le=100_000, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Skip this many items first.")]
EntityId = Annotated[str, Query(min_length=1, max_length=300, description="An entity_id, e.g. country/VE.")]


def _no_entity(entity_id: str, parameter: str) -> ApiError:
    return ApiError(
        404,
        f"no entity {entity_id[:300]!r}; ids look like country/VE (GET /api/v1/entities lists them)",
        parameter,
    )


@router.get("", summary="What the API offers: its endpoints, each with its summary")
def api_index(request: Request) -> dict[str, Any]:
    """``GET /api/v1``: every endpoint under it (method, path, summary), and where the schema is."""
    prefix = request.url.path.rstrip("/")
    paths = request.app.openapi().get("paths", {})
    endpoints = [
        {"method": method.upper(), "path": path, "summary": operation.get("summary", "")}
        for path, operations in sorted(paths.items())
        if path.startswith(prefix + "/")
        for method, operation in sorted(operations.items())
    ]
    return {
        "data": {"endpoints": endpoints, "openapi": "/openapi.json", "docs": "docs/api.md"},
        "meta": {"count": len(endpoints)},
    }


@router.get("/entities", summary="Countries, regions, counties and networks")
def list_entities(
    access: Access,
    kind: Annotated[EntityKind | None, Query()] = None,
    country: Country = None,
    parent: Annotated[
        str | None, Query(max_length=300, description="Only direct sub-entities of this entity_id.")
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Envelope[list[Entity], ListMeta]:
    alpha2 = parse_country(country)
    with access.reading() as store:
        rows = access.entities(store).select(kind, alpha2, parent)
    page = rows[offset : offset + limit]
    return Envelope(data=page, meta=ListMeta(count=len(page), total=len(rows), limit=limit, offset=offset))


@router.get("/entities/{entity_id:path}", summary="One entity, its series and sub-entities")
def get_entity(
    access: Access,
    entity_id: Annotated[str, Path(max_length=300, description="e.g. country/VE, region/IR-23")],
) -> Envelope[EntityDetail, CountMeta]:
    with access.reading() as store:
        index = access.entities(store)
        catalogue = access.catalogue(store)
    entity = index.by_id.get(entity_id)
    if entity is None:
        raise _no_entity(entity_id, "entity_id")
    series = catalogue.get(entity_id, [])
    children = [child.entity_id for child in index.children.get(entity_id, [])]
    return Envelope(
        data=EntityDetail(entity=entity, series=series, children=children), meta=CountMeta(count=len(series))
    )


def _nullable(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


@router.get("/signals", summary="An entity's series over a time range, downsampled when long")
def get_signals(
    access: Access,
    entity: EntityId,
    signal: Annotated[SignalKind | None, Query(description="Only this signal (default: all).")] = None,
    source: Annotated[str | None, Query(max_length=100, description="Only this source, e.g. monash.")] = None,
    since: Since = None,
    until: Until = None,
    max_points: Annotated[
        int, Query(ge=1, le=100_000, description="At most this many buckets per series; " + METHOD + ".")
    ] = 2000,
) -> Envelope[list[DownsampledSeries], SignalsMeta]:
    start, end = parse_range(since, until)
    out: list[DownsampledSeries] = []
    with access.reading() as store:
        if entity not in access.entities(store).by_id:
            raise _no_entity(entity, "entity")
        for summary in access.catalogue(store).get(entity, []):
            key = summary.key
            if (signal is not None and key.signal != signal) or (source is not None and key.source != source):
                continue
            series = store.points(key, start, end)
            buckets = downsample(series, max_points)
            out.append(
                DownsampledSeries(
                    entity_id=key.entity_id,
                    signal=key.signal,
                    source=key.source,
                    bin_s=key.bin_s,
                    bucket_s=buckets.bucket_s,
                    downsampled=buckets.downsampled,
                    stored_points=int(series.times_s.size),
                    times_s=buckets.times_s.tolist(),
                    mean=_nullable(buckets.mean),
                    min=_nullable(buckets.min),
                    max=_nullable(buckets.max),
                    counts=buckets.counts.tolist(),
                )
            )
    meta = SignalsMeta(entity_id=entity, since=start, until=end, max_points=max_points, method=METHOD)
    return Envelope(data=out, meta=meta)


def event_matches(event: Event, query: EventFilter, kind: EventKind | None = None) -> bool:
    """``EventFilter``'s meaning (as in ``list_events``), plus the event kind."""
    return service_event_matches(event, query) and (kind is None or event.kind == kind)


class EventQuery:
    """The filters shared by /events and /export/events.csv."""

    def __init__(
        self,
        country: Country = None,
        scope: Annotated[Scope | None, Query()] = None,
        kind: Annotated[EventKind | None, Query()] = None,
        entity: Annotated[
            str | None, Query(max_length=300, description="Only events of this entity_id.")
        ] = None,
        since: Annotated[
            str | None, Query(description="Events going on at or after this time.", max_length=64)
        ] = None,
        until: Annotated[
            str | None, Query(description="Events that started before this time.", max_length=64)
        ] = None,
    ) -> None:
        start, end = parse_range(since, until)
        self.filter = EventFilter(parse_country(country), scope, start, end, entity)
        self.kind = kind

    def select(self, events: list[Event]) -> list[Event]:
        return [e for e in events if event_matches(e, self.filter, self.kind)]


@router.get("/events", summary="Outage events, fused from the stored alerts")
def get_events(
    access: Access, query: Annotated[EventQuery, Depends()], limit: Limit = 1000, offset: Offset = 0
) -> Envelope[list[Event], ListMeta]:
    with access.reading() as store:
        events = access.events(store)
    rows = query.select(events)
    page = rows[offset : offset + limit]
    return Envelope(data=page, meta=ListMeta(count=len(page), total=len(rows), limit=limit, offset=offset))


@router.get("/events/{event_id}", summary="One event")
def get_event(
    access: Access, event_id: Annotated[str, Path(max_length=100, description="e.g. ev-8f6570d56f94")]
) -> Envelope[Event, CountMeta]:
    with access.reading() as store:
        events = access.events(store)
    for event in events:
        if event.event_id == event_id:
            return Envelope(data=event, meta=CountMeta(count=1))
    raise ApiError(404, f"no event {event_id!r} (GET /api/v1/events lists them)", "event_id")


@router.get("/blocking", summary="App and website blocking events, judged from the stored OONI measurements")
def get_blocking(
    access: Access,
    country: Annotated[
        str | None, Query(description="Probes' country: ISO 3166-1 alpha-2 or alpha-3 code.", max_length=3)
    ] = None,
    asn: Annotated[
        int | None, Query(ge=1, le=4_294_967_295, description="Probes' network: an AS number, e.g. 9198.")
    ] = None,
    since: Annotated[
        str | None, Query(description="Events going on at or after this time. " + TIME_HELP, max_length=64)
    ] = None,
    until: Annotated[
        str | None, Query(description="Events that started before this time. " + TIME_HELP, max_length=64)
    ] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Envelope[list[BlockingItem], ListMeta]:
    """Consecutive blocked verdicts of one target (a URL or an app) from one network, merged into
    events, oldest first; the same events as ``lightsout events --with-blocking``."""
    alpha2 = parse_country(country)
    start, end = parse_range(since, until)
    with access.reading() as store:
        events = access.blocking(store)
    rows = select_blocking(events, alpha2, asn, start, end)
    page = [BlockingItem.of(e) for e in rows[offset : offset + limit]]
    return Envelope(data=page, meta=ListMeta(count=len(page), total=len(rows), limit=limit, offset=offset))


def _ongoing_event(
    event: Event, min_level_pct: float, mean_level_pct: float | None, within_noise: bool
) -> OngoingEvent:
    return OngoingEvent(
        event_id=event.event_id,
        kind=event.kind,
        scope=event.scope,
        entity_id=event.entity_id,
        start=event.start,
        min_level_pct=min_level_pct,
        mean_level_pct=mean_level_pct,
        confidence=event.confidence,
        within_noise=within_noise,
    )


def _ongoing(events: list[Event]) -> dict[str, OngoingEvent]:
    """Per entity, the open event that concerns it most: falls beyond ordinary variation before dips
    within it, then outages before degradations, then the deepest. A sub-entity still down inside a
    parent's open event counts too; detect/noise.judge lists only sub-entities beyond their own swing,
    so such a listing is never a dip, whatever the parent's own series did."""
    best: dict[str, OngoingEvent] = {}

    def rank(c: OngoingEvent) -> tuple[bool, bool, float]:
        return (c.within_noise, c.kind != EventKind.OUTAGE, c.min_level_pct)

    def offer(entity_id: str, candidate: OngoingEvent) -> None:
        current = best.get(entity_id)
        if current is None or rank(candidate) < rank(current):
            best[entity_id] = candidate

    for event in events:
        if event.end is None:
            offer(
                event.entity_id,
                _ongoing_event(event, event.min_level_pct, event.mean_level_pct, event.within_noise),
            )
        for affected in event.affected:
            if affected.end is None:
                level = round(100 * affected.min_ratio, 1)
                offer(affected.entity_id, _ongoing_event(event, level, None, within_noise=False))
    return best


def _state(event: OngoingEvent | None) -> Literal["normal", "outage", "degradation"]:
    """An entity's state from its open event: a claim never exceeds its evidence, so a dip within
    ordinary variation (``within_noise``) leaves it "normal"."""
    if event is None or event.within_noise:
        return "normal"
    return "outage" if event.kind == EventKind.OUTAGE else "degradation"


@router.get("/status", summary="Current state of every entity with data: normal, outage or degradation")
def get_status(
    access: Access,
    country: Country = None,
    kind: Annotated[EntityKind | None, Query()] = None,
    state: Annotated[Literal["normal", "outage", "degradation"] | None, Query()] = None,
) -> Envelope[list[EntityStatus], CountMeta]:
    alpha2 = parse_country(country)
    with access.reading() as store:
        events = access.events(store)
        data_end = access.data_end(store)
        entities = access.entities(store).select(kind, alpha2)
    ongoing = _ongoing(events)
    rows: list[EntityStatus] = []
    for entity in entities:
        until = data_end.get(entity.entity_id)
        if until is None:
            continue
        event = ongoing.get(entity.entity_id)
        entity_state = _state(event)
        if state is not None and entity_state != state:
            continue
        rows.append(
            EntityStatus(
                entity_id=entity.entity_id,
                name=entity.name,
                kind=entity.kind,
                country_code=entity.country_code,
                state=entity_state,
                data_until=until,
                live=is_live(until),
                event=event,
            )
        )
    return Envelope(data=rows, meta=CountMeta(count=len(rows)))
