"""Response shapes. Records of the data model (``Entity``, ``SeriesSummary``, ``Event``) are the
model's own dataclasses, so the API documents exactly what the store and detector produce; the
models here are the shapes that exist only in the API (envelope, meta, downsampled series,
status, ingest result, error)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from lightsout.model import Entity, EntityKind, EventKind, Scope, SeriesSummary, SignalKind

DataT = TypeVar("DataT")
MetaT = TypeVar("MetaT")


class Envelope(BaseModel, Generic[DataT, MetaT]):
    """Every successful JSON answer: the data, and what was asked and how much there is."""

    data: DataT
    meta: MetaT


class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    message: str = Field(description="What went wrong, in one line.")
    parameter: str | None = Field(None, description="The query or path parameter at fault, if one is.")


class ErrorEnvelope(BaseModel):
    """Every error, whatever its status (400, 401, 403, 404, 405, 413, 500, 503)."""

    error: ErrorBody


class ListMeta(BaseModel):
    count: int = Field(description="Items in this answer.")
    total: int = Field(description="Items matching the filters, before limit/offset.")
    limit: int
    offset: int


class CountMeta(BaseModel):
    count: int


class EntityDetail(BaseModel):
    entity: Entity
    series: list[SeriesSummary] = Field(description="The entity's stored series.")
    children: list[str] = Field(description="entity_id of every direct sub-entity.")


class DownsampledSeries(BaseModel):
    """One series over the asked range, as buckets: ``times_s[i]`` is the UTC epoch second a bucket
    starts at; ``mean``, ``min`` and ``max`` summarise the ``counts[i]`` stored points inside it.
    Without downsampling a bucket is one bin (``bucket_s == bin_s``) and mean = min = max."""

    entity_id: str
    signal: SignalKind
    source: str
    bin_s: int
    bucket_s: int = Field(description="Width of each bucket, a whole number of bins.")
    downsampled: bool
    stored_points: int = Field(description="Stored points in the range, before downsampling.")
    times_s: list[int]
    mean: list[float | None]
    min: list[float | None]
    max: list[float | None]
    counts: list[int]


class SignalsMeta(BaseModel):
    entity_id: str
    since: datetime | None
    until: datetime | None
    max_points: int
    method: str = Field(description="How long ranges are downsampled.")


class OngoingEvent(BaseModel):
    """The event that makes an entity's state what it is."""

    event_id: str
    kind: EventKind
    scope: Scope
    entity_id: str = Field(
        description="The event's entity: the entity itself, or a parent it is folded into."
    )
    start: datetime
    min_level_pct: float = Field(description="Lowest level of this entity, % of its ordinary level.")
    mean_level_pct: float | None = Field(
        description="Mean level over the event, % of ordinary; null for a sub-entity inside a parent's event."
    )
    confidence: float


class EntityStatus(BaseModel):
    entity_id: str
    name: str
    kind: EntityKind
    country_code: str | None
    state: Literal["normal", "outage", "degradation"]
    data_until: datetime = Field(
        description="End of the entity's latest stored bin: the state is as of then."
    )
    event: OngoingEvent | None


class SkipCount(BaseModel):
    reason: str
    count: int
    first_position: str


class DetectResult(BaseModel):
    series: int
    bins: int
    alerts: int


class IngestResult(BaseModel):
    filename: str
    format: str
    sha256: str
    already_ingested: bool
    records_read: int
    points_written: int
    measurements_written: int
    entities_written: int
    skipped: list[SkipCount]
    notes: list[str]
    detected: DetectResult | None = Field(description="Detector run after the ingest (with detect=true).")


class WriteMeta(BaseModel):
    elapsed_s: float = Field(description="Seconds the write took, waiting for the write lock included.")
