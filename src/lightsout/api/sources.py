"""GET /api/v1/sources: every live source's health, and whether Lightsout's own view is current
(:mod:`lightsout.service.freshness`). A source that is late, failing or rate-limited is a gap in
Lightsout's data, never an outage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from lightsout.api.access import StoreAccess
from lightsout.api.schemas import CountMeta, Envelope, ErrorEnvelope
from lightsout.api.state import store_access
from lightsout.model import HealthState
from lightsout.service.freshness import SourceGaps, ViewState, freshness, source_gaps

router = APIRouter(
    responses={
        400: {"model": ErrorEnvelope, "description": "A bad parameter"},
        503: {"model": ErrorEnvelope, "description": "Every store connection busy"},
    }
)


class GapItem(BaseModel):
    start: datetime
    end: datetime
    missing: int | None = Field(description="Files missing in the span, when the source counts them.")
    where: str | None = Field(description="The part of the source it concerns (e.g. a collector).")


class SourceItem(BaseModel):
    source: str
    state: HealthState = Field(description="ok, late, failing, rate-limited or pending.")
    last_data: datetime | None = Field(description="The newest data time stored from this source.")
    lag_s: float | None = Field(description="Seconds from last_data to now (never negative).")
    checked_at: datetime | None
    last_success: datetime | None
    last_error: str | None
    next_attempt: datetime | None
    failures: int = Field(description="Consecutive failed rounds.")
    clock_skew_s: float | None = Field(description="The source's clock minus ours, when it says.")
    gaps: int = Field(0, description="Gaps its archive had (e.g. MRT update files missing): data we lack.")
    latest_gap: GapItem | None = Field(None, description="The gap that ends last.")


class SourcesView(BaseModel):
    state: ViewState = Field(description="live, partial, stale, offline (every source failing) or files.")
    message: str
    newest_data: datetime | None
    sources: list[SourceItem]


@router.get("/sources", summary="Live sources: health, lag, last error, next attempt; is our view current")
def get_sources(access: Annotated[StoreAccess, Depends(store_access)]) -> Envelope[SourcesView, CountMeta]:
    with access.reading() as store:
        health = store.source_health()
        gaps = source_gaps(store, [h.source for h in health])
    now = datetime.now(UTC)
    view = freshness(health, now, gaps)
    items = [
        SourceItem(
            source=h.source,
            state=h.state,
            last_data=h.last_data,
            lag_s=lag.total_seconds() if (lag := h.lag(now)) is not None else None,
            checked_at=h.checked_at,
            last_success=h.last_success,
            last_error=h.last_error,
            next_attempt=h.next_attempt,
            failures=h.failures,
            clock_skew_s=h.clock_skew_s,
            gaps=gaps[h.source].count if h.source in gaps else 0,
            latest_gap=_latest_gap(gaps.get(h.source)),
        )
        for h in health
    ]
    data = SourcesView(state=view.state, message=view.message, newest_data=view.newest_data, sources=items)
    return Envelope(data=data, meta=CountMeta(count=len(items)))


def _latest_gap(gaps: SourceGaps | None) -> GapItem | None:
    if gaps is None or gaps.latest is None:
        return None
    g = gaps.latest
    return GapItem(start=g.start, end=g.end, missing=g.missing, where=g.where)
