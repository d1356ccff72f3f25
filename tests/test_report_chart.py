"""Normalised series, charts and the `report` command, on the real Iran data."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lightsout.cli.report import report
from lightsout.detect.service import list_events
from lightsout.errors import UserError
from lightsout.model import Scope, SeriesKey, SignalKind
from lightsout.report.context import NormaliseCache, load_entity_context, load_event_context, normalise
from lightsout.report.event_chart import (
    ChartFormat,
    bucket_levels,
    entity_chart_spec,
    event_chart_spec,
    render_chart,
)
from lightsout.report.statement import make_statement
from lightsout.store import Store, TimeSeries, open_store

MONASH = "monash-ip-observatory"


@pytest.fixture
def iran(iran_db: Path) -> Iterator[Store]:
    store = open_store(iran_db, read_only=True)
    yield store
    store.close()


def test_normalised_baseline_is_the_detectors_on_every_alerted_bin(iran: Store) -> None:
    """Replaying the detector gives exactly the baseline each stored alert recorded."""
    alerts = {(a.entity_id, int(a.bin_start.timestamp())): a for a in iran.alerts()}
    checked = 0
    for entity_id in [
        "country/IR",
        "region/IR-23",
        "region/IR-06",
        "county/IR-23/theran",
        "county/IR-06/ahvaz",
    ]:
        summary = iran.series(entity_id)[0]
        series = normalise(iran.points(summary.key))
        for time_s, baseline, level in zip(series.times_s, series.baselines, series.level_pct, strict=True):
            alert = alerts.get((entity_id, int(time_s)))
            if alert is not None:
                assert baseline == pytest.approx(alert.baseline, rel=1e-12)
                assert level == pytest.approx(100 * alert.ratio, rel=1e-9)
                checked += 1
    assert checked > 150
    national = normalise(iran.points(iran.series("country/IR")[0].key))
    # no baseline in the warm-up (under BaselineParams.fallback_hours = 3 hours of data; then a
    # trailing median until a day of history gives the seasonal one), one everywhere after it
    assert np.isnan(national.baselines[:3]).all() and np.isfinite(national.baselines[60:]).all()
    # the shutdown never drags the (inpainted) baseline down: it stays near 100 to the end
    assert national.baselines[-1] > 90 and national.level_pct[-1] < 10


def test_normalise_handles_empty_and_gaps() -> None:
    key = SeriesKey("country/XX", SignalKind.CONNECTIVITY_INDEX, "test", 3600)
    empty = normalise(TimeSeries(key, np.array([], dtype=np.int64), np.array([], dtype=np.float64)))
    assert empty.baselines.size == 0
    times = np.arange(0, 5 * 86_400, 3600, dtype=np.int64)
    times = np.delete(times, np.s_[60:70])  # a gap of ten hours
    series = normalise(TimeSeries(key, times, np.full(times.size, 50.0)))
    assert np.nanmax(np.abs(series.level_pct - 100.0)) < 1e-9


def test_bucket_levels_mean_low_high() -> None:
    times = np.arange(0, 12 * 3600, 3600, dtype=np.int64)
    level = np.array([100, 100, 0, 100, 50, 50, np.nan, np.nan, np.nan, 80, 90, 100], dtype=np.float64)
    buckets = bucket_levels(times, level, 3600, 4)
    assert buckets.width_s == 10_800
    assert buckets.mean[0] == pytest.approx(200 / 3) and buckets.low[0] == 0 and buckets.high[0] == 100
    assert np.isnan(buckets.mean[2]) and buckets.mean[3] == pytest.approx(90)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_event_chart_draws_series_shading_and_affected(iran: Store) -> None:
    event = next(e for e in list_events(iran) if e.scope == Scope.NATIONAL)
    context = load_event_context(iran, event.event_id)
    statement = make_statement(event, context.entities, context.files, context.data_end)
    spec = event_chart_spec(context, statement)
    assert spec.title == statement.headline
    assert spec.side_lines[0] == "30 provinces:" and "73 counties:" in spec.side_lines
    assert spec.start < event.start and context.data_end is not None and spec.end == context.data_end
    png = render_chart(spec, ChartFormat.PNG)
    pixels = _pixels(png)
    assert pixels.shape[0] > 700 and pixels.shape[1] > 1300
    line = np.all(np.abs(pixels.astype(int) - [0x1F, 0x4E, 0x79]) < 30, axis=2)  # the series' colour
    shade = np.all(np.abs(pixels.astype(int) - [240, 199, 199]) < 14, axis=2)  # the event's red shade
    assert line.sum() > 1000 and shade.sum() > 50_000
    svg = render_chart(spec, ChartFormat.SVG)
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert svg == render_chart(spec, ChartFormat.SVG)  # stable bytes


def test_event_seen_only_in_counties_draws_their_series(iran: Store) -> None:
    event = next(e for e in list_events(iran) if e.entity_id == "region/IR-06")
    context = load_event_context(iran, event.event_id)
    assert not context.own_alerts
    assert {s.key.entity_id for s in context.sub_series} == {a.entity_id for a in event.affected}
    spec = event_chart_spec(context, make_statement(event, context.entities, own_alerts=False))
    assert spec.names["region/IR-06"] == "Khuzestan as a whole"
    assert len(spec.series) == 1 + len(event.affected)


def test_entity_chart_and_cache(iran: Store) -> None:
    cache = NormaliseCache(max_entries=2)
    context = load_entity_context(iran, "region/IR-06", cache=cache)
    again = load_entity_context(iran, "region/IR-06", cache=cache)
    assert again.series[0] is context.series[0]
    spec = entity_chart_spec(context)
    assert len(spec.shades) == len(context.events) + len(context.affecting)
    assert any(e.scope == Scope.NATIONAL for e in context.affecting)
    assert render_chart(spec).startswith(b"\x89PNG")


def test_report_command_writes_chart_and_statement(iran_db: Path, tmp_path: Path) -> None:
    store = open_store(iran_db, read_only=True)
    try:
        event = next(e for e in list_events(store) if e.scope == Scope.NATIONAL)
    finally:
        store.close()
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(report, [event.event_id[:8], "--out", str(out), "--db", str(iran_db)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Metrics show a nationwide internet shutdown in Iran since 17:30 UTC")
    png = out / f"{event.event_id}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
    text = (out / f"{event.event_id}.txt").read_text(encoding="utf-8")
    assert "Evidence:" in text and "irn-2019-11-11_gif.csv" in text
    result = runner.invoke(
        report, [event.event_id, "--out", str(out), "--db", str(iran_db), "--format", "svg"]
    )
    assert result.exit_code == 0 and (out / f"{event.event_id}.svg").read_bytes().startswith(b"<?xml")


def test_report_command_user_errors(iran_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(report, ["ev-nothing", "--db", str(iran_db), "--out", str(tmp_path)])
    assert isinstance(result.exception, UserError) and "no event 'ev-nothing'" in str(result.exception)
    result = runner.invoke(report, ["ev-", "--db", str(tmp_path / "missing.duckdb")])
    assert isinstance(result.exception, UserError) and "no store here yet" in str(result.exception)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = runner.invoke(report, ["ev-", "--db", str(iran_db), "--out", str(a_file)])
    assert isinstance(result.exception, UserError) and "not a directory" in str(result.exception)
