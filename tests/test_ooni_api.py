"""The OONI API connector against the recorded OONI API (loopback replay) with injected faults:
paging, the 180-day cap, 429 with Retry-After, 5xx, truncated bodies, resume after a stop; every
measurement fetched and stored once."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lightsout.model import HealthState
from lightsout.sources.connector import Backoff, Window, new_client
from lightsout.sources.ooni_api import OoniApiConnector, OoniApiSettings
from lightsout.sources.pump import RoundLimits, RoundResult, direct_writer, health_after, run_round
from lightsout.store import MeasurementFilter, Store
from replay.ooni import OoniReplay
from replay.server import Fault, ReplayServer

META = "/api/v1/measurement_meta"
LIST = "/api/v1/measurements"
SINCE = datetime(2020, 10, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
WINDOW = Window("backfill/test", SINCE, UNTIL)
COUNTRIES = ("RU", "US")
TESTS = ("web_connectivity", "telegram")
FAST = RoundLimits(attempts=4, max_wait_s=2.0, backoff_base_s=0.01)


@pytest.fixture
def replay() -> OoniReplay:
    return OoniReplay()


@pytest.fixture
def server(replay: OoniReplay) -> Iterator[ReplayServer]:
    with ReplayServer([replay]) as srv:
        yield srv


def _connector(server: ReplayServer, page_size: int = 3) -> OoniApiConnector:
    settings = OoniApiSettings(COUNTRIES, TESTS, server.url, page_size=page_size, slice_days=180)
    return OoniApiConnector("ooni", settings)


def _expected(replay: OoniReplay) -> tuple[set[str], set[str]]:
    """From the recordings, independently: the uids listed for the configuration, and those of them
    whose raw measurement was recorded (the others are 'not yet available')."""
    listed = {
        r["measurement_uid"]
        for r in replay.rows
        if r["probe_cc"] in COUNTRIES and r["test_name"] in TESTS
        and SINCE.isoformat() <= r["measurement_start_time"].replace("Z", "+00:00") < UNTIL.isoformat()
    }
    return listed, listed & set(replay.meta)


def _round(store: Store, server: ReplayServer, **kw: object) -> RoundResult:
    kw.setdefault("limits", FAST)
    with new_client(timeout_s=5) as client:
        return run_round(_connector(server), client, direct_writer(store), WINDOW, **kw)  # type: ignore[arg-type]


def test_backfill_fetches_each_measurement_once_and_resumes(
    store: Store, server: ReplayServer, replay: OoniReplay
) -> None:
    listed, available = _expected(replay)
    assert len(available) == 3 and len(listed) > len(available)  # RU 2020, RU telegram 2022, US 2023
    result = _round(store, server, limits=RoundLimits(max_items=1, backoff_base_s=0.01))  # "killed" early
    assert result.items_stored == 1
    result = _round(store, server)
    stored = store.measurements(MeasurementFilter(limit=100))
    assert {m.measurement_id for m in stored} == available
    assert result.error is None and result.not_yet == len(listed - available)
    fetched = [r.arg("measurement_uid") for r in server.hits(META)]
    # Available measurements fetched exactly once across both rounds; not-yet ones once per round
    # that listed them (the second round re-lists the slice the first one stopped in).
    assert sorted(u for u in fetched if u in available) == sorted(available)
    assert all(r.arg("since") and r.arg("until") for r in server.hits(LIST))
    for r in server.hits(LIST):  # never over the API's 180-day cap
        span = datetime.fromisoformat(r.arg("until") or "") - datetime.fromisoformat(r.arg("since") or "")
        assert span <= timedelta(days=180)
    # The stored record is OONI's raw measurement with its uid, analysed by the OONI reader.
    ru = next(m for m in stored if m.measurement_id.endswith("604f1cb2579d144d"))
    assert (ru.probe_cc, ru.probe_asn, ru.test_name, ru.input) == ("RU", 51604, "web_connectivity",
                                                                  "http://www.pokerroom.com/")
    report_id = "20201029T041242Z_webconnectivity_RU_51604_n1_I0rABGogC4OLATJx"
    assert json.loads(ru.raw_json)["report_id"] == report_id
    assert store.entity("network/AS51604") is not None
    # Done: a third run lists nothing and fetches nothing.
    before = len(server.requests)
    result = _round(store, server)
    assert len(server.requests) == before and result.items_stored == 0


def test_paging_walks_every_page(store: Store, server: ReplayServer, replay: OoniReplay) -> None:
    listed, _ = _expected(replay)
    with new_client(timeout_s=5) as client:
        items = list(_connector(server, page_size=2).discover(client, None, WINDOW))
    assert sorted(i.key for i in items) == sorted(listed)
    assert [i.data_time for i in items] == sorted(i.data_time for i in items)  # type: ignore[type-var]
    assert any(r.arg("offset") not in (None, "0") for r in server.hits(LIST))


def test_429_and_500_are_retried_with_backoff(store: Store, server: ReplayServer, replay: OoniReplay) -> None:
    _, available = _expected(replay)
    server.inject(Fault.rate_limit("1", path=META, count=1))
    server.inject(Fault.status_code(503, path=LIST, count=1))
    server.inject(Fault.truncated(path=META, count=1))
    result = _round(store, server)
    assert result.error is None and result.retries == 3
    assert {m.measurement_id for m in store.measurements(MeasurementFilter(limit=100))} == available
    waits = [r.at for r in server.hits(META)]
    assert max(b - a for a, b in itertools.pairwise(waits)) >= 0.95  # Retry-After honoured


def test_a_source_that_keeps_failing_is_a_gap_with_its_own_health(store: Store, server: ReplayServer) -> None:
    server.inject(Fault.status_code(500, path=LIST, count=-1))
    result = _round(store, server)
    assert result.error is not None and "HTTP 500" in result.error
    assert store.measurements(MeasurementFilter()) == []
    now = datetime.now(UTC)
    health = health_after(None, result, now, timedelta(minutes=5), timedelta(hours=6), Backoff())
    assert health.state == HealthState.FAILING and health.failures == 1
    assert health.next_attempt is not None and health.next_attempt > now
    server.clear_faults()
    server.inject(Fault.rate_limit("120", path=LIST, count=-1))  # longer than the round may wait
    result = _round(store, server)
    health = health_after(health, result, now, timedelta(minutes=5), timedelta(hours=6), Backoff())
    assert health.state == HealthState.RATE_LIMITED and health.failures == 2
    assert health.next_attempt is not None and health.next_attempt >= now + timedelta(seconds=120)


def test_stop_event_ends_a_round_between_items(store: Store, server: ReplayServer) -> None:
    stop = threading.Event()
    stop.set()
    result = _round(store, server, stop=stop)
    assert result.stopped and result.items_stored == 0


def test_slices_over_the_api_cap_are_refused() -> None:
    with pytest.raises(ValueError, match="180"):
        OoniApiConnector("ooni", OoniApiSettings(("IR",), slice_days=181))


def test_the_sources_clock_skew_is_recorded_and_lateness_judged_on_its_clock(
    store: Store, server: ReplayServer
) -> None:
    server.clock_skew_s = -7200.0  # the source's clock is two hours behind ours
    result = _round(store, server)
    assert result.clock_skew_s is not None and abs(result.clock_skew_s + 7200.0) < 5.0
    newest = result.last_data
    assert newest is not None
    # Data 2.5 h older than our clock but 0.5 h older than the source's: not late with a 1 h threshold.
    now = newest + timedelta(hours=2.5)
    health = health_after(None, result, now, timedelta(minutes=5), timedelta(hours=1), Backoff())
    assert health.state == HealthState.OK and health.clock_skew_s == result.clock_skew_s
    later = now + timedelta(hours=1)
    health = health_after(None, result, later, timedelta(minutes=5), timedelta(hours=1), Backoff())
    assert health.state == HealthState.LATE


def test_following_resumes_from_the_checkpoint_after_a_long_downtime(server: ReplayServer) -> None:
    # Stopped for months: the checkpoint says everything before 2022-11-01 was listed; the
    # configured start ("2d") would begin much later. Discovery starts at the checkpoint minus the
    # lookback, so the RU telegram measurement of 2022-11-09 is not skipped.
    connector = _connector(server)
    listed = datetime(2022, 11, 1, tzinfo=UTC)
    checkpoint = connector._checkpoint(Window("follow", listed), listed, listed)
    window = Window("follow", datetime.now(UTC) - timedelta(days=2))
    with new_client(timeout_s=5) as client:
        keys = [i.key for i in connector.discover(client, checkpoint, window)]
    assert "20221109225810.435617_RU_telegram_ecbc73cacd8ea566" in keys
    assert "20201029043459.005820_RU_webconnectivity_604f1cb2579d144d" not in keys  # before the checkpoint
    first = min(r.arg("since") or "" for r in server.hits(LIST))
    assert first == "2022-10-31T00:00:00"  # the checkpoint minus the 1-day lookback
