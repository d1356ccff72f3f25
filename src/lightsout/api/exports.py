"""Bulk exports: signal points as CSV (streamed) or Parquet, events as CSV.

Cells that come from data files (entity names, sources) are protected against spreadsheet
formula injection: a text cell starting with ``= + - @`` or a control character gets a leading
apostrophe (OWASP's advice); numbers are left alone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse

from lightsout.api.access import StoreAccess
from lightsout.api.errors import ApiError
from lightsout.api.params import parse_country, parse_range
from lightsout.api.routes import Access, Country, EventQuery, Since, Until
from lightsout.api.schemas import ErrorEnvelope
from lightsout.model import SeriesKey, SignalKind
from lightsout.report.serialize import EVENT_CSV_COLUMNS, event_csv_row

router = APIRouter(responses={400: {"model": ErrorEnvelope, "description": "A bad parameter"}})

SIGNAL_COLUMNS = ["entity_id", "signal", "source", "bin_s", "bin_start", "value"]
PARQUET_SCHEMA = pa.schema(
    [
        ("entity_id", pa.string()),
        ("signal", pa.string()),
        ("source", pa.string()),
        ("bin_s", pa.int64()),
        ("bin_start", pa.timestamp("s", tz="UTC")),
        ("value", pa.float64()),
    ]
)
_RISKY = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(text: str) -> str:
    if not text.startswith(_RISKY):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


class SignalQuery:
    """Which points to export: every series of the store, narrowed by the filters."""

    def __init__(
        self,
        entity: Annotated[str | None, Query(max_length=300, description="Only this entity_id.")] = None,
        country: Country = None,
        signal: Annotated[SignalKind | None, Query()] = None,
        source: Annotated[str | None, Query(max_length=100)] = None,
        since: Since = None,
        until: Until = None,
    ) -> None:
        self.entity = entity
        self.country = parse_country(country)
        self.signal = signal
        self.source = source
        self.since, self.until = parse_range(since, until)

    def keys(self, access: StoreAccess) -> list[SeriesKey]:
        with access.reading() as store:
            index = access.entities(store)
            catalogue = access.catalogue(store)
        if self.entity is not None and self.entity not in index.by_id:
            raise ApiError(404, f"no entity {self.entity!r} (GET /api/v1/entities lists them)", "entity")
        in_country = (
            None if self.country is None else {e.entity_id for e in index.select(country=self.country)}
        )
        return [
            summary.key
            for entity_id, summaries in catalogue.items()
            if (self.entity is None or entity_id == self.entity)
            and (in_country is None or entity_id in in_country)
            for summary in summaries
            if (self.signal is None or summary.key.signal == self.signal)
            and (self.source is None or summary.key.source == self.source)
        ]


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _csv_chunks(access: StoreAccess, query: SignalQuery, keys: list[SeriesKey]) -> Iterator[str]:
    """One chunk per series, each read with its own borrowed connection, so a slow client never
    holds a connection between chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SIGNAL_COLUMNS)
    yield buffer.getvalue()
    for key in keys:
        with access.reading() as store:
            series = store.points(key, query.since, query.until)
        buffer.seek(0)
        buffer.truncate()
        entity, source = safe_cell(key.entity_id), safe_cell(key.source)
        for time_s, value in zip(series.times_s.tolist(), series.values.tolist(), strict=True):
            start = datetime.fromtimestamp(time_s, UTC).isoformat()
            writer.writerow([entity, key.signal.value, source, key.bin_s, start, repr(value)])
        yield buffer.getvalue()


@router.get(
    "/export/signals.csv",
    summary="Signal points as CSV (UTC ISO 8601 bin starts)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "entity_id,signal,source,bin_s,bin_start,value"}
    },
)
def export_signals_csv(access: Access, query: Annotated[SignalQuery, Depends()]) -> StreamingResponse:
    keys = query.keys(access)
    return StreamingResponse(
        _csv_chunks(access, query, keys),
        media_type="text/csv; charset=utf-8",
        headers=_attachment("signals.csv"),
    )


@router.get(
    "/export/signals.parquet",
    summary="Signal points as Parquet",
    response_class=Response,
    responses={
        200: {"content": {"application/vnd.apache.parquet": {}}, "description": "Same columns as the CSV"}
    },
)
def export_signals_parquet(access: Access, query: Annotated[SignalQuery, Depends()]) -> Response:
    keys = query.keys(access)
    tables = []
    for key in keys:
        with access.reading() as store:
            series = store.points(key, query.since, query.until)
        n = int(series.times_s.size)
        columns = {
            "entity_id": [key.entity_id] * n,
            "signal": [key.signal.value] * n,
            "source": [key.source] * n,
            "bin_s": np.full(n, key.bin_s, dtype=np.int64),
            "bin_start": series.times_s,
            "value": series.values,
        }
        tables.append(pa.table(columns, schema=PARQUET_SCHEMA))
    table = pa.concat_tables(tables) if tables else PARQUET_SCHEMA.empty_table()
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return Response(
        sink.getvalue(), media_type="application/vnd.apache.parquet", headers=_attachment("signals.parquet")
    )


@router.get(
    "/export/events.csv",
    summary="Events as CSV (the columns of `lightsout events --format csv`)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": ",".join(EVENT_CSV_COLUMNS)}},
)
def export_events_csv(access: Access, query: Annotated[EventQuery, Depends()]) -> Response:
    with access.reading() as store:
        events = access.events(store)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EVENT_CSV_COLUMNS)
    for event in query.select(events):
        writer.writerow([safe_cell(cell) for cell in event_csv_row(event)])
    return Response(
        buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=_attachment("events.csv")
    )
