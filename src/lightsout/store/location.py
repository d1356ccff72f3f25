"""Where a store lives: a DuckDB file (a path) or a ClickHouse database (``clickhouse://`` URL)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import platformdirs

from lightsout.errors import UserError

DEFAULT_CLICKHOUSE_PORT = 9000  # the native protocol's
DEFAULT_CLICKHOUSE_DATABASE = "lightsout"
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class ClickHouseLocation:
    """A ClickHouse database reached by the native protocol."""

    host: str
    port: int = DEFAULT_CLICKHOUSE_PORT
    database: str = DEFAULT_CLICKHOUSE_DATABASE
    user: str = "default"
    password: str = field(default="", repr=False)

    def __str__(self) -> str:  # never shows the password
        user = f"{self.user}@" if self.user != "default" else ""
        return f"clickhouse://{user}{self.host}:{self.port}/{self.database}"


StoreLocation = Path | ClickHouseLocation


def parse_location(text: str | StoreLocation) -> StoreLocation:
    """``clickhouse://[user[:password]@]host[:port][/database]`` or a DuckDB file path."""
    if not isinstance(text, str):
        return text
    if "://" not in text:
        return Path(text)
    parts = urlsplit(text)
    if parts.scheme != "clickhouse":
        raise UserError(
            f"unknown store URL {text!r}: expected a file path or clickhouse://host:port/database"
        )
    try:
        port = parts.port or DEFAULT_CLICKHOUSE_PORT
    except ValueError:
        raise UserError(f"store URL {text!r}: the port is not a number from 1 to 65535") from None
    database = parts.path.strip("/") or DEFAULT_CLICKHOUSE_DATABASE
    if not _DATABASE_NAME.fullmatch(database):
        raise UserError(f"store URL {text!r}: database name {database!r} must be letters, digits and _")
    if not parts.hostname:
        raise UserError(f"store URL {text!r}: no host")
    return ClickHouseLocation(
        host=parts.hostname,
        port=port,
        database=database,
        user=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
    )


def default_location() -> StoreLocation:
    """``$LIGHTSOUT_DB`` (a path or a ``clickhouse://`` URL) if set, else the default DuckDB file."""
    env = os.environ.get("LIGHTSOUT_DB")
    if env:
        return parse_location(env)
    return Path(platformdirs.user_data_dir("lightsout")) / "lightsout.duckdb"


def sidecar_base(location: StoreLocation) -> Path:
    """A local file path naming the store, for files kept beside it (e.g. the webhook registry):
    the DuckDB file itself, or for a ClickHouse database a name in the user's data directory."""
    if isinstance(location, Path):
        return location
    name = f"clickhouse-{location.host}-{location.port}-{location.database}"
    return Path(platformdirs.user_data_dir("lightsout")) / name
