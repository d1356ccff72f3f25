"""The MRT archive connector (RIS and RouteViews) against the loopback archive replay
(``tests/replay/mrt_archive.py``): discovery from the recorded listings and broker answers, real MRT
files ingested through the MRT reader once across restarts, faults retried, gaps reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lightsout.model import HealthState
from lightsout.sources.connector import Backoff, Window, new_client
from lightsout.sources.mrt_archive import MrtArchiveConnector, MrtArchiveSettings, parse_listing
from lightsout.sources.pump import RoundLimits, RoundResult, direct_writer, health_after, run_round
from lightsout.store import Store
from replay.mrt_archive import RECORDED_PAGES, MrtArchiveReplay
from replay.server import Fault, ReplayServer

FAST = RoundLimits(attempts=3, max_wait_s=1.0, backoff_base_s=0.01)
JINX_RIB = "/routeviews/route-views.jinx/bgpdata/2014.05/RIBS/rib.20140530.2200.bz2"
JINX_UPDATES = "/routeviews/route-views.jinx/bgpdata/2014.05/UPDATES/updates.20140530.2345.bz2"
JINX_WINDOW = Window(
    "backfill/jinx", datetime(2014, 5, 30, 22, tzinfo=UTC), datetime(2014, 5, 31, tzinfo=UTC)
)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer([MrtArchiveReplay()]) as srv:
        yield srv


def _connector(server: ReplayServer, *collectors: str, **kw: object) -> MrtArchiveConnector:
    settings = MrtArchiveSettings(
        collectors=collectors,
        ris_url=f"{server.url}/ris",
        routeviews_url=f"{server.url}/routeviews",
        **kw,  # type: ignore[arg-type]
    )
    return MrtArchiveConnector("bgp", settings)


def _round(store: Store, connector: MrtArchiveConnector, window: Window) -> RoundResult:
    with new_client(timeout_s=5.0) as client:
        return run_round(connector, client, direct_writer(store), window, limits=FAST)


def _cursor(store: Store, window: Window) -> dict[str, object]:
    checkpoint = store.load_checkpoint("bgp", window.stream)
    assert checkpoint is not None
    return dict(json.loads(checkpoint.cursor))


def test_listings_are_read_from_href_in_both_layouts() -> None:
    names = {path: parse_listing(page.read_text()) for path, page in RECORDED_PAGES.items()}
    assert names["/ris/rrc00/2022.11/"] == [
        "updates.20221128.2220.gz", "updates.20221128.2215.gz",
        "bview.20221102.0800.gz", "bview.20221102.0000.gz",
    ]  # fmt: skip
    assert names["/ris/rrc00/2001.01/"] == [
        "bview.20010101.0609.gz", "bview.20010101.1410.gz",
        "updates.20010131.2236.gz", "updates.20010131.2251.gz",
    ]  # fmt: skip
    # RouteViews truncates the link text ("updates.20221001.000..>"): the href is the name.
    assert names["/routeviews/route-views.bdix/bgpdata/2022.10/UPDATES/"] == [
        "updates.20221001.0000.bz2", "updates.20221001.0015.bz2",
        "updates.20221026.1545.bz2", "updates.20221026.1600.bz2",
    ]  # fmt: skip


def test_discovery_from_listings_starts_at_a_rib_dump_and_stops_at_a_gap(server: ReplayServer) -> None:
    connector = _connector(server, "rrc00")
    window = Window("backfill/x", datetime(2022, 11, 2, 3, tzinfo=UTC), datetime(2022, 12, 1, tzinfo=UTC))
    with new_client(timeout_s=5.0) as client:
        items = list(connector.discover(client, None, window))
    # The latest RIB dump at or before the start (00:00), then the next one; the update files of
    # 28 November do not follow the 08:00 dump (thousands of files missing): a gap, not fetched.
    assert [i.key for i in items] == ["rrc00/bview.20221102.0000.gz", "rrc00/bview.20221102.0800.gz"]
    assert items[0].url == f"{server.url}/ris/rrc00/2022.11/bview.20221102.0000.gz"
    assert connector.pending is not None
    gaps = json.loads(connector.pending.cursor)["gaps"]
    assert gaps == [{"collector": "rrc00", "from": "2022-11-02T08:00:00+00:00",
                     "to": "2022-11-28T22:15:00+00:00", "missing": 7659}]  # fmt: skip
    assert "waiting for the next RIB dump" in connector.waiting["rrc00"]
    # The RouteViews month lists update files only (RIBS not recorded: 404): waits for a RIB dump.
    bdix = _connector(server, "route-views.bdix")
    october = Window("backfill/y", datetime(2022, 10, 1, tzinfo=UTC), datetime(2022, 11, 1, tzinfo=UTC))
    with new_client(timeout_s=5.0) as client:
        assert list(bdix.discover(client, None, october)) == []
    assert "no RIB dump" in bdix.waiting["route-views.bdix"]
    bdix_all = _connector(server, "route-views.bdix", wait_for_rib=False)
    with new_client(timeout_s=5.0) as client:
        keys = [i.key for i in bdix_all.discover(client, None, october)]
    assert keys == [
        "route-views.bdix/updates.20221001.0000.bz2",
        "route-views.bdix/updates.20221001.0015.bz2",
    ]


def test_discovery_from_bgpkit_broker_pages(server: ReplayServer) -> None:
    connector = _connector(server, "rrc00", broker_url=f"{server.url}/broker", broker_page_size=2)
    window = Window("backfill/b", datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 10, 5, 0, 10, tzinfo=UTC))
    with new_client(timeout_s=5.0) as client:
        items = list(connector.discover(client, None, window))
    assert [i.url for i in items] == [
        "https://data.ris.ripe.net/rrc00/2026.10/bview.20261005.0000.gz",
        "https://data.ris.ripe.net/rrc00/2026.10/updates.20261005.0000.gz",
        "https://data.ris.ripe.net/rrc00/2026.10/updates.20261005.0005.gz",
    ]
    assert [r.arg("page") for r in server.hits("/broker/search")] == ["1", "2"]  # stops: count < page_size
    assert items[-1].data_time == datetime(2026, 10, 5, 0, 10, tzinfo=UTC)


def test_rib_dump_after_faults_is_ingested_once_across_restarts_and_the_gap_reported(
    store: Store, server: ReplayServer
) -> None:
    # The archive answers HTTP 500 to every try: the round fails, health is FAILING, nothing stored.
    server.inject(Fault.status_code(500, path=JINX_RIB, count=-1))
    failed = _round(store, _connector(server, "route-views.jinx"), JINX_WINDOW)
    assert failed.items_stored == 0 and failed.error is not None and "HTTP 500" in failed.error
    now = datetime.now(UTC)
    health = health_after(None, failed, now, timedelta(minutes=5), timedelta(hours=1), Backoff())
    assert health.state is HealthState.FAILING and health.last_data is None
    assert store.load_carry("mrt/route-views.jinx") is None
    assert store.load_checkpoint("bgp", JINX_WINDOW.stream) is None
    server.clear_faults()
    # The next round: a truncated body is retried inside the round; the RIB dump is stored once.
    server.inject(Fault.truncated(path=JINX_RIB))
    first = _round(store, _connector(server, "route-views.jinx"), JINX_WINDOW)
    assert first.error is None and first.retries == 1 and first.items_stored == 1 and first.points > 0
    assert store.load_carry("mrt/route-views.jinx") is not None  # the tables the next file continues
    cursor = _cursor(store, JINX_WINDOW)
    assert cursor["collectors"] == {"route-views.jinx": {
        "file": "rib.20140530.2200.bz2", "kind": "rib", "synced": False,
        "time": "2014-05-30T22:00:00+00:00"}}  # fmt: skip
    # 22:00 to 23:45 at RouteViews' 15 minutes: 7 update files missing. The 23:45 file is not
    # fetched (tables are never carried across missing files); the collector waits for a RIB dump.
    assert cursor["gaps"] == [{"collector": "route-views.jinx", "from": "2014-05-30T22:00:00+00:00",
                               "to": "2014-05-30T23:45:00+00:00", "missing": 7}]  # fmt: skip
    assert server.hits(JINX_UPDATES) == []
    # A restarted service (a new connector) fetches nothing again.
    again = _round(store, _connector(server, "route-views.jinx"), JINX_WINDOW)
    assert again.error is None and again.items_stored == 0
    assert len(server.hits(JINX_RIB)) == FAST.attempts + 2


def test_update_files_continue_until_a_missing_file_gaps_shown(
    tmp_path: Path, store: Store, server: ReplayServer
) -> None:
    window = Window(
        "backfill/rrc15", datetime(2010, 2, 27, 16, tzinfo=UTC), datetime(2010, 2, 27, 17, tzinfo=UTC)
    )
    result = _round(store, _connector(server, "rrc15", wait_for_rib=False), window)
    assert result.error is None and result.items_stored == 1 and result.points > 0
    assert result.last_data == datetime(2010, 2, 27, 16, 5, tzinfo=UTC)
    cursor = _cursor(store, window)
    assert cursor["gaps"] == [{"collector": "rrc15", "from": "2010-02-27T16:05:00+00:00",
                               "to": "2010-02-27T16:10:00+00:00", "missing": 1}]  # fmt: skip
    assert server.hits("/ris/rrc15/2010.02/updates.20100227.1610.gz") == []
    # The gaps are shown by `lightsout sources`, GET /api/v1/sources and the dashboard's banner
    # (from the follow stream's checkpoint: the same cursor, as the service's stream).
    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from lightsout.api.app import create_app
    from lightsout.cli.service import sources
    from lightsout.model import Checkpoint, SourceHealth

    stored = store.load_checkpoint("bgp", window.stream)
    assert stored is not None
    store.save_checkpoint(Checkpoint("bgp", "follow", stored.cursor, stored.data_until, stored.updated_at))
    checkpoint = stored
    assert cursor["gaps_total"] == 1
    # Later gaps: the count goes on past the gaps kept (MAX_GAPS_KEPT), the latest is shown.
    cursor["gaps_total"], cursor["gaps"] = 60, [*cursor["gaps"], {"collector": "rrc15",
        "from": "2010-02-27T16:30:00+00:00", "to": "2010-02-27T16:45:00+00:00", "missing": 3}]  # fmt: skip
    store.save_checkpoint(Checkpoint("bgp", "follow", json.dumps(cursor), checkpoint.data_until,
                                     checkpoint.updated_at))  # fmt: skip
    now = datetime.now(UTC)
    store.save_health(SourceHealth("bgp", HealthState.OK, now, now, result.last_data, None,
                                   now + timedelta(minutes=5)))  # fmt: skip
    store.close()
    config = tmp_path / "lightsout.toml"
    config.write_text(f'[store]\npath = "test.duckdb"\n[sources.bgp]\nkind = "mrt-archive"\n'
                      f'collectors = ["rrc15"]\nris_url = "{server.url}/ris"\n')  # fmt: skip
    shown = CliRunner().invoke(sources, ["--config", str(config), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    row = json.loads(shown.output)["sources"][0]
    assert row["gaps"] == 60 and row["latest_gap"] == {"start": "2010-02-27T16:30:00+00:00",
        "end": "2010-02-27T16:45:00+00:00", "missing": 3, "where": "rrc15"}  # fmt: skip
    assert row["last_data"] == "2010-02-27T16:05:00+00:00" and row["last_error"] is None
    assert row["next_attempt"] and row["lag_s"] > 0
    table = CliRunner().invoke(sources, ["--config", str(config)])
    assert "60 gap(s), latest rrc15 2010-02-27 16:30..2010-02-27 16:45 UTC, 3 file(s) missing" in table.output
    with TestClient(create_app(tmp_path / "test.duckdb", None)) as client:
        api = client.get("/api/v1/sources").json()["data"]
        assert api["sources"][0]["gaps"] == 60 and api["sources"][0]["latest_gap"]["missing"] == 3
        assert api["state"] == "live"  # a gap is missing data: the view's state does not change
        page = client.get("/").text
    assert "60 gap(s), latest rrc15 2010-02-27 16:30..2010-02-27 16:45 UTC" in page
    assert "(missing data, not an outage)" in page


def test_file_over_the_size_cap_is_not_ingested(store: Store, server: ReplayServer) -> None:
    result = _round(store, _connector(server, "route-views.jinx", max_file_mb=1.0), JINX_WINDOW)
    assert result.items_stored == 1 and result.unreadable == 1 and result.points == 0
    assert "larger than max_file_mb" in result.notes[0]


def test_archive_files_pass_the_ingest_bounds(
    store: Store, server: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file from the archive is checked as `lightsout ingest` checks a file (ingest.check_parsed):
    more points than LIGHTSOUT_MAX_POINTS and it is unreadable, nothing of it stored."""
    monkeypatch.setenv("LIGHTSOUT_MAX_POINTS", "10")
    window = Window(
        "backfill/rrc15", datetime(2010, 2, 27, 16, tzinfo=UTC), datetime(2010, 2, 27, 16, 5, tzinfo=UTC)
    )
    result = _round(store, _connector(server, "rrc15", wait_for_rib=False), window)
    assert result.items_stored == 1 and result.unreadable == 1 and result.points == 0
    assert "exceed the limit of 10 per file (LIGHTSOUT_MAX_POINTS)" in result.notes[0]
    assert store.series() == []


def test_config_builds_the_connector_and_refuses_unknown_collectors(tmp_path: Path) -> None:
    from lightsout.service.config import ConfigError, load_config
    from lightsout.service.run import build_connector

    path = tmp_path / "lightsout.toml"
    head = '[store]\npath = "x.duckdb"\n[sources.bgp]\nkind = "mrt-archive"\n'
    path.write_text(head + 'collectors = ["rrc00", "route-views2"]\nmax_file_mb = 64\nsettle = "5m"\n')
    config = load_config(path)
    connector = build_connector(config.source("bgp"), config)
    assert isinstance(connector, MrtArchiveConnector)
    assert connector.settings.collectors == ("rrc00", "route-views2")
    assert (connector.settings.max_file_mb, connector.settings.settle) == (64.0, timedelta(minutes=5))
    path.write_text(head + 'collectors = ["amsix.ams"]\n')
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"sources\.bgp\.collectors: 'amsix\.ams' is not a RIS"):
        build_connector(config.source("bgp"), config)
