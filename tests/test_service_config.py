"""The service's TOML config: the commented example loads; mistakes are one line naming the key;
secrets only by environment variable name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lightsout.service.config import ConfigError, load_config
from lightsout.service.run import build_connector
from lightsout.sources.ooni_api import OoniApiConnector

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lightsout.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_loads_and_builds_its_connectors() -> None:
    config = load_config(REPO / "lightsout.example.toml")
    assert config.store == REPO / "lightsout.duckdb"
    assert (config.host, config.port) == ("127.0.0.1", 8000)
    assert config.countries == ("IR", "RU", "KZ", "IQ")
    ooni = config.source("ooni")
    assert (ooni.kind, ooni.every) == ("ooni-api", timedelta(minutes=15))
    assert ooni.late_after == timedelta(hours=12)
    connector = build_connector(ooni, config)
    assert isinstance(connector, OoniApiConnector)
    assert connector.settings.countries == config.countries and connector.settings.slice_days == 7


def test_the_demo_config_loads() -> None:
    config = load_config(REPO / "scripts" / "live-demo.toml")
    assert config.source("ooni").start == datetime(2020, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[sources.radar]\nkind = "ooni-api"\ntoken = "abc"\n', "sources.radar.token", "token_env"),
        ('[sources.x]\nkind = "ooni-api"\napi_key = "abc"\n', "sources.x.api_key", "environment variable"),
        ('[sources.ooni]\nkind = "ooni-api"\nevery = 15\n', "sources.ooni.every", "duration"),
        ('[sources.ooni]\nkind = "ooni-api"\nevery = "15 minutes"\n', "sources.ooni.every", "duration"),
        ('[sources.ooni]\nkind = "ioda-v9"\n', "sources.ooni.kind", "expected one of"),
        ("[serve]\nport = 99999\n", "serve.port", "0..65535"),
        ('[serve]\nport = "80"\n', "serve.port", "expected int"),
        ('[watch]\ncountries = ["Iran"]\n', "watch.countries", "alpha-2"),
        ('[watch]\nnetworks = ["ASX"]\n', "watch.networks", "AS numbers"),
        ("[serve]\nbind = 1\n", "serve.bind", "unknown key"),
        ("colour = 1\n", "colour", "unknown key"),
        ("[serve\n", "", "not valid TOML"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: {key}")
    assert words in message


def test_connector_options_are_checked_when_built(tmp_path: Path) -> None:
    path = _write(tmp_path, '[sources.ooni]\nkind = "ooni-api"\ncountries = ["IR"]\nslice_days = 365\n')
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"sources\.ooni\.slice_days: expected 1\.\.180"):
        build_connector(config.source("ooni"), config)
    path = _write(tmp_path, '[sources.ooni]\nkind = "ooni-api"\n')
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"sources\.ooni\.countries: no countries"):
        build_connector(config.source("ooni"), config)


def test_secrets_come_from_the_named_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        '[serve]\ntoken_env = "LIGHTSOUT_TEST_TOKEN"\n'
        '[sources.ooni]\nkind = "ooni-api"\ncountries = ["IR"]\nsecret_env = "OONI_TEST"\n',
    )
    config = load_config(path)
    monkeypatch.delenv("LIGHTSOUT_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"serve\.token_env: environment variable LIGHTSOUT_TEST_TOKEN"):
        config.api_token()
    monkeypatch.setenv("LIGHTSOUT_TEST_TOKEN", "t" * 20)
    assert config.api_token() == "t" * 20
    monkeypatch.delenv("OONI_TEST", raising=False)
    with pytest.raises(ConfigError, match=r"sources\.ooni\.secret_env"):
        config.source("ooni").secret("secret")
    monkeypatch.setenv("OONI_TEST", "s3cret")
    assert config.source("ooni").secret("secret") == "s3cret"


def test_unknown_source_names_the_configured_ones(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[sources.ooni]\nkind = "ooni-api"\n'))
    with pytest.raises(Exception, match=r"no source 'ioda' configured \(sources: ooni\)"):
        config.source("ioda")


def test_the_store_may_be_a_clickhouse_database(tmp_path: Path) -> None:
    from lightsout.store import ClickHouseLocation

    config = load_config(_write(tmp_path, '[store]\nurl = "clickhouse://db.example:9001/obs"\n'))
    assert config.store == ClickHouseLocation("db.example", 9001, "obs")
    assert load_config(_write(tmp_path, '[store]\npath = "x.duckdb"\n')).store == tmp_path / "x.duckdb"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[store]\nurl = "clickhouse://h/db"\npath = "x.duckdb"\n', "not both"),
        ('[store]\nurl = "x.duckdb"\n', "expected clickhouse://"),
        ('[store]\nurl = "clickhouse://h/bad-name"\n', "database name"),
    ],
)
def test_a_bad_store_url_is_one_line_naming_the_key(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        load_config(_write(tmp_path, text))
    assert "store.url" in str(caught.value) and "\n" not in str(caught.value)
