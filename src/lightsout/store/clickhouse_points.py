"""Points for the ClickHouse backend as columns (lightsout.store.clickhouse_store).

A file's points reach the store as :class:`~lightsout.model.SignalPoint` rows or as Arrow columns
(``IngestBatch.point_columns``, from MRT ingest's worker processes). Both become one Arrow table
here, and everything the write needs is computed on its columns, not point by point in Python:
each series' figures (its summary and its provenance, one hash aggregation in Arrow), and the
columns sent to the server (strings encoded once per distinct value, numbers through NumPy).

Measured on a 2.6 M-point bench batch (bench/bench_store.py, docs/design.md "ClickHouse backend"):
the row-by-row path spent about 60 % of its time in Python loops over the points (series summary,
provenance, column conversion, string encoding); this module does the same in C.
"""

from __future__ import annotations

import enum
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightsout.model import SignalPoint
from lightsout.store.clickhouse_sql import micros

# The points table's columns, in the order of the dataclass (and of the insert).
SCHEMA = pa.schema(
    [
        ("entity_id", pa.string()),
        ("signal", pa.string()),
        ("source", pa.string()),
        ("bin_start", pa.int64()),  # microseconds since the epoch, UTC
        ("bin_s", pa.int64()),
        ("value", pa.float64()),
        ("samples", pa.int64()),
    ]
)
SERIES_KEY = ["entity_id", "signal", "source", "bin_s"]


@dataclass(frozen=True, slots=True)
class SeriesFigures:
    """One series' figures over a batch's points."""

    key: tuple[str, str, str, int]  # (entity_id, signal, source, bin_s), as stored
    rows: int  # points given (a bin given twice counts twice: the file's provenance)
    bins: int  # distinct bins
    first_us: int
    last_us: int
    min_value: float
    max_value: float


def point_table(points: list[SignalPoint], columns: pa.Table | None) -> pa.Table:
    """The points of a batch as one table of :data:`SCHEMA`: the rows first, then the columns
    (the order ``lightsout.store.base.with_rows`` gives them)."""
    tables = []
    if points:
        tables.append(_table_of_rows(points))
    if columns is not None and columns.num_rows:
        tables.append(_normalised(columns))
    if not tables:
        return SCHEMA.empty_table()
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _table_of_rows(points: list[SignalPoint]) -> pa.Table:
    def column(name: str) -> list[Any]:
        return list(map(operator.attrgetter(name), points))

    def mapped(values: list[Any], convert: Any) -> list[Any]:
        # Few distinct values (signals, sources, bin starts): each converted once.
        mapping = {v: convert(v) for v in set(values)}
        return list(map(mapping.__getitem__, values))

    signal = mapped(column("signal"), lambda v: v.value if isinstance(v, enum.Enum) else v)
    return pa.table(
        [
            pa.array(column("entity_id"), pa.string()),
            pa.array(signal, pa.string()),
            pa.array(column("source"), pa.string()),
            pa.array(mapped(column("bin_start"), micros), pa.int64()),
            pa.array(column("bin_s"), pa.int64()),
            pa.array(column("value"), pa.float64()),
            pa.array(column("samples"), pa.int64()),
        ],
        schema=SCHEMA,
    )


def _normalised(columns: pa.Table) -> pa.Table:
    """Arrow columns of SignalPoint (lightsout.store.schema.arrow_table) in :data:`SCHEMA`."""
    arrays = []
    for field in SCHEMA:
        array = columns.column(field.name)
        if pa.types.is_timestamp(array.type):
            array = pc.cast(array, pa.timestamp("us", tz="UTC")).cast(pa.int64())
        elif pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        arrays.append(array.cast(field.type))
    return pa.table(arrays, schema=SCHEMA)


def series_figures(table: pa.Table) -> list[SeriesFigures]:
    """Each series' figures over the table, by key (one hash aggregation)."""
    if not table.num_rows:
        return []
    grouped = table.group_by(SERIES_KEY, use_threads=False).aggregate(
        [
            ("bin_start", "count"),
            ("bin_start", "min"),
            ("bin_start", "max"),
            ("value", "min"),
            ("value", "max"),
        ]
    )
    c = {name: grouped.column(name).to_pylist() for name in grouped.column_names}
    if _bins_once(table, grouped.num_rows):
        distinct = c["bin_start_count"]
    else:  # a bin given twice (rare): count the distinct ones
        bins = table.group_by([*SERIES_KEY, "bin_start"], use_threads=False).aggregate([])
        counted = bins.group_by(SERIES_KEY, use_threads=False).aggregate([("bin_start", "count")])
        by_key = dict(
            zip(
                zip(*(counted.column(k).to_pylist() for k in SERIES_KEY), strict=True),
                counted.column("bin_start_count").to_pylist(),
                strict=True,
            )
        )
        keys = zip(*(c[k] for k in SERIES_KEY), strict=True)
        distinct = [by_key[key] for key in keys]
    figures = [
        SeriesFigures((e, s, src, b), n, d, lo, hi, vmin, vmax)
        for e, s, src, b, n, d, lo, hi, vmin, vmax in zip(
            c["entity_id"], c["signal"], c["source"], c["bin_s"], c["bin_start_count"], distinct,
            c["bin_start_min"], c["bin_start_max"], c["value_min"], c["value_max"], strict=True,
        )
    ]
    return sorted(figures, key=lambda f: f.key)


def _bins_once(table: pa.Table, n_series: int) -> bool:
    """Whether no bin is given twice, checked cheaply for the usual layout: each series' points
    together (``n_series`` runs of one key) with bin starts rising. False means "maybe"."""
    if table.num_rows < 2:
        return True
    same = None
    for name in SERIES_KEY:
        column = table.column(name)
        equal = pc.equal(column.slice(1), column.slice(0, table.num_rows - 1))
        same = equal if same is None else pc.and_(same, equal)
    assert same is not None
    runs = table.num_rows - pc.sum(same).as_py()
    if runs != n_series:
        return False
    starts = table.column("bin_start")
    rising = pc.greater(starts.slice(1), starts.slice(0, table.num_rows - 1))
    return bool(pc.all(pc.or_(pc.invert(same), rising)).as_py())


def last_values(table: pa.Table, key: tuple[str, str, str, int]) -> dict[int, float]:
    """One series' values by bin (microseconds), the last given winning: for a batch that gives
    a bin twice (rare), whose summary needs the value that will be read."""
    entity_id, signal, source, bin_s = key
    mask = pc.and_(
        pc.and_(pc.equal(table["entity_id"], entity_id), pc.equal(table["signal"], signal)),
        pc.and_(pc.equal(table["source"], source), pc.equal(table["bin_s"], bin_s)),
    )
    rows = table.filter(mask)
    return dict(zip(rows["bin_start"].to_pylist(), rows["value"].to_pylist(), strict=True))


def insert_data(table: pa.Table, gen: int) -> list[np.ndarray[Any, Any]]:
    """The table's columns as NumPy arrays for the insert (then ``gen``): strings as UTF-8
    bytes objects, each distinct string encoded once; numbers as they are."""
    data: list[np.ndarray[Any, Any]] = []
    for field in SCHEMA:
        column = table.column(field.name)
        if field.type == pa.string():
            encoded = pc.dictionary_encode(column).combine_chunks()
            words = np.array([w.encode() for w in encoded.dictionary.to_pylist()] or [b""], dtype=object)
            indices = encoded.indices.to_numpy(zero_copy_only=False)
            data.append(words[indices])
        else:
            data.append(column.to_numpy())
    data.append(np.full(table.num_rows, gen, dtype=np.uint64))
    return data

