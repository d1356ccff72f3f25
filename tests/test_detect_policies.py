"""Alert policies of the traffic signals imported from other observatories: Cloudflare Radar's HTTP
traffic (may raise an event alone) and Mozilla's city count (only corroborates), as named scenarios
built on the recorded Radar answer of Tonga's cut of 15 January 2022."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np

from lightsout.attribution.entities import make_country
from lightsout.detect.policy import POLICIES
from lightsout.detect.run import detect_batch
from lightsout.detect.service import list_events
from lightsout.model import EventKind, SignalKind
from lightsout.store import Store
from test_detect import T0, daily, put

# Cloudflare's docs quote this complete answer of /radar/netflows/timeseries (MIN0_MAX over both
# series of the request, so the two are on one scale): Tonga's traffic at 02:00-05:00 UTC on a
# normal day (15 October 2022) and on the day of the eruption and cable cut (15 January 2022).
RADAR = (Path(__file__).resolve().parents[2] / "shared" / "data" / "api-samples" / "cloudflare-radar"
         / "docs-quoted" / "netflows-timeseries-location=TO-outage-2022-01-15.result-only.json")  # fmt: skip
TO = make_country("TO")
CUT_HOUR = 24 * 7 + 2  # day 7, 02:00 UTC


def tonga_ratios() -> np.ndarray:
    """The cut day's traffic over the normal day's, hour by hour (02:00, 03:00, 04:00, 05:00 UTC)."""
    body = json.loads(RADAR.read_text(encoding="utf-8"))
    normal = np.array(body["tonga"]["values"], dtype=float)
    cut = np.array(body["tonga_outage"]["values"], dtype=float)
    return cut / normal


def tonga(hours: int) -> np.ndarray:
    """A week of ordinary traffic (its nights at ~80% of the day, as Radar's normal day shows), then
    the recorded fall from 02:00 UTC, held at its last level (the cable was cut for five weeks)."""
    values = daily(hours) / 100.0
    ratios = tonga_ratios()
    values[CUT_HOUR : CUT_HOUR + len(ratios)] *= ratios
    values[CUT_HOUR + len(ratios) :] *= ratios[-1]
    return values


def test_recorded_tonga_cut_is_past_the_cloudflare_traffic_levels() -> None:
    ratios = tonga_ratios()
    policy = POLICIES[SignalKind.CLOUDFLARE_HTTP_TRAFFIC]
    assert np.allclose(ratios, [0.354, 0.429, 0.222, 0.0557], atol=0.001)
    assert all(r <= policy.warning for r in ratios)  # every recorded hour of the cut: an outage
    assert [r <= policy.critical for r in ratios] == [False, False, True, True]
    normal = np.array(json.loads(RADAR.read_text())["tonga"]["values"], dtype=float)
    assert normal.min() / normal.max() > policy.warning  # the ordinary night's fall is not


def test_scenario_tonga_cloudflare_traffic_alone_is_a_national_outage(store: Store) -> None:
    hours = 24 * 9
    put(store, "radar", [TO], {TO.entity_id: tonga(hours)}, SignalKind.CLOUDFLARE_HTTP_TRAFFIC)
    detect_batch(store)
    events = list_events(store)
    assert len(events) == 1, events
    event = events[0]
    assert event.entity_id == "country/TO" and event.kind == EventKind.OUTAGE
    # The detector needs two bins past the warning level: the onset is dated to the first of them.
    assert event.start == T0 + timedelta(hours=CUT_HOUR)
    assert event.end is None  # still cut where the data ends
    assert event.min_level_pct < 8  # 5.6% of the ordinary level, within the noise of the curve


def test_scenario_mozilla_cities_only_corroborates(store: Store) -> None:
    hours = 24 * 9
    cities = np.round(daily(hours, level=40.0, swing=12.0))  # a small country's daily count
    cities[CUT_HOUR:] = 2.0  # nearly every city goes quiet
    put(store, "ioda-csv", [TO], {TO.entity_id: cities}, SignalKind.MOZILLA_CITIES)
    detect_batch(store)
    assert list_events(store) == []  # alone, a quiet count is no event (IODA alerts on it neither)
    traffic = tonga(hours)
    put(store, "radar", [TO], {TO.entity_id: traffic}, SignalKind.CLOUDFLARE_HTTP_TRAFFIC)
    detect_batch(store)
    events = list_events(store)
    assert len(events) == 1, events
    signals = {e.signal for e in events[0].evidence}
    assert signals == {SignalKind.CLOUDFLARE_HTTP_TRAFFIC, SignalKind.MOZILLA_CITIES}
