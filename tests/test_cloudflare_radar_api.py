"""The Cloudflare Radar connector against a loopback replay (tests/replay/cloudflare_radar.py):
annotations as external events; traffic answers, each MIN0_MAX-normalised on its own, put on one
scale by the anchor window they all ask for, whatever stream fetched them; the token sent, a
refused token a source failure (not data); 429 with Retry-After, 500 and truncated bodies retried;
every item stored once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from lightsout.model import SeriesKey, SignalKind
from lightsout.sources.cloudflare_radar_api import CloudflareRadarConnector, RadarSettings
from lightsout.sources.connector import Window, new_client
from lightsout.sources.pump import RoundLimits, RoundResult, direct_writer, run_round
from lightsout.store import Store
from replay.cloudflare_radar import PREFIX, RadarReplay
from replay.server import Fault, ReplayServer

TOKEN = "test-token-not-a-secret"
FAST = RoundLimits(attempts=4, max_wait_s=3.0, backoff_base_s=0.01)
TRAFFIC = f"{PREFIX}/http/timeseries"
# Iraq, 20-29 August 2023: nine daily slices, the exam shutdowns inside.
WINDOW = Window("backfill/iq", datetime(2023, 8, 20, tzinfo=UTC), datetime(2023, 8, 29, tzinfo=UTC))
ANCHOR = datetime(2023, 8, 20, tzinfo=UTC)  # a day of Iraq's recorded traffic, before the first cut
KEY = SeriesKey("country/IQ", SignalKind.CLOUDFLARE_HTTP_TRAFFIC, "cloudflare-radar", 3600)


@pytest.fixture
def replay() -> RadarReplay:
    return RadarReplay(TOKEN)


@pytest.fixture
def server(replay: RadarReplay) -> Iterator[ReplayServer]:
    with ReplayServer([replay]) as srv:
        yield srv


def _round(
    store: Store, server: ReplayServer, window: Window = WINDOW, token: str = TOKEN, **kw: object
) -> RoundResult:
    kw.setdefault("limits", FAST)
    settings = RadarSettings(
        token=token,
        locations=("IQ",),
        base_url=f"{server.url}/client/v4",
        annotations=bool(kw.pop("annotations", False)),
        anchor_start=kw.pop("anchor_start", ANCHOR),  # type: ignore[arg-type]
        anchor_days=1,
    )
    with new_client(timeout_s=5) as client:
        return run_round(
            CloudflareRadarConnector("radar", settings), client, direct_writer(store), window, **kw
        )  # type: ignore[arg-type]


def _assert_one_scale(store: Store, replay: RadarReplay, window: Window = WINDOW) -> None:
    """Stored traffic is the underlying series divided by the anchor day's median hour, whatever
    answer (each on the scale of its own maximum) a bin came in."""
    stored = store.points(KEY)
    underlying = replay.underlying["IQ"]
    anchor = [v for t, v in underlying.items() if ANCHOR.timestamp() <= t < ANCHOR.timestamp() + 86400]
    expected_times = [t for t in underlying if window.since.timestamp() <= t < window.until.timestamp()]  # type: ignore[union-attr]
    assert stored.times_s.tolist() == expected_times
    expected = np.array([underlying[t] for t in expected_times]) / float(np.median(anchor))
    assert np.allclose(stored.values, expected, rtol=1e-4)


def test_traffic_answers_on_one_scale(store: Store, server: ReplayServer, replay: RadarReplay) -> None:
    result = _round(store, server)
    assert result.error is None and result.items_stored == 9
    _assert_one_scale(store, replay)
    # The exam shutdown of 21 August (01:00-05:00 UTC) is in the stored traffic.
    stored = store.points(KEY)
    day = stored.values[
        (stored.times_s >= datetime(2023, 8, 20, 18, tzinfo=UTC).timestamp())
        & (stored.times_s < datetime(2023, 8, 21, tzinfo=UTC).timestamp())
    ]
    cut = stored.values[
        (stored.times_s >= datetime(2023, 8, 21, 2, tzinfo=UTC).timestamp())
        & (stored.times_s < datetime(2023, 8, 21, 4, tzinfo=UTC).timestamp())
    ]
    assert cut.mean() < 0.5 * day.mean()
    # Each answer asked the anchor day and its slice, with the token.
    hits = server.hits(TRAFFIC)
    assert len(hits) == 9 and all(h.headers["authorization"] == f"Bearer {TOKEN}" for h in hits)
    assert hits[1].query["name"] == ["anchor", "slice"]
    assert hits[1].query["dateStart"] == ["2023-08-20T00:00:00Z", "2023-08-21T00:00:00Z"]


def test_backfill_and_follow_streams_share_the_scale(
    store: Store, server: ReplayServer, replay: RadarReplay
) -> None:
    # Two streams (a backfill of the first days, then "following" the rest): one series, one scale.
    first = Window("backfill/a", WINDOW.since, datetime(2023, 8, 24, tzinfo=UTC))
    second = Window("follow-like", datetime(2023, 8, 24, tzinfo=UTC), WINDOW.until)
    assert _round(store, server, second).items_stored == 5
    assert _round(store, server, first).items_stored == 4
    _assert_one_scale(store, replay)


def test_anchor_without_traffic_is_unreadable_and_said(store: Store, server: ReplayServer) -> None:
    result = _round(store, server, anchor_start=datetime(2020, 1, 1, tzinfo=UTC))
    assert result.items_stored == 9 and result.unreadable == 9 and store.series() == []
    assert "no IQ traffic in the anchor window 2020-01-01..2020-01-02" in result.notes[0]


def test_restart_resumes_on_the_same_scale(store: Store, server: ReplayServer, replay: RadarReplay) -> None:
    first = _round(store, server, limits=RoundLimits(max_items=4, backoff_base_s=0.01))
    assert first.items_stored == 4
    second = _round(store, server)  # a new connector, after a "kill"
    assert second.items_stored == 5 and second.error is None
    _assert_one_scale(store, replay)
    assert set(Counter(h.arg("dateEnd") for h in server.hits(TRAFFIC)).values()) == {1}


def test_faults_retried_nothing_lost_or_doubled(
    store: Store, server: ReplayServer, replay: RadarReplay
) -> None:
    server.inject(Fault.rate_limit("1", path=TRAFFIC))
    server.inject(Fault.status_code(500, path=TRAFFIC))
    server.inject(Fault.truncated(path=TRAFFIC))
    result = _round(store, server)
    assert result.error is None and result.retries == 3 and result.items_stored == 9
    _assert_one_scale(store, replay)


def test_refused_token_is_a_failing_source_not_data(store: Store, server: ReplayServer) -> None:
    result = _round(store, server, token="wrong")
    assert result.error is not None and "token was refused" in result.error
    assert result.items_stored == 0 and result.unreadable == 0
    assert store.series() == [] and store.sources() == []  # nothing in the ledger: fetched once it works
    assert TOKEN not in result.error and "wrong" not in result.error


def test_annotations_become_external_events(store: Store, server: ReplayServer) -> None:
    window = Window("backfill/2022", datetime(2022, 11, 1, tzinfo=UTC), datetime(2022, 11, 3, tzinfo=UTC))
    result = _round(store, server, window, annotations=True)
    assert result.error is None
    events = store.external_events()
    assert [(e.entity_id, e.cause, e.end_time) for e in events] == [
        ("country/US", "WEATHER", datetime(2022, 11, 2, tzinfo=UTC)),
        ("country/UA", "POWER_OUTAGE", None),
    ]
    assert len(server.hits(f"{PREFIX}/annotations/outages")) == 2  # one per daily slice, upserted by id


def test_config_token_from_the_environment_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightsout.errors import UserError
    from lightsout.service.config import load_config
    from lightsout.service.run import build_connector

    path = tmp_path / "lightsout.toml"
    path.write_text(
        '[watch]\ncountries = ["IQ"]\n[sources.radar]\nkind = "cloudflare-radar"\ntoken_env = "RADAR_T"\n'
    )
    config = load_config(path)
    monkeypatch.delenv("RADAR_T", raising=False)
    with pytest.raises(UserError, match=r"radar\.token_env: environment variable RADAR_T is not set"):
        build_connector(config.source("radar"), config)
    monkeypatch.setenv("RADAR_T", TOKEN)
    connector = build_connector(config.source("radar"), config)
    assert isinstance(connector, CloudflareRadarConnector)
    assert connector.settings.locations == ("IQ",) and TOKEN not in repr(connector.settings)
    path.write_text('[sources.radar]\nkind = "cloudflare-radar"\nlocations = ["IQ"]\n')
    with pytest.raises(UserError, match=r"sources\.radar\.token_env: Cloudflare Radar needs an API token"):
        build_connector(load_config(path).source("radar"), load_config(path))


def test_slow_body_times_out_and_is_fetched_again(
    store: Store, server: ReplayServer, replay: RadarReplay
) -> None:
    server.inject(Fault.slow(0.6, path=TRAFFIC))
    base_url = f"{server.url}/client/v4"
    settings = RadarSettings(
        TOKEN, ("IQ",), annotations=False, base_url=base_url, anchor_start=ANCHOR, anchor_days=1
    )
    with new_client(timeout_s=0.5) as client:
        result = run_round(
            CloudflareRadarConnector("radar", settings), client, direct_writer(store), WINDOW, limits=FAST
        )
    assert result.error is None and result.retries == 1 and result.items_stored == 9
    _assert_one_scale(store, replay)
