"""Table definitions derived from the model's dataclasses: one definition per table."""

from __future__ import annotations

import dataclasses
import enum
import operator
import types
import typing
from array import array
from datetime import datetime
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lightsout.model import Entity, EntityKind, SignalKind, SignalPoint

if TYPE_CHECKING:
    import numpy.typing as npt

    from lightsout.sources.columns import PointColumns

_SQL_TYPES: dict[Any, str] = {
    str: "VARCHAR",
    int: "BIGINT",
    float: "DOUBLE",
    bool: "BOOLEAN",
    datetime: "TIMESTAMPTZ",
}


def _sql_type(annotation: Any) -> tuple[str, bool]:
    """Map a field annotation to (SQL type, nullable)."""
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "VARCHAR", nullable
    return _SQL_TYPES[annotation], nullable


def create_table_sql(table: str, cls: type, primary_key: tuple[str, ...]) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for a dataclass, with its primary key."""
    hints = typing.get_type_hints(cls)
    columns = []
    for f in dataclasses.fields(cls):
        sql_type, nullable = _sql_type(hints[f.name])
        columns.append(f"{f.name} {sql_type}{'' if nullable else ' NOT NULL'}")
    columns.append(f"PRIMARY KEY ({', '.join(primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(columns) + "\n)"


def column_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def arrow_table(cls: type, rows: list[Any]) -> pa.Table:
    """Rows of a dataclass as a pyarrow table of its columns (enums by their values)."""
    names = column_names(cls)
    columns: dict[str, list[Any]] = {name: [] for name in names}
    if rows:
        get = operator.attrgetter(*names)
        values = [get(row) for row in rows] if len(names) > 1 else [(get(row),) for row in rows]
        for name, column in zip(names, zip(*values, strict=True), strict=True):
            if any(issubclass(kind, enum.Enum) for kind in set(map(type, column))):
                columns[name] = [v.value if isinstance(v, enum.Enum) else v for v in column]
            else:
                columns[name] = list(column)
    return pa.table(columns)


def rows_from_arrow(cls: type, table: pa.Table) -> list[Any]:
    """The inverse of :func:`arrow_table`: the dataclass rows of a table of its columns."""
    hints = typing.get_type_hints(cls)
    columns: list[list[Any]] = []
    for f in dataclasses.fields(cls):
        values = table.column(f.name).to_pylist()
        annotation = hints[f.name]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            values = [None if v is None else annotation(v) for v in values]
        columns.append(values)
    return [cls(*row) for row in zip(*columns, strict=True)]


# -- Arrow columns made from buffers --------------------------------------------------------------
# What every MRT ingest hands the store (IngestBatch.point_columns / entity_columns): the tables
# :func:`arrow_table` makes of the same rows, built without a Python object per value.

_ARROW_TYPES: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    datetime: pa.timestamp("us", tz="UTC"),
}


def arrow_schema(cls: type) -> pa.Schema:
    """The schema :func:`arrow_table` gives a dataclass's rows (enums by their string values; times
    are UTC), derived from its fields like the SQL tables."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        annotation = hints[f.name]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            annotation = str
        fields.append(pa.field(f.name, _ARROW_TYPES[annotation]))
    return pa.schema(fields)


POINT_SCHEMA = arrow_schema(SignalPoint)
ENTITY_SCHEMA = arrow_schema(Entity)
_SIGNAL_VALUES = {kind: kind.value for kind in SignalKind}
_KIND_VALUES = {kind: kind.value for kind in EntityKind}


def columns_table(columns: PointColumns) -> pa.Table:
    """A reader's :class:`~lightsout.sources.columns.PointColumns` as the Arrow table
    :func:`arrow_table` makes of the same points, straight from the numpy arrays (the strings
    gathered from the distinct ones)."""
    rows = len(columns)
    arrays = {
        "entity_id": _gather(columns.words, columns.entity),
        "signal": _gather([_SIGNAL_VALUES[s] for s in columns.signals], columns.signal),
        "source": _gather([columns.source], np.zeros(rows, dtype=np.int64)),
        "bin_start": columns.bin_start_s * 1_000_000,
        "bin_s": np.full(rows, columns.bin_s, dtype=np.int64),
        "value": columns.value,
        "samples": columns.samples,
    }
    out = []
    for f in POINT_SCHEMA:
        made = arrays[f.name]
        if isinstance(made, pa.Array):
            out.append(made)
        else:
            kind = np.float64 if f.type == pa.float64() else np.int64
            typed = np.ascontiguousarray(made, dtype=kind)
            out.append(pa.Array.from_buffers(f.type, rows, [None, pa.py_buffer(typed)], 0))
    return pa.Table.from_arrays(out, schema=POINT_SCHEMA)


def _gather(words: list[str], index: npt.NDArray[np.int64]) -> pa.Array:
    """The string column ``[words[i] for i in index]``, built with numpy: each row's bytes copied
    from the distinct words' (one UTF-8 encoding per word, not per row)."""
    encoded = [w.encode() for w in words]
    sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    lengths = sizes[index]
    offsets = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    if total >= 1 << 31:
        raise OverflowError("a string column past 2 GiB")
    # the byte at output position p comes from word index[r]'s start + (p - offsets[r])
    where = np.arange(total, dtype=np.int64) + np.repeat(starts[:-1][index] - offsets[:-1], lengths)
    data = blob[where] if total else np.zeros(0, dtype=np.uint8)
    buffers = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(index), buffers, 0)


def entity_columns(entities: list[Entity]) -> pa.Table:
    """:class:`~lightsout.model.Entity` rows as the Arrow table :func:`arrow_table` makes of them."""
    get = operator.attrgetter
    columns = []
    for f in ENTITY_SCHEMA:
        values = list(map(get(f.name), entities))
        if f.name == "kind":
            values = [_KIND_VALUES[v] for v in values]
        columns.append(_column(values, f.type))
    return pa.Table.from_arrays(columns, schema=ENTITY_SCHEMA)


_BUFFER_CODES = {pa.int64(): "q", pa.float64(): "d"}
_FILL = {pa.string(): "", pa.float64(): 0.0}


def _column(values: list[Any], kind: pa.DataType) -> pa.Array:
    """A column of strings, 64-bit integers or doubles, ``None`` for null, made from buffers.
    ``pa.array`` would give the same, but its first call imports pandas where it is installed
    (0.3-0.4 s of CPU per process) and it is 2-5x slower."""
    null_count = values.count(None)
    validity = None
    if null_count:
        valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        fill = _FILL.get(kind, 0)
        values = [fill if v is None else v for v in values]
    if kind == pa.string():
        encoded = list(map(str.encode, values))
        offsets = array("i", accumulate(map(len, encoded), initial=0))  # OverflowError past 2 GiB
        buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    else:
        buffers = [validity, pa.py_buffer(array(_BUFFER_CODES[kind], values))]
    return pa.Array.from_buffers(kind, len(values), buffers, null_count)
