"""The store backends the store tests run on: DuckDB (a file), ClickHouse on a server (Debian's
18.16 in CI, started by scripts/ci-clickhouse.sh) and ClickHouse in-process through chdb (current
ClickHouse: the same SQL must work on both). Each test gets its own database, dropped after it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from lightsout.store import ClickHouseLocation, Store, open_store, parse_location
from lightsout.store.clickhouse_sql import literal
from lightsout.store.clickhouse_store import ClickHouseStore

CLICKHOUSE_URL = os.environ.get("LIGHTSOUT_TEST_CLICKHOUSE", "clickhouse://127.0.0.1:9000")
BACKENDS = ["duckdb", "clickhouse", "chdb"]


@cache
def clickhouse_unavailable() -> str | None:
    """Why no ClickHouse server can be used, or None when one answers."""
    location = parse_location(CLICKHOUSE_URL)
    assert isinstance(location, ClickHouseLocation)
    try:
        from clickhouse_driver import Client
    except ImportError:
        return "clickhouse-driver is not installed"
    client = Client(host=location.host, port=location.port, connect_timeout=2)
    try:
        client.execute("SELECT 1")
    except Exception as exc:
        where = f"{location.host}:{location.port}"
        hint = "scripts/ci-clickhouse.sh starts one"
        return f"no ClickHouse server answers at {where} ({type(exc).__name__}); {hint}"
    finally:
        client.disconnect()
    return None


@cache
def chdb_unavailable() -> str | None:
    try:
        import chdb  # noqa: F401
    except ImportError:
        return "chdb (in-process current ClickHouse) is not installed"
    return None


class ChdbConnection:
    """A :class:`lightsout.store.clickhouse_store.Connection` over chdb: the store's statements run
    unchanged on current ClickHouse. chdb allows one session per process, shared by every test."""

    _session: Any = None
    _lock = threading.Lock()

    def __init__(self, database: str) -> None:
        from chdb import session

        with ChdbConnection._lock:
            if ChdbConnection._session is None:
                ChdbConnection._session = session.Session()
        self.database = database
        self._run(f"CREATE DATABASE IF NOT EXISTS {database}", use=False)

    def _run(self, sql: str, fmt: str = "CSV", use: bool = True) -> Any:
        with ChdbConnection._lock:
            if use:
                ChdbConnection._session.query(f"USE {self.database}")
            return ChdbConnection._session.query(sql, fmt)

    def query(self, sql: str, *, binary: bool = False) -> list[tuple[Any, ...]]:
        if not sql.lstrip().upper().startswith("SELECT"):
            self._run(sql)
            return []
        if binary:
            sql += " SETTINGS output_format_arrow_string_as_string = 0"
        table = self._run(sql, "ArrowTable")
        columns = [column.to_pylist() for column in table.columns]
        return [tuple(_plain(column[i]) for column in columns) for i in range(table.num_rows)]

    def insert(self, table: str, columns: Sequence[str], data: Sequence[Any]) -> None:
        if not data or not len(data[0]):
            return
        data = [column.tolist() if hasattr(column, "tolist") else column for column in data]
        rows = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in zip(*data, strict=True))
        self._run(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {rows}")

    def drop(self) -> None:
        self._run(f"DROP DATABASE IF EXISTS {self.database}", use=False)

    def close(self) -> None:
        pass


def _plain(value: Any) -> Any:
    """Arrow's struct (a ClickHouse tuple) as the tuple clickhouse-driver returns."""
    if isinstance(value, dict):
        return tuple(_plain(v) for v in value.values())
    return value


class Backend:
    """One store location of one backend for one test: open it (again) and drop it."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.database = f"lightsout_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        self.location: Path | ClickHouseLocation
        self._chdb: list[ChdbConnection] = []
        if kind == "duckdb":
            self.location = tmp_path / "store.duckdb"
        else:
            server = parse_location(CLICKHOUSE_URL)
            assert isinstance(server, ClickHouseLocation)
            self.location = ClickHouseLocation(
                server.host, server.port, self.database, server.user, server.password
            )

    def open(self, read_only: bool = False) -> Store:
        if self.kind == "chdb":
            assert isinstance(self.location, ClickHouseLocation)
            connection = ChdbConnection(self.database)
            self._chdb.append(connection)
            return ClickHouseStore(self.location, read_only=read_only, connection=connection)
        return open_store(self.location, read_only=read_only)

    def drop(self) -> None:
        if self.kind == "clickhouse":
            from clickhouse_driver import Client

            assert isinstance(self.location, ClickHouseLocation)
            client = Client(host=self.location.host, port=self.location.port)
            try:
                client.execute(f"DROP DATABASE IF EXISTS {self.database}")
            finally:
                client.disconnect()
        elif self.kind == "chdb" and self._chdb:
            self._chdb[0].drop()
