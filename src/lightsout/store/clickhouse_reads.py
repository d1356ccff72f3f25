"""The ClickHouse backend's reads of whole published rows (lightsout.store.clickhouse_store): the
newest row of each key (``argMax(row, gen)``, where DuckDB updates on conflict) or the first
(``argMin(row, gen)``, where it keeps the first), never relying on merges."""

from __future__ import annotations

from typing import Any

from lightsout.model import (
    Checkpoint,
    ExternalEvent,
    FileSeries,
    OoniMeasurement,
    OoniVerdict,
    SeriesKey,
    SignalKind,
    SourceHealth,
)
from lightsout.store.base import MeasurementFilter
from lightsout.store.clickhouse_sql import (
    PUBLISHED,
    Connection,
    bind,
    field_names,
    from_micros,
    measurement_conditions,
    verdict_of,
)


def latest_rows(con: Connection, cls: type, key: tuple[str, ...], where: str = "") -> list[tuple[Any, ...]]:
    """The newest published row of each key of a table, fields in the dataclass' order."""
    rest = [name for name in field_names(cls) if name not in key]
    row = ", ".join(f"tupleElement(r, {i + 1})" for i in range(len(rest)))
    rows = con.query(
        f"SELECT {', '.join(key)}, {row} FROM (SELECT {', '.join(key)}, "
        f"argMax(tuple({', '.join(rest)}), gen) AS r FROM {table_of(cls)} WHERE {PUBLISHED} "
        + (f"AND {where} " if where else "")
        + f"GROUP BY {', '.join(key)}) ORDER BY {', '.join(key)}"
    )
    order = [*key, *rest]
    return [tuple(r[order.index(name)] for name in field_names(cls)) for r in rows]


def measurement_rows(con: Connection, query: MeasurementFilter, extra: str) -> list[OoniMeasurement]:
    """The first stored row of each published measurement (``extra``: more conditions), filtered."""
    rows = con.query(
        "SELECT measurement_id, tupleElement(r, 1) AS test_name, tupleElement(r, 2), "
        "tupleElement(r, 3) AS probe_cc, tupleElement(r, 4) AS probe_asn, tupleElement(r, 5) AS start, "
        "tupleElement(r, 6), tupleElement(r, 7) FROM (SELECT measurement_id, argMin(tuple(test_name, "
        "test_version, probe_cc, probe_asn, measurement_start, input, raw_json), gen) AS r "
        f"FROM ooni_measurements WHERE {PUBLISHED}{extra} GROUP BY measurement_id) "
        f"WHERE {measurement_conditions(query)} ORDER BY start, measurement_id LIMIT {int(query.limit)}"
    )
    return [
        OoniMeasurement(
            r[0], r[1], r[2], r[3], r[4], None if r[5] is None else from_micros(r[5]), r[6], r[7]
        )
        for r in rows
    ]


def verdict_rows(con: Connection, query: MeasurementFilter, analysis: str) -> list[OoniVerdict]:
    # The newest published verdict of each measurement by this analysis: ingest stores a verdict
    # only with a measurement new to the store (a copy keeps its first), save_verdicts replaces it
    # (as DuckDB); merges keep the newest (lightsout.store.clickhouse_slots).
    fields = field_names(OoniVerdict)[2:]
    picked = ", ".join(
        f"tupleElement(r, {i}) AS {name}" for i, name in enumerate(fields, start=1)
    )
    rows = con.query(
        f"SELECT measurement_id, analysis, {picked} FROM (SELECT measurement_id, analysis, "
        f"argMax(tuple({', '.join(fields)}), gen) AS r FROM ooni_verdicts WHERE {PUBLISHED} "
        + bind("AND analysis = {a} ", a=analysis)
        + "GROUP BY measurement_id, analysis) "
        + f"WHERE {measurement_conditions(query, 'measurement_start')} "
        f"ORDER BY measurement_start, measurement_id LIMIT {int(query.limit)}"
    )
    return [verdict_of(r) for r in rows]


def file_series_rows(con: Connection, keys: list[SeriesKey]) -> list[FileSeries]:
    """Which published files wrote which bins of ``keys``."""
    if not keys:
        return []
    wanted = ", ".join(
        bind("({e}, {s}, {src}, {b})", e=k.entity_id, s=k.signal, src=k.source, b=k.bin_s) for k in keys
    )
    rows = con.query(
        "SELECT DISTINCT sha256, entity_id, signal, source, bin_s, first, last, points FROM file_series "
        f"WHERE {PUBLISHED} AND (entity_id, signal, source, bin_s) IN ({wanted}) "
        "ORDER BY first, sha256, entity_id"
    )
    return [
        FileSeries(r[0], r[1], SignalKind(r[2]), r[3], r[4], from_micros(r[5]), from_micros(r[6]), r[7])
        for r in rows
    ]


def table_of(cls: type) -> str:
    """The table of the rows read by :func:`latest_rows`."""
    return {Checkpoint: "checkpoints", SourceHealth: "source_health", ExternalEvent: "external_events"}[cls]
