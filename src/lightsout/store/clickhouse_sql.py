"""The ClickHouse backend's SQL: the connection it needs, literals, and the schema derived from the
model's dataclasses. Kept to what both clickhouse-server 18.16 and current ClickHouse accept."""

from __future__ import annotations

import dataclasses
import enum
import itertools
import operator
import types
import typing
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from lightsout.model import (
    Alert,
    Checkpoint,
    Entity,
    ExternalEvent,
    FileSeries,
    OoniMeasurement,
    OoniVerdict,
    SignalPoint,
    SourceFile,
    SourceHealth,
)
from lightsout.store.base import MeasurementFilter, entity_kind
from lightsout.store.location import ClickHouseLocation

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Connection(Protocol):
    """What the store needs of a ClickHouse connection: statements with their values already
    inlined as literals (:func:`bind`), and columnar inserts."""

    def query(self, sql: str, *, binary: bool = False) -> list[tuple[Any, ...]]: ...

    def insert(self, table: str, columns: Sequence[str], data: Sequence[Any]) -> None:
        """Insert rows given column by column (``data[i]`` holds ``columns[i]``), in one block.
        Columns are lists of Python values, or all NumPy arrays (strings then as bytes)."""

    def close(self) -> None: ...


class DriverConnection:
    """A connection through clickhouse-driver (native protocol)."""

    def __init__(self, location: ClickHouseLocation, database: str | None) -> None:
        import logging

        from clickhouse_driver import Client

        # The driver logs each failed connect with a traceback; the store reports it in one line.
        logging.getLogger("clickhouse_driver").addHandler(logging.NullHandler())
        logging.getLogger("clickhouse_driver").propagate = False
        self._client = Client(
            host=location.host,
            port=location.port,
            database=database or "default",
            user=location.user,
            password=location.password,
            connect_timeout=5,
            settings={"use_client_time_zone": False},
        )

    def query(self, sql: str, *, binary: bool = False) -> list[tuple[Any, ...]]:
        settings = {"strings_as_bytes": True} if binary else None
        rows: list[tuple[Any, ...]] = self._client.execute(sql, settings=settings)
        return rows

    def insert(self, table: str, columns: Sequence[str], data: Sequence[Any]) -> None:
        if not data or not len(data[0]):
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        if all(isinstance(column, np.ndarray) for column in data):
            # NumPy columns (lightsout.store.clickhouse_points): numbers go as their bytes, strings
            # as bytes objects; clickhouse-driver's per-value packing of lists is skipped.
            self._client.execute(
                sql, list(data), columnar=True, settings={"use_numpy": True, "strings_as_bytes": True}
            )
            return
        binary = any(isinstance(column[0], bytes) for column in data if column)
        settings = {"strings_as_bytes": True} if binary else None
        if binary:  # then every String column goes as bytes
            data = [
                [v.encode() if isinstance(v, str) else v for v in column]
                if any(isinstance(v, str) for v in column[:1]) or None in column[:1]
                else column
                for column in data
            ]
        self._client.execute(sql, data, columnar=True, settings=settings)

    def close(self) -> None:
        self._client.disconnect()


# -- literals and the schema ---------------------------------------------------------------------


def micros(moment: datetime) -> int:
    """A timezone-aware time as integer microseconds since the epoch (exact)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the store keeps UTC times only")
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\0": "\\0",
    "\b": "\\b",
    "\f": "\\f",
}


def literal(value: Any) -> str:
    """A value as a ClickHouse SQL literal (strings escaped; bytes byte by byte)."""
    if value is None:
        return "NULL"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"nan": "nan", "inf": "inf", "-inf": "-inf"}[repr(value)]
        return repr(value)
    if isinstance(value, str):
        return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"
    if isinstance(value, bytes):
        return "'" + "".join(f"\\x{b:02x}" for b in value) + "'"
    if isinstance(value, datetime):
        return str(micros(value))
    if isinstance(value, tuple | list | set | frozenset):
        items = list(value)
        if not items:
            raise ValueError("an empty collection has no SQL literal")
        return "(" + ", ".join(literal(v) for v in items) + ")"
    raise TypeError(f"no ClickHouse literal for {type(value).__name__}")


def bind(sql: str, **params: Any) -> str:
    """``sql`` with each ``{name}`` replaced by the literal of ``params[name]``."""
    return sql.format(**{name: literal(value) for name, value in params.items()})


_CH_TYPES: dict[Any, str] = {str: "String", int: "Int64", float: "Float64", bool: "UInt8", datetime: "Int64"}


def _ch_type(annotation: Any) -> str:
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        name = "String"
    else:
        name = _CH_TYPES[annotation]
    return f"Nullable({name})" if nullable else name


def create_table_sql(
    table: str, cls: type, key: tuple[str, ...], extra: str = "", partition: str = "tuple()"
) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for a dataclass: its fields, then ``gen`` (and ``extra``)."""
    hints = typing.get_type_hints(cls)
    columns = [f"{f.name} {_ch_type(hints[f.name])}" for f in dataclasses.fields(cls)]
    columns.append("gen UInt64")
    if extra:
        columns.append(extra)
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (" + ", ".join(columns) + ") "
        f"ENGINE = ReplacingMergeTree(gen) PARTITION BY {partition} ORDER BY ({', '.join(key)})"
    )


_POINT_KEY = ("entity_id", "signal", "source", "bin_s", "bin_start")
# Months of bin_start: a query for one series reads the parts of the months it asks for.
_POINTS_PARTITION = "toYYYYMM(toDateTime(intDiv(bin_start, 1000000), 'UTC'))"

SCHEMA: list[str] = [
    "CREATE TABLE IF NOT EXISTS commits (gen UInt64, kind String, committed_at Int64) "
    "ENGINE = MergeTree PARTITION BY tuple() ORDER BY gen",
    "CREATE TABLE IF NOT EXISTS meta (key String, value String, gen UInt64) "
    "ENGINE = ReplacingMergeTree(gen) PARTITION BY tuple() ORDER BY key",
    create_table_sql("sources", SourceFile, ("sha256",)),
    create_table_sql("entities", Entity, ("entity_id",)),
    create_table_sql("points", SignalPoint, _POINT_KEY, partition=_POINTS_PARTITION),
    create_table_sql("ooni_measurements", OoniMeasurement, ("measurement_id",)),
    create_table_sql("ooni_verdicts", OoniVerdict, ("measurement_id",)),
    create_table_sql("alerts", Alert, _POINT_KEY, extra="deleted UInt8"),
    create_table_sql("checkpoints", Checkpoint, ("source", "stream")),
    create_table_sql("source_health", SourceHealth, ("source",)),
    create_table_sql("external_events", ExternalEvent, ("event_id",)),
    create_table_sql("file_series", FileSeries, ("sha256", "entity_id", "signal", "source", "bin_s")),
    "CREATE TABLE IF NOT EXISTS reader_state (key String, as_of Int64, payload String, gen UInt64) "
    "ENGINE = ReplacingMergeTree(gen) PARTITION BY tuple() ORDER BY key",
    "CREATE TABLE IF NOT EXISTS detector_state (group_id String, payload String, saved_at Int64, "
    "gen UInt64) ENGINE = ReplacingMergeTree(gen) PARTITION BY tuple() ORDER BY group_id",
]


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def insert_columns(cls: type, rows: Sequence[Any], gen: int) -> list[list[Any]]:
    """Rows of a dataclass as columns ready to insert: enums as values, times as microseconds."""
    data: list[list[Any]] = []
    for name in field_names(cls):
        column = list(map(operator.attrgetter(name), rows))
        sample = next((v for v in column if v is not None), None)
        if isinstance(sample, enum.Enum | datetime):
            # Few distinct values (signals, bin starts): convert each once.
            convert: Any = (lambda v: v.value) if isinstance(sample, enum.Enum) else micros
            mapping = {v: None if v is None else convert(v) for v in set(column)}
            column = list(map(mapping.__getitem__, column))
        data.append(column)
    data.append([gen] * len(rows))
    return data


# -- shared by the store's modules ---------------------------------------------------------------

# What every read filters on: rows of published generations (lightsout.store.clickhouse_generations).
PUBLISHED = "gen IN (SELECT gen FROM commits)"
# Entity ids per `IN (...)` list: well under the server's max_query_size (256 KiB by default).
IDS_PER_QUERY = 2_000
_MIN_US = -(2**62)
_MAX_US = 2**62


def time_or_none(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def since_us(moment: datetime | None) -> int:
    """The start of a time filter: microseconds, or before every stored time."""
    return _MIN_US if moment is None else micros(moment)


def until_us(moment: datetime | None) -> int:
    """The end of a time filter: microseconds, or after every stored time."""
    return _MAX_US if moment is None else micros(moment)


def chunks(rows: list[Any], size: int) -> Iterable[list[Any]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def entity_of(row: Sequence[Any]) -> Entity:
    """An entity from a row of its fields in order."""
    return Entity(row[0], entity_kind(row[1]), row[2], row[3], row[4], row[5], row[6])


def first_line(exc: BaseException) -> str:
    """The first line of a (server's) error, for a one-line message."""
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def measurement_conditions(query: MeasurementFilter, start: str = "start") -> str:
    """The filter of a measurement query over the columns probe_cc, probe_asn, test_name and ``start``."""
    conditions = [
        bind(f"{start} >= {{s}} AND {start} < {{u}}", s=since_us(query.since), u=until_us(query.until))
        if query.since is not None or query.until is not None
        else "1"
    ]
    if query.country is not None:
        conditions.append(bind("probe_cc = {v}", v=query.country))
    if query.asn is not None:
        conditions.append(bind("probe_asn = {v}", v=query.asn))
    if query.test_name is not None:
        conditions.append(bind("test_name = {v}", v=query.test_name))
    return " AND ".join(conditions)


def verdict_of(row: Sequence[Any]) -> OoniVerdict:
    """A verdict from a row of its fields in order (its measurement start in microseconds)."""
    values = list(row)
    start = field_names(OoniVerdict).index("measurement_start")
    values[start] = time_or_none(values[start])
    return OoniVerdict(*values)
