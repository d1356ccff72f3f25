"""Table definitions derived from the model's dataclasses: one definition per table."""

from __future__ import annotations

import dataclasses
import enum
import operator
import types
import typing
from datetime import datetime
from typing import Any

import pyarrow as pa

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
