"""Storage: an interface (:mod:`.base`) and its backends."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from lightsout.store.base import IngestBatch, MeasurementFilter, Store, TimeSeries

__all__ = ["IngestBatch", "MeasurementFilter", "Store", "TimeSeries", "default_db_path", "open_store"]


def default_db_path() -> Path:
    """``$LIGHTSOUT_DB`` if set, else ``lightsout.duckdb`` in the user's data directory."""
    env = os.environ.get("LIGHTSOUT_DB")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("lightsout")) / "lightsout.duckdb"


def open_store(path: Path | None = None, read_only: bool = False) -> Store:
    from lightsout.store.duckdb_store import DuckDBStore

    return DuckDBStore(path or default_db_path(), read_only=read_only)
