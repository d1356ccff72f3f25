"""The store interface. Callers depend on this, never on a backend."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lightsout.model import (
    Alert,
    Checkpoint,
    Entity,
    EntityKind,
    ExternalEvent,
    FileSeries,
    OoniMeasurement,
    OoniVerdict,
    SeriesKey,
    SeriesSummary,
    SignalKind,
    SignalPoint,
    SourceFile,
    SourceHealth,
)
from lightsout.sources import CarryState


@dataclass(slots=True)
class IngestBatch:
    """Everything one input file contributes; written in one transaction with its :class:`SourceFile`."""

    source: SourceFile
    entities: list[Entity] = field(default_factory=list)
    points: list[SignalPoint] = field(default_factory=list)
    measurements: list[OoniMeasurement] = field(default_factory=list)
    carry: CarryState | None = None  # the reader's state after this file, saved with it
    checkpoint: Checkpoint | None = None  # a live source's cursor after this item, saved with it
    external_events: list[ExternalEvent] = field(default_factory=list)  # upserted by event_id
    # The verdicts on ``measurements`` (lightsout.apps.stored): each is stored with its measurement
    # when that measurement is new to the store (a copy already stored keeps its own verdict).
    verdicts: list[OoniVerdict] = field(default_factory=list)
    # The same kind of rows as ``entities`` / ``points``, as columns (lightsout.store.schema.
    # arrow_table), as MRT ingest's worker processes send them: DuckDB writes them as they are; a
    # store that needs rows takes :func:`with_rows` of the batch. Given in place of the lists.
    entity_columns: pa.Table | None = None
    point_columns: pa.Table | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SIGNALS = {kind.value: kind for kind in SignalKind}
_KINDS = {kind.value: kind for kind in EntityKind}


def alerts_from_rows(rows: Iterable[tuple[Any, ...] | list[Any]]) -> list[Alert]:
    """Alerts from rows of (entity_id, signal, source, bin_s, bin_start in epoch microseconds, value,
    baseline, ratio, level): one datetime and one enum lookup per distinct value, not one
    conversion per row (80,000 alerts: 0.1 s instead of 2 s)."""
    times: dict[int, datetime] = {}
    alerts = []
    for r in rows:
        moment = times.get(r[4])
        if moment is None:
            moment = times[r[4]] = _EPOCH + timedelta(microseconds=r[4])
        signal = _SIGNALS.get(r[1]) or SignalKind(r[1])
        alerts.append(Alert(r[0], signal, r[2], r[3], moment, r[5], r[6], r[7], r[8]))
    return alerts


def entity_kind(value: str) -> EntityKind:
    """``EntityKind(value)`` by a dict lookup (the enum's own call costs microseconds per row)."""
    return _KINDS.get(value) or EntityKind(value)


def with_rows(batch: IngestBatch) -> IngestBatch:
    """The batch with its columns (if any) turned into rows of ``entities`` and ``points``."""
    if batch.entity_columns is None and batch.point_columns is None:
        return batch
    from lightsout.store.schema import rows_from_arrow

    entities, points = list(batch.entities), list(batch.points)
    if batch.entity_columns is not None:
        entities += rows_from_arrow(Entity, batch.entity_columns)
    if batch.point_columns is not None:
        points += rows_from_arrow(SignalPoint, batch.point_columns)
    return replace(batch, entities=entities, points=points, entity_columns=None, point_columns=None)


def make_file_series(batch: IngestBatch) -> list[FileSeries]:
    """Which bins of which series the batch's file writes: one row per series."""
    # Plain tuples as keys: a SeriesKey per point costs more than the rest of the loop.
    spans: dict[tuple[str, SignalKind, str, int], list[Any]] = {}
    for p in batch.points:
        key = (p.entity_id, p.signal, p.source, p.bin_s)
        span = spans.get(key)
        t = p.bin_start
        if span is None:
            spans[key] = [t, t, 1]
        else:
            if t < span[0]:
                span[0] = t
            elif t > span[1]:
                span[1] = t
            span[2] += 1
    sha = batch.source.sha256
    return [FileSeries(sha, *key, first, last, n) for key, (first, last, n) in spans.items()]


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """A stored series as arrays: ``times_s`` are UTC epoch seconds of bin starts, sorted."""

    key: SeriesKey
    times_s: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MeasurementFilter:
    country: str | None = None
    asn: int | None = None
    test_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000


class Store(Protocol):
    """What every backend offers. One writer at a time; reads may run beside it."""

    def has_source(self, sha256: str) -> bool: ...

    def write_batch(self, batch: IngestBatch) -> None:
        """Write a file's data atomically: all of it with its source record, or nothing. A file
        whose source record (same SHA-256) is already stored adds nothing."""

    def write_parts(self, parts: Iterable[IngestBatch]) -> None:
        """Write one file's data given in parts (a streaming reader's chunks), atomically as
        :meth:`write_batch`: every part's rows, then the ``source`` record of the last part (its
        counts are known only at the end; every part names the same file). Nothing is visible
        until the last part is written; an error raised by ``parts`` leaves no trace. A file
        already stored adds nothing (``parts`` is then not read past its first item)."""

    def sources(self) -> list[SourceFile]: ...

    def ingest_state(self) -> tuple[int, datetime | None]:
        """(number of source records, the newest ``ingested_at``): names one state of the stored
        data (every write adds a source record), cheaply at any size. A service's fetch-once ledger
        grows by one record per live item (millions in a few months of OONI): read paths key their
        caches on this, never on :meth:`sources`, which loads every record."""
        ...

    def sources_by_sha(self, sha256s: Iterable[str]) -> list[SourceFile]:
        """The source records of these SHA-256s (unknown ones left out), in ingest order."""
        ...

    def entities(
        self,
        kind: EntityKind | None = None,
        country: str | None = None,
        parent_id: str | None = None,
        parent_ids: Collection[str] | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[Entity]:
        """The entities, by kind then id; only those of ``kind``, of ``country``, whose parent is
        ``parent_id``, whose parent is one of ``parent_ids``, among ``entity_ids`` (none when one
        of these two is empty), as given."""

    def entity(self, entity_id: str) -> Entity | None: ...

    def series(
        self,
        entity_id: str | None = None,
        country: str | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[SeriesSummary]:
        """What the store holds per series of known entities, by key; only those of ``entity_id``,
        of entities of ``country``, of ``entity_ids`` (none when empty), as given."""

    def points(
        self, key: SeriesKey, since: datetime | None = None, until: datetime | None = None
    ) -> TimeSeries: ...

    def measurements(self, query: MeasurementFilter) -> list[OoniMeasurement]: ...

    def verdicts(self, query: MeasurementFilter, analysis: str) -> list[OoniVerdict]:
        """The stored verdicts of ``analysis`` on measurements matching ``query``, ordered as
        :meth:`measurements` (start time, then id; untimed last)."""

    def unjudged(self, query: MeasurementFilter, analysis: str) -> list[OoniMeasurement]:
        """The measurements matching ``query`` that have no stored verdict of ``analysis``
        (ingested before verdicts were stored, or judged by another analysis), ordered as
        :meth:`measurements`."""

    def save_verdicts(self, verdicts: list[OoniVerdict]) -> None:
        """Store verdicts judged again (re-derived), replacing the stored verdict of each
        measurement, in one transaction."""

    def file_series(self, keys: list[SeriesKey]) -> list[FileSeries]:
        """Which ingested files wrote bins of ``keys``, and which bins (the provenance of a number)."""

    def replace_alerts(
        self, keys: list[SeriesKey], since: datetime | None, until: datetime | None, alerts: list[Alert]
    ) -> None:
        """Delete the alerts of ``keys`` in ``[since, until)`` and write ``alerts``, atomically."""

    def add_alerts(self, alerts: list[Alert]) -> None: ...

    def alerts(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[Alert]:
        """The alerts with a bin in ``[since, until)``, of ``entity_ids`` only when given (none when
        empty), ordered by entity, signal, source, bin seconds and bin start."""

    def save_detector_state(self, group_id: str, payload: bytes) -> None: ...

    def load_detector_state(self, group_id: str) -> bytes | None: ...

    def save_judgement(self, alerts: list[Alert], states: dict[str, bytes]) -> None:
        """One online round, atomically: add ``alerts`` (as :meth:`add_alerts`) and replace the
        detector state of each group in ``states`` (group id -> payload). A round killed before
        this returns leaves neither, so the next round judges the same bins again from the same
        state: no alert lost, none doubled."""

    def load_carry(self, key: str) -> CarryState | None:
        """The last saved reader state of a stream (see lightsout.sources.CarryState)."""

    # -- live sources (lightsout.sources.connector) ---------------------------------------------

    def load_checkpoint(self, source: str, stream: str) -> Checkpoint | None: ...

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a cursor on its own (a round that found nothing new still moves on)."""

    def save_health(self, health: SourceHealth) -> None:
        """Replace the health record of ``health.source``."""

    def source_health(self) -> list[SourceHealth]:
        """Every stored health record, by source name."""

    def external_events(
        self,
        entity_id: str | None = None,
        country: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ExternalEvent]:
        """Other observatories' events (IODA, Cloudflare Radar) of an entity or a country that
        overlap ``[since, until)``, by start. Never Lightsout's own events."""

    def close(self) -> None: ...
