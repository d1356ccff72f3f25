"""Storage: an interface (:mod:`.base`) and its backends: DuckDB (a file) and ClickHouse (a server)."""

from __future__ import annotations

from pathlib import Path

from lightsout.store.base import IngestBatch, MeasurementFilter, Store, TimeSeries
from lightsout.store.location import (
    ClickHouseLocation,
    StoreLocation,
    default_location,
    parse_location,
    sidecar_base,
)

__all__ = [
    "ClickHouseLocation",
    "IngestBatch",
    "MeasurementFilter",
    "Store",
    "StoreLocation",
    "TimeSeries",
    "default_db_path",
    "default_location",
    "open_store",
    "parse_location",
    "sidecar_base",
]


def default_db_path() -> Path:
    """A local path for the default store: ``$LIGHTSOUT_DB`` if it is a file, else the file that
    names the store (:func:`sidecar_base`); for files kept beside the store."""
    return sidecar_base(default_location())


def open_store(location: StoreLocation | str | None = None, read_only: bool = False) -> Store:
    """Open the store at ``location`` (a DuckDB file path, or a ``clickhouse://`` URL or
    :class:`ClickHouseLocation`); by default ``$LIGHTSOUT_DB`` or the user's DuckDB file."""
    where = default_location() if location is None else parse_location(location)
    if isinstance(where, ClickHouseLocation):
        from lightsout.store.clickhouse_store import ClickHouseStore

        return ClickHouseStore(where, read_only=read_only)
    from lightsout.store.duckdb_store import DuckDBStore

    return DuckDBStore(where, read_only=read_only)
