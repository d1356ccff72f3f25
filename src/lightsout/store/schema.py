"""Table definitions derived from the model's dataclasses: one definition per table."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from typing import Any

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
