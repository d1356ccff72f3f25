"""``GET /api/v1/external-events``: the outages other observatories reported (IODA's outages/events,
Cloudflare Radar's outage annotations), with the filters of ``/events``. A list of its own: these
are the sources' judgements, shown beside Lightsout's events and never merged into them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from lightsout.api.access import StoreAccess
from lightsout.api.params import TIME_HELP, parse_country, parse_range
from lightsout.api.schemas import Envelope, ErrorEnvelope, ListMeta
from lightsout.api.state import store_access
from lightsout.model import ExternalEvent, Scope
from lightsout.report.external import select_external

router = APIRouter(
    responses={
        400: {"model": ErrorEnvelope, "description": "A bad parameter"},
        503: {"model": ErrorEnvelope, "description": "Every store connection busy"},
    }
)


@router.get("/external-events", summary="Outages reported by other observatories (IODA, Cloudflare Radar)")
def get_external_events(
    access: Annotated[StoreAccess, Depends(store_access)],
    country: Annotated[
        str | None, Query(description="ISO 3166-1 alpha-2 or alpha-3 code.", max_length=3)
    ] = None,
    scope: Annotated[Scope | None, Query()] = None,
    entity: Annotated[str | None, Query(max_length=300, description="Only events of this entity_id.")] = None,
    source: Annotated[
        Literal["ioda", "cloudflare-radar"] | None, Query(description="Only this observatory's.")
    ] = None,
    since: Annotated[
        str | None, Query(description="Events going on at or after this time. " + TIME_HELP, max_length=64)
    ] = None,
    until: Annotated[
        str | None, Query(description="Events that started before this time. " + TIME_HELP, max_length=64)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100_000, description="At most this many items.")] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Skip this many items first.")] = 0,
) -> Envelope[list[ExternalEvent], ListMeta]:
    """Oldest first. ``end_time`` null: ongoing as the source last said. ``link`` is the source's
    page or the report it cites; ``score`` is IODA's own (no unit)."""
    alpha2 = parse_country(country)
    start, end = parse_range(since, until)
    with access.reading() as store:
        rows = select_external(store, alpha2, scope, start, end, entity, source)
    page = rows[offset : offset + limit]
    return Envelope(data=page, meta=ListMeta(count=len(page), total=len(rows), limit=limit, offset=offset))
