"""Response shapes. Records of the data model (``Entity``, ``SeriesSummary``, ``Event``) are the
model's own dataclasses, so the API documents exactly what the store and detector produce; the
models here are the shapes that exist only in the API (envelope, meta, downsampled series,
status, ingest result, error). The model's dataclasses carry no pydantic ``Field``: their fields
are described for OpenAPI by ``MODEL_FIELDS`` (``api.app`` adds them to the schema; a test checks
that every field of ``Event`` and ``Affected`` has one)."""

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


# OpenAPI descriptions of the fields of the model's dataclasses served as they are (schema name ->
# field -> description), in the words of lightsout.model and docs/reporting.md.
MODEL_FIELDS: dict[str, dict[str, str]] = {
    "Event": {
        "event_id": "ev-<hash> (rec-<hash> for a recurring event), from the entity, start and kind.",
        "kind": "outage (connectivity fell) or degradation (latency rose).",
        "entity_id": "The entity the event is about; sub-entities inside it are in `affected`.",
        "entity_name": "The entity's name.",
        "country_code": "ISO 3166-1 alpha-2 of the entity's country, null for none.",
        "scope": "national (a country), regional (a region or county) or network (an AS).",
        "start": "Start of the first alerted bin (UTC); the event began within `start_uncertainty_s` before.",
        "start_uncertainty_s": "Seconds before `start` within which the event began (one bin).",
        "end": (
            "End of the last alerted bin (UTC), the event ended within `end_uncertainty_s` after it; "
            "null while still alerted at the end of the data (ongoing only if the data are live)."
        ),
        "end_uncertainty_s": "Seconds after `end` within which the event ended.",
        "mean_level_pct": "Level over the event, % of ordinary, averaged over its alerted bins.",
        "min_level_pct": "Lowest level, % of ordinary.",
        "confidence": "0..1: depth x persistence x breadth x the signals' agreement (docs/detection.md).",
        "evidence": "The signals that alerted: per signal, source and bin size, its alerted bins and levels.",
        "affected": (
            "Alerted sub-entities (regions, counties, networks, at any depth) whose fall is beyond their "
            "own ordinary swing, each with its own start, end and lowest level."
        ),
        "affected_children": "How many direct sub-entities (regions, or a region's counties) are affected.",
        "affected_of": "How many such sub-entities the store has (0: none; networks not counted).",
        "occurrences": "For a recurring event: every daily occurrence, with its lowest level.",
        "schedule": "For a recurring event: its local-time pattern; null otherwise.",
        "signals_not_seen": "Signals of the entity with data during the event that raised no alert.",
        "pattern": "What the signals' agreement means (docs/detection.md), null when not judged.",
        "confidence_reasons": "The factors of `confidence`, in words.",
        "history_days": "Days of data before the event the baseline could use; null if unknown.",
        "not_counted": (
            "Alerted sub-entities left out of `affected` because their fall stayed within their own "
            "ordinary swing (detect.noise.judge), with their levels; `affected` + `not_counted` are "
            "every alerted sub-entity. Empty for degradations (not judged against noise)."
        ),
        "within_noise": (
            "True when the event's fall stays within ordinary variation: its own series' when the "
            "entity alerted, else every alerted sub-entity's (then `affected` is empty and all are "
            "`not_counted`). Such an event is a dip, never stated as an outage."
        ),
        "fusion_factor": (
            "What fusion multiplied depth x persistence x breadth by: the reachability signals' "
            "agreement x the history's factor (both in `confidence_reasons`; 1 when neither applies)."
        ),
    },
    "Affected": {
        "entity_id": "The sub-entity.",
        "name": "Its name.",
        "start": "Start of its first alerted bin (UTC).",
        "end": "End of its last alerted bin (UTC); null while still alerted at the end of its data.",
        "min_ratio": "Its lowest level as a fraction of its ordinary level (0..1).",
    },
}


class OngoingEvent(BaseModel):
    """The event still open at the end of an entity's data that concerns it most; it makes the
    entity's state "outage" or "degradation" unless it is a dip within ordinary variation
    (``within_noise``), which leaves the state "normal"."""

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
    within_noise: bool = Field(
        description=(
            "This entity's fall stays within its ordinary variation (the event's Event.within_noise; "
            "always false for a sub-entity listed in a parent's event, as only those beyond their own "
            'swing are listed): a dip, not an outage, and the entity\'s state stays "normal".'
        )
    )


class EntityStatus(BaseModel):
    entity_id: str
    name: str
    kind: EntityKind
    country_code: str | None
    state: Literal["normal", "outage", "degradation"] = Field(
        description=(
            'The state at data_until: "outage"/"degradation" when an event open there falls beyond '
            'ordinary variation; "normal" otherwise (no open event, or only a dip within noise).'
        )
    )
    data_until: datetime = Field(
        description="End of the entity's latest stored bin: the state is as of then."
    )
    live: bool = Field(
        description=(
            "Whether data_until is live (within 2 days of now, report.words.is_live): only then is an open "
            "event ongoing; otherwise the state holds at the end of the data (a recorded data set or a "
            "stalled source), not now."
        )
    )
    event: OngoingEvent | None = Field(
        description="The open event behind the state (or the dip within noise that left it normal), or null."
    )


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
