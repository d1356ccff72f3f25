"""The service's configuration: a TOML file (``lightsout.example.toml`` documents every key).

Parsed once, at the edge, into typed values; any mistake is one line naming the file and the key.
Secrets are never written in the file: a key ending in ``_env`` names the environment variable
that holds the secret (``token_env = "CLOUDFLARE_API_TOKEN"``); an inline ``token``, ``api_key``,
``password`` or ``secret`` is refused.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from lightsout.errors import UserError
from lightsout.store.location import ClickHouseLocation, StoreLocation, parse_location

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SECRET_KEYS = re.compile(r"(^|_)(token|api_key|apikey|key|password|secret)$")

# The connector of each source kind: "module:function(SourceConfig, ServiceConfig) -> Connector".
CONNECTOR_KINDS: dict[str, str] = {
    "ooni-api": "lightsout.sources.ooni_api:from_config",
    "probing": "lightsout.sources.probing.connector:from_config",
    "ioda-api": "lightsout.sources.ioda_api:from_config",
    "cloudflare-radar": "lightsout.sources.cloudflare_radar_api:from_config",
    "mrt-archive": "lightsout.sources.mrt_archive:from_config",
    "ris-live": "lightsout.sources.ris_live:from_config",
}
# A stream is read in rounds one right after the other (each reads it for its `round`); polled
# sources every 15 minutes.
DEFAULT_EVERY = {"ris-live": "0.1s"}


class ConfigError(UserError):
    def __init__(self, path: Path, key: str, message: str) -> None:
        super().__init__(f"{path}: {key}: {message}" if key else f"{path}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One ``[sources.NAME]`` table: the common keys, typed; the connector's own keys in ``options``."""

    name: str
    kind: str
    every: timedelta  # time between rounds when all is well
    late_after: timedelta  # newest data older than this: the source is LATE
    start: timedelta | datetime  # the first round reaches this far back, or back to this time
    options: dict[str, Any]
    config_path: Path

    def option(self, key: str, kind: type, default: Any = None) -> Any:
        """A connector's own key, type-checked (one-line error naming ``sources.NAME.key``)."""
        value = self.options.get(key, default)
        if value is None:
            return None
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            raise ConfigError(self.config_path, self.key(key), f"expected {kind.__name__}, got {value!r}")
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.options.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(self.config_path, self.key(key), f"expected a list of strings, got {value!r}")
        return tuple(value)

    def duration(self, key: str, default: str) -> timedelta:
        return parse_duration(self.options.get(key, default), self.config_path, self.key(key))

    def secret(self, key: str) -> str | None:
        """The secret named by ``<key>_env`` (None when that key is absent); an unset variable is an error."""
        name = self.options.get(f"{key}_env")
        if name is None:
            return None
        value = os.environ.get(str(name))
        if not value:
            raise ConfigError(
                self.config_path, self.key(f"{key}_env"), f"environment variable {name} is not set"
            )
        return value

    def key(self, key: str) -> str:
        return f"sources.{self.name}.{key}"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    path: Path
    store: StoreLocation  # a DuckDB file ([store] path) or a ClickHouse database ([store] url)
    host: str = "127.0.0.1"
    port: int = 8000
    api_token_env: str | None = None
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    networks: tuple[int, ...] = ()
    detect_every: timedelta = timedelta(minutes=1)
    sources: dict[str, SourceConfig] = field(default_factory=dict)

    def source(self, name: str) -> SourceConfig:
        if name not in self.sources:
            known = ", ".join(sorted(self.sources)) or "none"
            raise UserError(f"{self.path}: no source {name!r} configured (sources: {known})")
        return self.sources[name]

    def api_token(self) -> str | None:
        if self.api_token_env is None:
            return None
        value = os.environ.get(self.api_token_env)
        if not value:
            message = f"environment variable {self.api_token_env} is not set"
            raise ConfigError(self.path, "serve.token_env", message)
        return value


def parse_duration(value: object, path: Path, key: str) -> timedelta:
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(path, key, f'expected a duration like "30s", "15m", "6h" or "2d", got {value!r}')
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(path, key, "must be longer than zero")
    return timedelta(seconds=seconds)


def load_config(path: Path) -> ServiceConfig:
    if not path.is_file():
        raise UserError(f"{path}: no such config file (lightsout.example.toml shows every key)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "", "not UTF-8 text") from None
    _refuse_inline_secrets(path, data, "")
    _only(path, data, "", {"store", "serve", "watch", "detect", "sources"})
    store = _table(path, data, "store")
    _only(path, store, "store", {"path", "url"})
    serve = _table(path, data, "serve")
    _only(path, serve, "serve", {"host", "port", "token_env"})
    watch = _table(path, data, "watch")
    _only(path, watch, "watch", {"countries", "regions", "networks"})
    detect = _table(path, data, "detect")
    _only(path, detect, "detect", {"every"})
    store_path: StoreLocation = Path(_get(path, store, "store.path", str, "lightsout.duckdb"))
    if "url" in store:  # a ClickHouse database instead of a DuckDB file
        if "path" in store:
            raise ConfigError(path, "store.url", "give store.path (a DuckDB file) or store.url, not both")
        url = _get(path, store, "store.url", str, "")
        try:
            store_path = parse_location(url)
        except UserError as exc:
            raise ConfigError(path, "store.url", str(exc)) from None
        if not isinstance(store_path, ClickHouseLocation):
            raise ConfigError(path, "store.url", f"expected clickhouse://host:port/database, got {url!r}")
    elif isinstance(store_path, Path) and not store_path.is_absolute():
        store_path = (path.parent / store_path).resolve()
    port = _get(path, serve, "serve.port", int, 8000)
    if not 0 <= port <= 65535:
        raise ConfigError(path, "serve.port", f"expected 0..65535, got {port}")
    countries = tuple(c.upper() for c in _list(path, watch, "watch.countries", str))
    for code in countries:
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise ConfigError(path, "watch.countries", f"expected ISO 3166-1 alpha-2 codes, got {code!r}")
    networks = tuple(_asn(path, v) for v in _list(path, watch, "watch.networks", (int, str)))
    sources: dict[str, SourceConfig] = {}
    for name, table in _table(path, data, "sources").items():
        if not isinstance(table, dict):
            raise ConfigError(path, f"sources.{name}", "expected a table ([sources.NAME])")
        sources[name] = _source(path, name, table)
    config = ServiceConfig(
        path=path,
        store=store_path,
        host=_get(path, serve, "serve.host", str, "127.0.0.1"),
        port=port,
        api_token_env=_get(path, serve, "serve.token_env", str, None),
        countries=countries,
        regions=tuple(_list(path, watch, "watch.regions", str)),
        networks=networks,
        detect_every=parse_duration(detect.get("every", "1m"), path, "detect.every"),
        sources=sources,
    )
    return config


def _source(path: Path, name: str, table: dict[str, Any]) -> SourceConfig:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ConfigError(path, f"sources.{name}", "source names are lower-case letters, digits, - and _")
    kind = table.get("kind")
    if kind not in CONNECTOR_KINDS:
        kinds = ", ".join(sorted(CONNECTOR_KINDS))
        raise ConfigError(path, f"sources.{name}.kind", f"expected one of {kinds}, got {kind!r}")
    common = {"kind", "every", "late_after", "start"}
    every = table.get("every", DEFAULT_EVERY.get(kind, "15m"))
    return SourceConfig(
        name=name,
        kind=kind,
        every=parse_duration(every, path, f"sources.{name}.every"),
        late_after=parse_duration(table.get("late_after", "6h"), path, f"sources.{name}.late_after"),
        start=_start(table.get("start", "1d"), path, f"sources.{name}.start"),
        options={k: v for k, v in table.items() if k not in common},
        config_path=path,
    )


def _start(value: object, path: Path, key: str) -> timedelta | datetime:
    """A duration ("2d") or a time (TOML date / date-time, or ISO text), UTC unless it says otherwise."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and not _DURATION.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return parse_duration(value, path, key)


def _refuse_inline_secrets(path: Path, table: dict[str, Any], prefix: str) -> None:
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            _refuse_inline_secrets(path, value, f"{dotted}.")
        elif _SECRET_KEYS.search(key) and not key.endswith("_env"):
            raise ConfigError(
                path, dotted,
                f"secrets are never written in the config: put it in an environment variable and name it "
                f'with {key}_env = "VARIABLE"',
            )


def _only(path: Path, table: dict[str, Any], where: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            dotted = f"{where}.{key}" if where else key
            raise ConfigError(path, dotted, f"unknown key (expected one of {', '.join(sorted(allowed))})")


def _table(path: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(path, key, "expected a table")
    return value


def _get(path: Path, table: dict[str, Any], dotted: str, kind: type, default: Any) -> Any:
    value = table.get(dotted.rsplit(".", 1)[-1], default)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ConfigError(path, dotted, f"expected {kind.__name__}, got {value!r}")
    return value


def _list(path: Path, table: dict[str, Any], dotted: str, kind: type | tuple[type, ...]) -> list[Any]:
    value = table.get(dotted.rsplit(".", 1)[-1], [])
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise ConfigError(path, dotted, f"expected a list, got {value!r}")
    return value


def _asn(path: Path, value: int | str) -> int:
    text = str(value).upper().removeprefix("AS")
    if not text.isdigit() or not 0 < int(text) < 2**32:
        message = f'expected AS numbers (12880 or "AS12880"), got {value!r}'
        raise ConfigError(path, "watch.networks", message)
    return int(text)


def first_round_start(source: SourceConfig, now: datetime | None = None) -> datetime:
    """Where following begins when a source has no checkpoint yet."""
    if isinstance(source.start, datetime):
        return source.start
    return (now or datetime.now(UTC)) - source.start
