"""The IODA API v2 connector against the recorded answers (loopback replay) with injected faults:
slices, checkpoints, resume, 429 with Retry-After, 500, truncated and slow bodies; every item fetched
and stored once; what is stored equals what the recorded answers hold."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from lightsout.model import SeriesKey, SignalKind
from lightsout.sources.connector import Window, new_client
from lightsout.sources.ioda_api import IodaApiConnector, IodaApiSettings
from lightsout.sources.pump import RoundLimits, RoundResult, direct_writer, run_round
from lightsout.store import Store
from replay.ioda import IRAQ, IodaReplay
from replay.server import Fault, ReplayServer

SIGNALS = "/v2/signals/raw/"
FAST = RoundLimits(attempts=4, max_wait_s=3.0, backoff_base_s=0.01)
# Iraq, 20 August 2023 01:00 UTC to 21 August 07:00: five 6-hour slices, the 21 August exam cut inside.
IRAQ_WINDOW = Window(
    "backfill/iraq", datetime(2023, 8, 20, 0, tzinfo=UTC), datetime(2023, 8, 21, 6, tzinfo=UTC)
)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer([IodaReplay()]) as srv:
        yield srv


def _round(
    store: Store, server: ReplayServer, settings: IodaApiSettings, window: Window = IRAQ_WINDOW, **kw: object
) -> RoundResult:
    kw.setdefault("limits", FAST)
    connector = IodaApiConnector("ioda", settings)
    with new_client(timeout_s=float(kw.pop("timeout_s", 5.0))) as client:  # type: ignore[arg-type]
        return run_round(connector, client, direct_writer(store), window, **kw)  # type: ignore[arg-type]


def _iraq_settings(server: ReplayServer, **kw: object) -> IodaApiSettings:
    return IodaApiSettings(countries=("IQ",), base_url=f"{server.url}/v2", **kw)  # type: ignore[arg-type]


def _expected_iraq(datasource: str) -> tuple[np.ndarray, np.ndarray]:
    """The recorded series inside the window, read straight from the file (nulls dropped)."""
    series = next(
        s for group in json.loads(IRAQ.read_text())["data"] for s in group if s["datasource"] == datasource
    )
    times = series["from"] + series["step"] * np.arange(len(series["values"]))
    values = np.array([np.nan if v is None else v for v in series["values"]], dtype=float)
    inside = (
        (times >= IRAQ_WINDOW.since.timestamp()) & (times < IRAQ_WINDOW.until.timestamp()) & ~np.isnan(values)
    )  # type: ignore[union-attr]
    return times[inside], values[inside]


def _assert_iraq_stored(store: Store) -> None:
    kinds = {
        "bgp": SignalKind.BGP_SLASH24S,
        "ping-slash24": SignalKind.PROBING_UP_SLASH24S,
        "merit-nt": SignalKind.TELESCOPE_UNIQUE_SOURCES,
        "gtr": SignalKind.GOOGLE_TRAFFIC,
    }
    for datasource, kind in kinds.items():
        got = store.points(SeriesKey("country/IQ", kind, "ioda", 300))
        times, values = _expected_iraq(datasource)
        assert np.array_equal(got.times_s, times), datasource
        assert np.array_equal(got.values, values), datasource


def test_backfill_slices_store_the_recorded_series_once(store: Store, server: ReplayServer) -> None:
    result = _round(store, server, _iraq_settings(server, events=False))
    assert result.error is None
    assert result.items_stored == 5 * 5  # five slices x five datasources
    _assert_iraq_stored(store)
    # One request per item, each slice asked with from/until on the 6-hour grid.
    keys = Counter((r.path, r.arg("datasource"), r.arg("from")) for r in server.hits(SIGNALS))
    assert len(keys) == 25 and set(keys.values()) == {1}
    checkpoint = store.load_checkpoint("ioda", IRAQ_WINDOW.stream)
    assert checkpoint is not None and checkpoint.data_until == IRAQ_WINDOW.until
    # Run again: nothing new to discover, nothing fetched.
    again = _round(store, server, _iraq_settings(server, events=False))
    assert again.items_stored == 0 and len(server.hits(SIGNALS)) == 25


def test_killed_round_resumes_without_fetching_twice(store: Store, server: ReplayServer) -> None:
    first = _round(
        store,
        server,
        _iraq_settings(server, events=False),
        limits=RoundLimits(max_items=7, backoff_base_s=0.01),
    )
    assert first.items_stored == 7  # stopped inside the second slice
    second = _round(store, server, _iraq_settings(server, events=False))
    assert second.items_stored == 25 - 7
    # The cursor stood at the end of the first slice; the ledger skips the two items of the second
    # slice that were stored before the stop...
    keys = Counter((r.path, r.arg("datasource"), r.arg("from")) for r in server.hits(SIGNALS))
    assert second.items_known == 2
    assert len(keys) == 25 and set(keys.values()) == {1}  # ...so no item is asked twice
    _assert_iraq_stored(store)


def test_faults_are_retried_and_nothing_is_lost_or_doubled(store: Store, server: ReplayServer) -> None:
    server.inject(Fault.rate_limit("1", path=SIGNALS))
    server.inject(Fault.status_code(500, path=SIGNALS))
    server.inject(Fault.truncated(path=SIGNALS))
    server.inject(Fault.status_code(503, path="/v2/outages/events"))
    result = _round(store, server, _iraq_settings(server))
    assert result.error is None and result.retries == 4
    assert result.items_stored == 5 * 6  # five datasources and the events, per slice
    _assert_iraq_stored(store)
    # The 429 was waited out: its retry came at least Retry-After (1 s) later.
    hits = server.hits(SIGNALS)
    assert hits[1].at - hits[0].at >= 1.0
    assert len(hits) == 25 + 3


def test_slow_body_times_out_and_is_fetched_again(store: Store, server: ReplayServer) -> None:
    server.inject(Fault.slow(0.6, path=SIGNALS))
    result = _round(store, server, _iraq_settings(server, events=False), timeout_s=0.5)
    assert result.error is None and result.retries == 1
    _assert_iraq_stored(store)


def test_source_down_ends_the_round_as_an_error_not_data(store: Store, server: ReplayServer) -> None:
    server.inject(Fault.status_code(500, path=SIGNALS, count=-1))
    result = _round(store, server, _iraq_settings(server))
    assert result.items_stored == 0 and result.error is not None and "HTTP 500" in result.error
    assert store.series() == [] and store.load_checkpoint("ioda", IRAQ_WINDOW.stream) is None


def test_recorded_countries_regions_networks_and_events(
    store: Store, server: ReplayServer, shared_data: Path
) -> None:
    # The recordings: 2026-10-07 12:00-14:00 UTC, ET/NZ/TN, NZ regions 3046/3047, AS9500.
    window = Window(
        "backfill/recorded", datetime.fromtimestamp(1791374400, UTC), datetime.fromtimestamp(1791381600, UTC)
    )
    settings = IodaApiSettings(countries=("ET", "NZ", "TN"), regions=("3046", "3047"), asns=(9500,),
                               base_url=f"{server.url}/v2", slice=timedelta(hours=2))  # fmt: skip
    result = _round(store, server, settings, window)
    assert result.error is None
    et = store.points(SeriesKey("country/ET", SignalKind.BGP_SLASH24S, "ioda", 1800))
    assert et.values.tolist() == [4648, 4562.666666666667, 4605.333333333333, 4648]
    assert (
        store.points(SeriesKey("region/NZ-GIS", SignalKind.BGP_SLASH24S, "ioda", 1800)).values.tolist()
        == [307] * 4
    )
    assert (
        store.points(SeriesKey("network/AS9500", SignalKind.BGP_SLASH24S, "ioda", 1800)).values.tolist()
        == [3349] * 4
    )
    nz = store.points(SeriesKey("country/NZ", SignalKind.GOOGLE_TRAFFIC_NORMALISED, "ioda", 1800))
    assert nz.values.tolist() == [1, 0.27939953250038435]
    # Events overlapping the window (TN probing since 29 September, ET BGP at 12:50), as external events.
    events = store.external_events()
    assert [(e.entity_id, e.datasource) for e in events] == [
        ("country/TN", "ping-slash24"),
        ("country/ET", "bgp"),
    ]
    events_requests = server.hits("/v2/outages/events")
    assert {r.arg("format") for r in events_requests} == {"ioda"}


def test_config_defaults_from_watch_and_checks(tmp_path: Path) -> None:
    from lightsout.errors import UserError
    from lightsout.service.config import load_config
    from lightsout.service.run import build_connector

    path = tmp_path / "lightsout.toml"
    path.write_text('[watch]\ncountries = ["IQ"]\nnetworks = ["AS9500"]\n[sources.ioda]\nkind = "ioda-api"\n')
    config = load_config(path)
    connector = build_connector(config.source("ioda"), config)
    assert isinstance(connector, IodaApiConnector)
    assert connector.settings.groups() == [("country", "IQ"), ("asn", "9500")]
    path.write_text('[sources.ioda]\nkind = "ioda-api"\nregions = ["Baghdad"]\n')
    with pytest.raises(UserError, match=r"sources\.ioda\.regions: expected ISO 3166-2 codes"):
        build_connector(load_config(path).source("ioda"), load_config(path))


def test_freshness_is_the_newest_bin_stored_not_the_slice(store: Store, server: ReplayServer) -> None:
    result = _round(store, server, _iraq_settings(server))
    assert result.last_data == IRAQ_WINDOW.until  # the last 5-minute bin, 05:55-06:00
    # After the recording ends IODA's answers are empty: the slices are done, but no data is new.
    later = Window("backfill/later", datetime(2023, 9, 1, tzinfo=UTC), datetime(2023, 9, 2, tzinfo=UTC))
    empty = _round(store, server, _iraq_settings(server), later)
    assert empty.error is None and empty.items_stored == 4 * 6 and empty.last_data is None


def test_iso_regions_looked_up_in_iodas_entities(store: Store, server: ReplayServer) -> None:
    window = Window(
        "backfill/nz", datetime.fromtimestamp(1791374400, UTC), datetime.fromtimestamp(1791381600, UTC)
    )
    settings = IodaApiSettings(regions=("NZ-GIS", "NZ-MWT", "NZ-AUK"), datasources=("bgp",), events=False,
                               base_url=f"{server.url}/v2", slice=timedelta(hours=2))  # fmt: skip
    connector = IodaApiConnector("ioda", settings)
    with new_client(timeout_s=5) as client:
        result = run_round(connector, client, direct_writer(store), window, limits=FAST)
    assert result.error is None
    # Gisborne and Manawatu-Wanganui are IODA's regions 3047 and 3046; IODA's recording has no Auckland.
    assert [r.path for r in server.hits("/v2/signals/raw/")] == ["/v2/signals/raw/region/3047,3046"]
    assert connector.unresolved_regions == ("NZ-AUK",)
    assert (
        store.points(SeriesKey("region/NZ-GIS", SignalKind.BGP_SLASH24S, "ioda", 1800)).values.tolist()
        == [307] * 4
    )
    assert (
        store.points(SeriesKey("region/NZ-MWT", SignalKind.BGP_SLASH24S, "ioda", 1800)).values.tolist()
        == [1471] * 4
    )
