"""Detection: named scenarios on synthetic timelines, and batch == online on real data."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from lightsout.attribution.entities import make_asn_network, make_country, make_region
from lightsout.detect.run import detect_batch, detect_online
from lightsout.detect.service import EventFilter, list_events
from lightsout.ingest import ingest_file
from lightsout.model import Entity, EventKind, Scope, SignalKind, SignalPoint, SourceFile
from lightsout.store import IngestBatch, Store

T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
HOUR = 3600
MONASH = "monash-ip-observatory"


def daily(hours: int, level: float = 100.0, swing: float = 10.0) -> np.ndarray:
    """An ordinary hourly signal with a daily rhythm (peak in the afternoon), deterministic noise."""
    t = np.arange(hours)
    rng = np.random.default_rng(7)
    return level - swing * np.cos(2 * math.pi * (t % 24) / 24) + rng.normal(0, 1.5, hours)


def put(
    store: Store,
    name: str,
    entities: list[Entity],
    series: dict[str, np.ndarray],
    signal: SignalKind = SignalKind.CONNECTIVITY_INDEX,
) -> None:
    """Write series (NaN = no data) as if ingested from a file called ``name``."""
    points = [
        SignalPoint(eid, signal, "test", T0 + timedelta(hours=int(i)), HOUR, float(v))
        for eid, values in series.items()
        for i, v in enumerate(values)
        if not np.isnan(v)
    ]
    source = SourceFile(name, name, "test", datetime.now(UTC), len(points), 0, len(points))
    store.write_batch(IngestBatch(source, entities, points))


IR = make_country("IR")
TEHRAN, FARS = make_region("IR", "Tehran"), make_region("IR", "Fars")


def test_scenario_national_shutdown_groups_its_regions(store: Store) -> None:
    hours = 24 * 8
    cut = slice(24 * 6 + 18, hours)  # day 6, 18:00 UTC until the end of the data
    regions = {r.entity_id: daily(hours) for r in (TEHRAN, FARS)}
    for values in regions.values():
        values[cut] = 4.0
    national = (regions[TEHRAN.entity_id] + regions[FARS.entity_id]) / 2
    network = make_asn_network(12880, "IR")  # a network of the country: another axis, not counted
    put(store, "a", [IR, TEHRAN, FARS, network], {IR.entity_id: national, **regions})
    detect_batch(store)
    events = list_events(store)
    assert len(events) == 1, events
    event = events[0]
    assert event.scope == Scope.NATIONAL and event.entity_id == "country/IR"
    assert event.start == T0 + timedelta(hours=24 * 6 + 18)
    assert event.end is None  # still going on where the data ends
    assert {a.entity_id for a in event.affected} == {TEHRAN.entity_id, FARS.entity_id}
    assert event.affected_children == event.affected_of == 2
    assert event.min_level_pct < 6
    assert event.confidence > 0.9


def test_scenario_gap_is_no_data_not_an_outage(store: Store) -> None:
    values = daily(24 * 8)
    values[24 * 5 : 24 * 6] = np.nan  # the observatory lost a day of its own data
    put(store, "a", [IR], {IR.entity_id: values})
    summary = detect_batch(store)
    assert summary.alerts == 0
    assert list_events(store) == []


def test_scenario_short_dip_and_noise_raise_nothing(store: Store) -> None:
    values = daily(24 * 8)
    values[24 * 5 + 3] = 10.0  # one bad bin: below the detector's two-bin resolution
    values[24 * 6 : 24 * 6 + 3] *= 0.9  # an ordinary wobble
    put(store, "a", [IR], {IR.entity_id: values})
    detect_batch(store)
    assert list_events(store) == []


def test_scenario_too_short_for_a_baseline(store: Store) -> None:
    values = daily(3)
    values[1:] = 0.0  # a drop, but three hours of data: not even a fallback baseline
    put(store, "a", [IR], {IR.entity_id: values})
    summary = detect_batch(store)
    assert summary.insufficient_history == ["country/IR"]
    assert summary.alerts == 0


def test_scenario_short_history_reports_deep_cut_with_lower_confidence(store: Store) -> None:
    values = daily(24 * 2)
    values[26:] = 2.0  # a deep cut after 26 hours of data: judged on a one-day baseline
    values_wobble = daily(24 * 2)
    values_wobble[30:34] *= 0.75  # a WARNING-depth dip on a one-day baseline: not enough
    fars = FARS
    put(store, "a", [IR, fars], {IR.entity_id: values, fars.entity_id: values_wobble})
    detect_batch(store)
    (event,) = list_events(store)
    assert event.entity_id == "country/IR" and event.start == T0 + timedelta(hours=26)
    assert event.history_days is not None and 1.0 <= event.history_days < 1.2
    assert event.confidence < 0.7
    assert any("short history" in r for r in event.confidence_reasons)


def test_scenario_ended_outage_has_end_and_depth(store: Store) -> None:
    values = daily(24 * 8)
    values[24 * 5 + 10 : 24 * 5 + 16] = values[24 * 5 + 10 : 24 * 5 + 16] * 0.3  # six hours at 30%
    put(store, "a", [IR], {IR.entity_id: values})
    detect_batch(store)
    (event,) = list_events(store)
    assert event.start == T0 + timedelta(hours=24 * 5 + 10)
    assert event.end == T0 + timedelta(hours=24 * 5 + 16)
    assert 25 < event.mean_level_pct < 35
    assert event.start_uncertainty_s == event.end_uncertainty_s == HOUR


def test_scenario_nightly_curfew_is_one_recurring_event(store: Store) -> None:
    # Myanmar's zone is UTC+06:30: a cut 01:00-09:00 local is 18:30-02:30 UTC; on an hourly UTC
    # grid the cut covers 19:00-02:00 UTC (bins entirely inside it).
    mm = make_country("MM")
    hours = 24 * 14
    values = daily(hours, level=60, swing=5)
    for day in range(4, 14):
        values[24 * day + 19 - 24 : 24 * day + 2] = 0.0
    put(store, "a", [mm], {mm.entity_id: values}, SignalKind.RESPONSIVE_ADDRESSES)
    detect_batch(store)
    events = list_events(store)
    assert len(events) == 1, [(e.start, e.end) for e in events]
    schedule = events[0].schedule
    assert schedule is not None and schedule.time_zone == "Asia/Yangon"
    assert (schedule.start_local, schedule.end_local) == ("01:30", "08:30")
    assert schedule.days == len(events[0].occurrences) == 10


def test_scenario_latency_rise_is_a_degradation_not_an_outage(store: Store) -> None:
    values = daily(24 * 8, swing=2)
    values[24 * 6 : 24 * 6 + 8] = 250.0
    put(store, "a", [IR], {IR.entity_id: values}, SignalKind.LATENCY_INDEX)
    detect_batch(store)
    (event,) = list_events(store)
    assert event.kind == EventKind.DEGRADATION


def _alerts(store: Store) -> list[tuple[str, str, datetime, int]]:
    return [(a.entity_id, a.signal.value, a.bin_start, a.level) for a in store.alerts()]


def test_batch_and_online_agree_on_real_data(shared_data: Path, tmp_path: Path) -> None:
    from lightsout.store import open_store

    files = [
        shared_data / MONASH / "irn-2019-11-11_gif.csv",
        shared_data / MONASH / "mmr-2021-04-09_Bago.csv",
    ]
    batch = open_store(tmp_path / "batch.duckdb")
    for path in files:
        ingest_file(batch, path)
    detect_batch(batch)
    expected = _alerts(batch)
    expected_events = [(e.entity_id, e.start, e.end, e.schedule) for e in list_events(batch)]
    # Online: the same points (read back from the batch store: detecting writes no points) arrive
    # in slices of a few days; the store is closed and reopened between slices, so the detector
    # state must come back from the store.
    keys = [s.key for s in batch.series()]
    all_points = {k: batch.points(k) for k in keys}
    entities = batch.entities()
    batch.close()
    assert len(expected) > 1000

    staged = tmp_path / "staged.duckdb"
    times = np.unique(np.concatenate([p.times_s for p in all_points.values()]))
    cuts = np.linspace(times[0], times[-1] + 1, 9).astype(np.int64)
    for n, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        store = open_store(staged)
        points = [
            SignalPoint(
                k.entity_id, k.signal, k.source, datetime.fromtimestamp(int(t), UTC), k.bin_s, float(v)
            )
            for k, series in all_points.items()
            for t, v in zip(series.times_s, series.values, strict=True)
            if lo <= t < hi
        ]
        source = SourceFile(f"slice{n}", f"slice{n}", "test", datetime.now(UTC), len(points), 0, len(points))
        store.write_batch(IngestBatch(source, entities, points))
        detect_online(store)
        store.close()
    store = open_store(staged, read_only=True)
    assert _alerts(store) == expected
    assert [(e.entity_id, e.start, e.end, e.schedule) for e in list_events(store)] == expected_events
    store.close()


def test_iran_is_one_national_event_with_all_provinces(shared_data: Path, store: Store) -> None:
    ingest_file(store, shared_data / MONASH / "irn-2019-11-11_gif.csv")
    detect_batch(store)
    national = list_events(store, EventFilter(scope=Scope.NATIONAL))
    assert len(national) == 1
    event = national[0]
    assert event.affected_children == event.affected_of == 30
    assert event.end is None  # the data ends during the shutdown


@pytest.fixture(scope="module")
def venezuela_cli_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Venezuela ingested and judged through the command line once for the three formats below
    (each format ran its own `ingest` and `detect` processes before: 6 more start-ups)."""
    import os
    import subprocess
    import sys

    db = tmp_path_factory.mktemp("events-cli") / "db.duckdb"
    env = {**os.environ, "LIGHTSOUT_DB": str(db)}
    cli = [sys.executable, "-m", "lightsout.cli"]
    subprocess.run(
        [*cli, "ingest", str(shared_data / MONASH / "ven-2019-07-22_gif.csv")],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run([*cli, "detect"], env=env, check=True, capture_output=True)
    return db


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_events_command_formats(venezuela_cli_db: Path, fmt: str) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "LIGHTSOUT_DB": str(venezuela_cli_db)}
    cli = [sys.executable, "-m", "lightsout.cli"]
    out = subprocess.run(
        [*cli, "events", "--country", "VE", "--format", fmt],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if fmt == "json":
        events = json.loads(out)
        national = [e for e in events if e["scope"] == "national"]
        assert len(national) == 1 and national[0]["entity_id"] == "country/VE"
        assert national[0]["start"].startswith("2019-07-22")
    elif fmt == "csv":
        assert out.splitlines()[0].startswith("event_id,kind,scope,entity_id")
        assert ",national,country/VE," in out
    else:
        assert "Venezuela (nat)" in out and "1 events" in out  # the 100-column table: scope abbreviated


def test_region_lows_are_the_deepest_of_their_runs(shared_data: Path, store: Store) -> None:
    """Issue 11.1: a region with several alert runs inside the national event reports its deepest
    level and its first onset, recomputed here from the stored alerts (Anzoátegui, VE-B: 6% from
    22 Jul 23:00, not the later, shallower run's 80% from 23 Jul 23:00)."""
    ingest_file(store, shared_data / MONASH / "ven-2019-07-22_gif.csv")
    detect_batch(store)
    (national,) = list_events(store, EventFilter(country="VE", scope=Scope.NATIONAL))
    assert len(national.affected) == len({a.entity_id for a in national.affected})
    assert national.end is not None
    alerts = store.alerts()
    checked = 0
    for row in national.affected:
        runs: list[list[float | datetime]] = []  # [start, end, lowest ratio]
        for a in sorted((a for a in alerts if a.entity_id == row.entity_id), key=lambda a: a.bin_start):
            end = a.bin_start + timedelta(seconds=a.bin_s)
            if runs and a.bin_start <= runs[-1][1] + timedelta(seconds=2 * a.bin_s):  # type: ignore[operator]
                runs[-1][1] = end
                runs[-1][2] = min(runs[-1][2], a.ratio)  # type: ignore[type-var]
            else:
                runs.append([a.bin_start, end, a.ratio])
        inside = [r for r in runs if r[0] < national.end and national.start < r[1]]  # type: ignore[operator]
        assert inside, row.entity_id
        assert row.start == inside[0][0], row.entity_id
        assert row.min_ratio == pytest.approx(min(r[2] for r in inside)), row.entity_id  # type: ignore[type-var]
        checked += 1
    anzoategui = next(a for a in national.affected if a.entity_id == "region/VE-B")
    deepest = min((a for a in alerts if a.entity_id == "region/VE-B"), key=lambda a: a.ratio)
    assert deepest.bin_start == datetime(2019, 7, 22, 23, tzinfo=UTC)
    assert anzoategui.min_ratio == pytest.approx(deepest.ratio) and anzoategui.min_ratio < 0.1
    assert anzoategui.start <= deepest.bin_start
    assert checked >= 10


def test_scenario_routes_up_hosts_down_is_said(store: Store) -> None:
    """Kazakhstan, January 2022: the routes stayed announced while hosts stopped answering. The
    event lists BGP as a signal that had data and did not see it, and names the pattern."""
    from lightsout.model import FusionPattern

    hours = 24 * 8
    probing = daily(hours, level=500, swing=20)
    probing[24 * 6 + 8 : 24 * 6 + 20] = 30.0  # twelve hours of blocked traffic
    bgp = np.full(hours, 2000.0) + np.random.default_rng(3).normal(0, 2, hours)
    put(store, "a", [IR], {IR.entity_id: probing}, SignalKind.PROBING_UP_SLASH24S)
    put(store, "b", [IR], {IR.entity_id: bgp}, SignalKind.BGP_SLASH24S)
    detect_batch(store)
    (event,) = list_events(store)
    assert {e.signal for e in event.evidence} == {SignalKind.PROBING_UP_SLASH24S}
    assert [q.signal for q in event.signals_not_seen] == [SignalKind.BGP_SLASH24S]
    assert event.signals_not_seen[0].points == 12
    assert event.pattern == FusionPattern.ROUTES_UP_HOSTS_DOWN
    assert any("Kazakhstan" in reason for reason in event.confidence_reasons)
    # BGP is not counted against it: the confidence is that of the probing signal alone
    assert event.confidence > 0.85
