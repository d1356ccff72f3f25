"""The ClickHouse backend's reads of whole published rows (lightsout.store.clickhouse_store): the
newest row of each key (``argMax(row, gen)``, where DuckDB updates on conflict) or the first
(``argMin(row, gen)``, where it keeps the first), never relying on merges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lightsout.model import (
    Alert,
    Checkpoint,
    ExternalEvent,
    FileSeries,
    HealthState,
    OoniMeasurement,
    OoniVerdict,
    Scope,
    SeriesKey,
    SignalKind,
    SourceFile,
    SourceHealth,
)
from lightsout.store.base import MeasurementFilter, alerts_from_rows
from lightsout.store.clickhouse_sql import (
    IDS_PER_QUERY,
    PUBLISHED,
    Connection,
    bind,
    chunks,
    field_names,
    from_micros,
    measurement_conditions,
    since_us,
    time_or_none,
    until_us,
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


def source_rows(con: Connection, where: str = "") -> list[SourceFile]:
    """The first published record of each source file (``where``: more conditions), by ingest time."""
    rows = con.query(
        "SELECT sha256, tupleElement(r, 1), tupleElement(r, 2), tupleElement(r, 3), tupleElement(r, 4), "
        "tupleElement(r, 5), tupleElement(r, 6) FROM (SELECT sha256, argMin(tuple(path, format, "
        "ingested_at, records_read, records_skipped, points_written), gen) AS r FROM sources "
        f"WHERE {PUBLISHED} {where} GROUP BY sha256) ORDER BY tupleElement(r, 3), sha256"
    )
    return [SourceFile(r[0], r[1], r[2], from_micros(r[3]), r[4], r[5], r[6]) for r in rows]


def health_rows(con: Connection) -> list[SourceHealth]:
    """Every source's newest published health record, by source."""
    return [
        SourceHealth(
            r[0],
            HealthState(r[1]),
            time_or_none(r[2]),
            time_or_none(r[3]),
            time_or_none(r[4]),
            r[5],
            time_or_none(r[6]),
            r[7],
            r[8],
        )
        for r in latest_rows(con, SourceHealth, ("source",))
    ]


def external_event_rows(
    con: Connection,
    entity_id: str | None,
    country: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ExternalEvent]:
    # The newest version of every event first, then the filter (a filter inside argMax would pick
    # an older version that matched). Other observatories' events are few: thousands, not millions.
    events = [
        ExternalEvent(
            event_id=r[0],
            source=r[1],
            entity_id=r[2],
            entity_name=r[3],
            country_code=r[4],
            scope=Scope(r[5]) if r[5] is not None else None,
            start_time=from_micros(r[6]),
            end_time=time_or_none(r[7]),
            cause=r[8],
            description=r[9],
            link=r[10],
            datasource=r[11],
            score=r[12],
        )
        for r in latest_rows(con, ExternalEvent, ("event_id",))
    ]
    chosen = [
        e
        for e in events
        if (entity_id is None or e.entity_id == entity_id)
        and (country is None or e.country_code == country)
        and (until is None or e.start_time < until)
        and (since is None or e.end_time is None or e.end_time > since)
    ]
    return sorted(chosen, key=lambda e: (e.start_time, e.event_id))


def published_ids(con: Connection, table: str, column: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` (values of ``column``) ``table`` holds in a published row."""
    found: set[str] = set()
    for chunk in chunks(ids, IDS_PER_QUERY):
        rows = con.query(
            bind(f"SELECT DISTINCT {column} FROM {table} WHERE {PUBLISHED} AND {column} IN {{i}}", i=chunk)
        )
        found.update(r[0] for r in rows)
    return found


def alert_rows(con: Connection, since: datetime | None, until: datetime | None, among: str) -> list[Alert]:
    """The newest published version of each alert in ``[since, until)`` (``among``: more
    conditions), unless it is a deletion."""
    rows = con.query(
        "SELECT entity_id, signal, source, bin_s, bin_start, tupleElement(r, 1), tupleElement(r, 2), "
        "tupleElement(r, 3), tupleElement(r, 4) FROM ("
        "SELECT entity_id, signal, source, bin_s, bin_start, "
        "argMax(tuple(value, baseline, ratio, level, deleted), gen) AS r FROM alerts "
        + bind(
            f"WHERE {PUBLISHED} AND bin_start >= {{since}} AND bin_start < {{until}} ",
            since=since_us(since),
            until=until_us(until),
        )
        + among
        + " GROUP BY entity_id, signal, source, bin_s, bin_start) WHERE tupleElement(r, 5) = 0 "
        "ORDER BY entity_id, signal, source, bin_s, bin_start"
    )
    return alerts_from_rows(rows)


def table_of(cls: type) -> str:
    """The table of the rows read by :func:`latest_rows`."""
    return {Checkpoint: "checkpoints", SourceHealth: "source_health", ExternalEvent: "external_events"}[cls]
