"""Charts that do not mislead (issue 11): lines broken at gaps, the legend clear of the footer and the
title, latency marked "up is worse", only drawn sources credited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from lightsout.model import SeriesKey, SignalKind
from lightsout.report.context import NormalisedSeries
from lightsout.report.event_chart import ChartSpec, _draw, broken_at_gaps, chart_footer

START = datetime(2020, 8, 24, tzinfo=UTC)


def _series(
    entity: str, signal: SignalKind = SignalKind.CONNECTIVITY_INDEX, gap: bool = False
) -> NormalisedSeries:
    times = np.arange(0, 7 * 86_400, 3600, dtype=np.int64) + int(START.timestamp())
    if gap:
        times = np.concatenate([times[:50], times[80:]])
    values = np.full(times.size, 80.0)
    return NormalisedSeries(
        SeriesKey(entity, signal, "monash", 3600), times, values, np.full(times.size, 100.0)
    )


def test_lines_break_at_gaps() -> None:
    times, values = broken_at_gaps(np.array([0, 3600, 7200, 36_000, 39_600]), np.ones(5), 3600)
    assert times.tolist() == [0, 3600, 7200, 10_800, 36_000, 39_600]
    assert np.isnan(values[3]) and np.isfinite(np.delete(values, 3)).all()


def test_legend_never_covers_the_footer_or_the_title() -> None:
    """The Texas report: 8 counties and the region drew a legend over the attribution."""
    names = {f"county/US-TX/{i}": f"County number {i}" for i in range(12)}
    spec = ChartSpec(
        title="Metrics show a partial internet outage in 16 counties of Texas, United States since 02:00 UTC "
        "on 27 August 2020; connectivity there at 52% of ordinary levels and a long tail to wrap the title.",
        subtitle="Texas (region/US-TX)",
        series=[_series(entity) for entity in names],
        start=START,
        end=START + timedelta(days=7),
        names=names,
        side_lines=[f"  County {i}  50%" for i in range(12)],
        side_title="Affected",
    )
    fig = _draw(spec)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    texts = {t.get_text()[:20]: t.get_window_extent(renderer) for t in fig.texts}
    footer = next(b for text, b in texts.items() if text.startswith("Data: "))
    title = next(b for text, b in texts.items() if text.startswith("Metrics show"))
    axes = fig.axes[0].get_window_extent(renderer)
    assert box.y0 > footer.y1, "the legend overprints the footer"
    assert box.y1 < axes.y0, "the legend overprints the chart"
    assert title.y1 <= fig.bbox.y1 and title.y0 > axes.y1, "the title is clipped or on the chart"
    assert len(legend.get_texts()) == 12 + 1  # every county and the 100% line (no warm-up here)


def test_latency_is_up_is_worse_and_only_drawn_sources_are_credited() -> None:
    latency = _series("region/UA-18", SignalKind.LATENCY_INDEX)
    elsewhere = NormalisedSeries(
        SeriesKey("country/UA", SignalKind.BGP_SLASH24S, "rrc15", 300),
        np.array([0, 300], dtype=np.int64),
        np.array([1.0, 1.0]),
        np.array([1.0, 1.0]),
    )  # 1970: outside the window, not drawn
    spec = ChartSpec(
        title="t", subtitle="s", series=[latency, elsewhere], start=START, end=START + timedelta(days=7)
    )
    fig = _draw(spec)
    assert fig.axes[0].get_ylabel() == "% of ordinary level (latency: up is worse)"
    (legend,) = fig.legends
    assert legend.get_texts()[0].get_text().startswith("latency (up is worse)")
    assert chart_footer(spec).startswith("Data: Monash IP Observatory. ") and "RIPE" not in chart_footer(spec)
