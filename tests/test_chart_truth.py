"""Charts that do not mislead (issue 11): lines broken at gaps, the legend clear of the footer and the
title, latency marked "up is worse", only drawn sources credited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from lightsout.model import SeriesKey, SignalKind
from lightsout.report.context import NormalisedSeries
from lightsout.report.event_chart import ChartSpec, _draw, broken_at_gaps, chart_footer
from lightsout.store import TimeSeries

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
        side_lines=[f"  {'Chahar Mahall and Bakh'[: 8 + i % 14]}  50%" for i in range(80)],
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
    # nothing drawn outside the figure: the side panel, the footer, the legend are never clipped
    everything = [*fig.texts, *(t for ax in fig.axes for t in ax.texts), legend]
    for artist in everything:
        b = artist.get_window_extent(renderer)
        assert fig.bbox.x0 <= b.x0 and b.x1 <= fig.bbox.x1 + 1 and fig.bbox.y0 <= b.y0, artist


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


def _stored(entity: str, signal: SignalKind, source: str = "monash") -> TimeSeries:
    times = np.arange(0, 3 * 86_400, 3600, dtype=np.int64) + int(START.timestamp())
    times = np.concatenate([times[:30], times[40:]])  # a gap of 9 hours
    return TimeSeries(SeriesKey(entity, signal, source, 3600), times, np.full(times.size, 90.0))


def test_show_chart_says_year_and_source_and_breaks_at_gaps() -> None:
    """`lightsout show --chart`: the time axis lacked the year and the chart its source."""
    from lightsout.attribution.entities import make_country, make_region
    from lightsout.report.chart import entity_figure

    us, texas = make_country("US"), make_region("US", "Texas")
    fig = entity_figure(
        us, _stored("country/US", SignalKind.CONNECTIVITY_INDEX),
        [(texas, _stored(texas.entity_id, SignalKind.CONNECTIVITY_INDEX, "ioda"))], "United States",
    )  # fmt: skip
    fig.canvas.draw()
    bottom = fig.axes[1]
    ticks = [t.get_text() for t in bottom.get_xticklabels() if t.get_text()]
    assert ticks and all("2020" in t and "UTC" in t for t in ticks), ticks
    footer = next(t.get_text() for t in bottom.texts if t.get_text().startswith("Data: "))
    assert footer.startswith("Data: IODA, Monash IP Observatory. "), footer
    assert "Monash IP Observatory, 1-hour bins" in fig.axes[0].get_title(loc="left")
    (line,) = fig.axes[0].get_lines()
    assert np.isnan(np.asarray(line.get_ydata(), dtype=float)).sum() == 1  # broken once, at the gap


def test_show_chart_of_latency_is_red_when_high() -> None:
    from lightsout.attribution.entities import make_country, make_region
    from lightsout.report.chart import entity_figure

    ua, region = make_country("UA"), make_region("UA", "Kharkivska oblast")
    fig = entity_figure(
        ua, _stored("country/UA", SignalKind.LATENCY_INDEX),
        [(region, _stored(region.entity_id, SignalKind.LATENCY_INDEX))], "Ukraine",
    )  # fmt: skip
    assert "up is worse" in fig.axes[0].get_ylabel()
    mesh = fig.axes[1].collections[0]
    assert mesh.get_cmap().name == "RdYlGn_r"
