"""Shareable charts: an entity's signals as % of their ordinary level on one timeline, events shaded.

Drawn with matplotlib's object API (a ``Figure`` per chart, no pyplot state), so the web server can
draw charts in several threads; ``render_chart`` returns PNG or SVG bytes. The level of a signal
is ``100 x value / baseline`` with the detector's own baseline (:mod:`lightsout.report.context`).
"""

from __future__ import annotations

import enum
import io
import textwrap
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lightsout.detect.policy import POLICIES, Direction
from lightsout.model import Affected, Entity, EntityKind, Event, EventKind
from lightsout.report.context import EntityContext, EventContext, NormalisedSeries, epoch_s
from lightsout.report.statement import (
    Statement,
    bin_text,
    noise_filtered,
    pct,
    signal_noun,
    source_name,
    unit_words,
)

# matplotlib keeps some global state (font cache, text layout caches): one chart at a time.
_DRAW_LOCK = threading.Lock()

COLOURS = ["#1f4e79", "#c55a11", "#548235", "#7030a0", "#2e75b6", "#bf9000", "#843c0c", "#3b3838", "#00807f"]
EVENT_COLOUR = "#c00000"
DEGRADATION_COLOUR = "#ed7d31"
OTHER_COLOUR = "#7f7f7f"


class ChartFormat(enum.StrEnum):
    PNG = "png"
    SVG = "svg"


@dataclass(frozen=True, slots=True)
class Shade:
    start: datetime
    end: datetime
    colour: str
    alpha: float
    label: str


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """Everything one chart shows; built by :func:`event_chart_spec` or :func:`entity_chart_spec`."""

    title: str
    subtitle: str
    series: list[NormalisedSeries]
    start: datetime
    end: datetime
    shades: list[Shade] = field(default_factory=list)
    side_title: str = ""
    side_lines: list[str] = field(default_factory=list)
    footer: str = ""  # said after "Data: <the sources of the series drawn>."
    names: dict[str, str] = field(default_factory=dict)  # series of other entities: their names in labels


MAX_LINE_BINS = 800  # more bins than this in the window: draw bucket means with a low-high band
CAP_PCT = 300.0  # levels above this are drawn at it
NICE_WIDTHS_S = (60, 300, 600, 900, 1800, 3600, 7200, 10_800, 14_400, 21_600, 43_200, 86_400)


@dataclass(frozen=True, slots=True)
class Buckets:
    times_s: npt.NDArray[np.int64]
    mean: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    width_s: int


def bucket_levels(
    times_s: npt.NDArray[np.int64], level: npt.NDArray[np.float64], bin_s: int, buckets: int
) -> Buckets:
    """Mean, lowest and highest level per bucket of whole bins (NaN for a bucket without levels)."""
    needed = (int(times_s[-1]) - int(times_s[0]) + bin_s) / buckets
    # the smallest whole number of bins, dividing or multiplying a day where it can, that is wide enough
    nice = [w for w in (*NICE_WIDTHS_S, *(86_400 * d for d in range(2, 366))) if w % bin_s == 0]
    width = next((w for w in nice if w >= needed), max(bin_s, int(np.ceil(needed / bin_s)) * bin_s))
    index = (times_s - times_s[0]) // width
    count = int(index[-1]) + 1
    ok = np.isfinite(level)
    n = np.bincount(index[ok], minlength=count).astype(np.float64)
    total = np.bincount(index[ok], weights=level[ok], minlength=count)
    low = np.full(count, np.inf)
    high = np.full(count, -np.inf)
    np.minimum.at(low, index[ok], level[ok])
    np.maximum.at(high, index[ok], level[ok])
    empty = n == 0
    mean = np.where(empty, np.nan, total / np.where(empty, 1.0, n))
    return Buckets(
        times_s[0] + np.arange(count, dtype=np.int64) * width,
        mean,
        np.where(empty, np.nan, low),
        np.where(empty, np.nan, high),
        width,
    )


def _dates(times_s: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Matplotlib date numbers of UTC epoch seconds."""
    return np.asarray(mdates.date2num(times_s.astype("datetime64[s]")), dtype=np.float64)


def _series_label(series: NormalisedSeries, names: dict[str, str]) -> str:
    """The legend's label; with sub-entities drawn, their names (short, so the legend fits), the
    signal and source said once in the subtitle."""
    key = series.key
    source = source_name(key.source)
    rises = POLICIES[key.signal].direction == Direction.RISE if key.signal in POLICIES else False
    noun = signal_noun(key.signal, key.source) + (" (up is worse)" if rises else "")
    label = f"{noun} ({key.signal.value}, {source}, {bin_text(key.bin_s)} bins)"
    name = names.get(key.entity_id)
    if name:
        return f"{name}: {noun}"
    return label


def broken_at_gaps(
    times_s: npt.NDArray[np.int64], values: npt.NDArray[np.float64], bin_s: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The series with a NaN after every bin followed by missing bins, so the line breaks there
    instead of drawing a straight line across a gap in the data."""
    if times_s.size < 2:
        return times_s, values
    after = np.flatnonzero(np.diff(times_s) > bin_s) + 1
    return (
        np.insert(times_s, after, times_s[after - 1] + bin_s),
        np.insert(values.astype(np.float64), after, np.nan),
    )


def render_chart(spec: ChartSpec, fmt: ChartFormat = ChartFormat.PNG) -> bytes:
    """Draw ``spec`` and return the PNG or SVG bytes (SVG text drawn as paths, ids stable)."""
    with _DRAW_LOCK, matplotlib.rc_context({"svg.hashsalt": "lightsout", "svg.fonttype": "path"}):
        fig = _draw(spec)
        buffer = io.BytesIO()
        metadata: dict[str, str | None] = (
            {"Date": None, "Creator": "Lightsout"} if fmt == ChartFormat.SVG else {"Software": "Lightsout"}
        )
        fig.savefig(buffer, format=fmt.value, dpi=110, metadata=metadata)
    return buffer.getvalue()


LEGEND_ROW_IN = 0.2  # inches per legend row
FOOTER_IN = 0.42  # the footer's two lines at the bottom


def _legend_rows(spec: ChartSpec) -> tuple[int, int]:
    """(columns, rows) of the legend: one entry per series drawn, the 100% line, the warm-up, each
    kind of shading; three columns when the labels are short (sub-entities' names)."""
    entries = len(drawn_series(spec)) + 2 + len({shade.label for shade in spec.shades})
    columns = 3 if spec.names else 2
    return columns, -(-entries // columns)


def _draw(spec: ChartSpec) -> Figure:
    columns, rows = _legend_rows(spec)
    height = 7.3 + max(0, rows - 3) * LEGEND_ROW_IN  # room for the legend: it never covers the footer
    fig = Figure(figsize=(13, height))
    side = bool(spec.side_lines)
    title = "\n".join(textwrap.wrap(spec.title, 118)[:3])
    title_lines = title.count("\n") + 1
    legend_top = (FOOTER_IN + rows * LEGEND_ROW_IN + 0.1) / height
    grid = fig.add_gridspec(
        1,
        2 if side else 1,
        width_ratios=[3.3, 1] if side else [1],
        left=0.06,
        right=0.985,
        top=1 - (0.2 + 0.25 * title_lines + 0.5) / height,
        bottom=legend_top + 0.7 / height,  # the date labels, two lines, between axes and legend
        wspace=0.04,
    )
    ax = fig.add_subplot(grid[0, 0])
    fig.text(0.06, 1 - 0.18 / height, title, ha="left", va="top", fontsize=12.5, fontweight="bold")
    fig.text(
        0.06,
        1 - (0.25 + 0.25 * title_lines) / height,
        spec.subtitle,
        ha="left",
        va="top",
        fontsize=9.5,
        color="#404040",
    )
    start_s, end_s = epoch_s(spec.start), epoch_s(spec.end)
    top = 130.0
    drawn = 0
    for i, series in enumerate(spec.series):
        part = series.window(start_s, end_s)
        level = part.level_pct
        if not np.isfinite(level).any():
            continue
        colour = COLOURS[i % len(COLOURS)]
        label = _series_label(series, spec.names)
        if part.times_s.size > MAX_LINE_BINS:
            buckets = bucket_levels(part.times_s, level, part.key.bin_s, MAX_LINE_BINS)
            dates = _dates(buckets.times_s)
            ax.fill_between(
                dates,
                np.minimum(buckets.low, CAP_PCT),
                np.minimum(buckets.high, CAP_PCT),
                color=colour,
                alpha=0.13,
                linewidth=0,
                step="post",
            )
            ax.plot(
                dates,
                np.minimum(buckets.mean, CAP_PCT),
                color=colour,
                linewidth=1.2,
                drawstyle="steps-post",
                label=f"{label}: {bin_text(buckets.width_s)} means, band from lowest to highest bin",
            )
            peak = float(np.nanmax(buckets.mean))
        else:
            times, gapped = broken_at_gaps(part.times_s, np.minimum(level, CAP_PCT), part.key.bin_s)
            ax.plot(_dates(times), gapped, color=colour, linewidth=1.3, label=label)
            peak = float(np.nanmax(level))
        top = max(top, min(CAP_PCT, peak * 1.05))
        drawn += 1
    ax.axhline(100.0, color="#404040", linewidth=0.8, linestyle="--", label="ordinary level (100%)")
    first_level = _first_level_s(spec.series, start_s, end_s)
    if first_level is not None and first_level > start_s:
        ax.axvspan(
            float(_dates(np.array([start_s]))[0]),
            float(_dates(np.array([first_level]))[0]),
            color="#bfbfbf",
            alpha=0.3,
            linewidth=0,
            label="no baseline yet (too little history)",
        )
    labelled: set[str] = set()
    for shade in spec.shades:
        label = shade.label if shade.label not in labelled else "_nolegend_"
        labelled.add(shade.label)
        ax.axvspan(
            mdates.date2num(max(shade.start, spec.start)),
            mdates.date2num(min(shade.end, spec.end)),
            color=shade.colour,
            alpha=shade.alpha,
            linewidth=0,
            label=label,
        )
    if drawn == 0:
        ax.text(
            0.5,
            0.5,
            "no baseline yet: fewer than two days of data",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#7f7f7f",
        )
    ax.set_xlim(mdates.date2num(spec.start), mdates.date2num(spec.end))
    ax.set_ylim(0, top)
    rises = [x for x in drawn_series(spec) if POLICIES[x.key.signal].direction == Direction.RISE]
    ax.set_ylabel("% of ordinary level" + (" (latency: up is worse)" if rises else ""))
    ax.grid(alpha=0.3)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %Y\n%H:%M UTC"))
    ax.tick_params(axis="x", labelsize=8)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(0.06, legend_top),
        ncol=columns,
        fontsize=8,
        frameon=False,
        borderaxespad=0,
    )
    if side:
        _side_panel(fig.add_subplot(grid[0, 1]), spec)
    fig.text(
        0.06,
        0.015,
        "\n".join(textwrap.wrap(chart_footer(spec), 190)[:2]),
        ha="left",
        va="bottom",
        fontsize=7.5,
        color="#595959",
    )
    return fig


def drawn_series(spec: ChartSpec) -> list[NormalisedSeries]:
    """The series the chart draws: those with at least one level (a baseline) in its window."""
    start_s, end_s = epoch_s(spec.start), epoch_s(spec.end)
    return [s for s in spec.series if np.isfinite(s.window(start_s, end_s).level_pct).any()]


def chart_footer(spec: ChartSpec) -> str:
    """The footer drawn: credits the sources of the series drawn, and only those."""
    return _footer([s.key.source for s in drawn_series(spec)], spec.footer)


def _first_level_s(series: list[NormalisedSeries], start_s: int, end_s: int) -> int | None:
    """The first bin in the window where any series has a level (a baseline); None if none has."""
    firsts = []
    for one in series:
        part = one.window(start_s, end_s)
        known = np.flatnonzero(np.isfinite(part.level_pct))
        if known.size:
            firsts.append(int(part.times_s[known[0]]))
    return min(firsts) if firsts else None


def _side_panel(ax: Axes, spec: ChartSpec) -> None:
    ax.set_axis_off()
    ax.text(
        0.02, 1.0, spec.side_title, transform=ax.transAxes, ha="left", va="top", fontsize=9, fontweight="bold"
    )
    per_column = 34
    columns = 2
    lines = list(spec.side_lines)
    room = per_column * columns
    if len(lines) > room:
        lines = [*lines[: room - 1], f"... and {len(spec.side_lines) - room + 1} more"]
    for c in range(columns):
        chunk = lines[c * per_column : (c + 1) * per_column]
        if not chunk:
            break
        ax.text(
            0.02 + 0.52 * c,
            0.955,
            "\n".join(chunk),
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=6.8,
            family="DejaVu Sans",
            linespacing=1.35,
        )


# -- specs ------------------------------------------------------------------------------------------


def _event_end(event: Event, data_end: datetime | None) -> datetime:
    if event.end is not None:
        return event.end
    return data_end or event.start + timedelta(seconds=event.start_uncertainty_s)


def _span(series: list[NormalisedSeries]) -> tuple[datetime, datetime] | None:
    starts = [int(s.times_s[0]) for s in series if s.times_s.size]
    ends = [int(s.times_s[-1]) + s.key.bin_s for s in series if s.times_s.size]
    if not starts:
        return None
    return datetime.fromtimestamp(min(starts), UTC), datetime.fromtimestamp(max(ends), UTC)


def _event_shades(
    event: Event, data_end: datetime | None, colour: str, alpha: float, label: str
) -> list[Shade]:
    if event.occurrences:
        return [Shade(o.start, o.end, colour, alpha, label) for o in event.occurrences]
    return [Shade(event.start, _event_end(event, data_end), colour, alpha, label)]


def _footer(sources: list[str], extra: str = "") -> str:
    """The chart's footer: credits only the sources of the series actually drawn."""
    data = ", ".join(sorted({source_name(s) for s in sources}))
    return (
        (f"Data: {data}. " if data else "No data drawn. ")
        + "Level = value / the detector's baseline (seasonal median of the same time of day "
        "over the previous 7 days, outage bins inpainted); no level is drawn before a series has 2 days "
        "of data. " + f"Times in UTC. Lightsout.{(' ' + extra) if extra else ''}"
    )


def _short(name: str, width: int = 19) -> str:
    return name if len(name) <= width else name[: width - 1] + "\u2026"


def affected_lines(event: Event, entities: dict[str, Entity]) -> tuple[str, list[str]]:
    """Side-panel title and lines: per kind of sub-entity (provinces, counties, networks), a heading
    and one line per affected sub-entity with its lowest level, deepest first."""
    groups: dict[EntityKind | None, list[tuple[Affected, Entity | None]]] = {}
    for a in event.affected:
        entity = entities.get(a.entity_id)
        groups.setdefault(entity.kind if entity is not None else None, []).append((a, entity))
    lines: list[str] = []
    for kind in (EntityKind.REGION, EntityKind.COUNTY, EntityKind.NETWORK, None):
        members = groups.get(kind, [])
        if not members:
            continue
        if kind is None:
            singular, plural = "other", "others"
        else:
            singular, plural = unit_words(kind, [e for _, e in members if e is not None])
        lines.append(f"{len(members)} {singular if len(members) == 1 else plural}:")
        for a, _ in sorted(members, key=lambda m: (m[0].min_ratio, m[0].name)):
            lines.append(f"  {_short(a.name)}  {pct(100 * a.min_ratio)}")
    return "Affected, with each one's lowest level", lines


def event_chart_spec(context: EventContext, statement: Statement) -> ChartSpec:
    """The chart of one event: the window around it, the event shaded, other events of the entity fainter.
    An event seen only in sub-entities is shaded over the times of those beyond their own noise, as
    its statement states them (``context.kept``)."""
    event = context.event
    if context.kept is not None:
        event = replace(event, start=context.kept.start, end=context.kept.end)
    end = _event_end(event, context.data_end)
    duration = end - event.start
    window_start = event.start - max(timedelta(days=3), duration)
    window_end = end + max(timedelta(days=1), duration / 4)
    span = _span([*context.series, *context.sub_series])
    if span is not None:
        window_start, window_end = max(window_start, span[0]), min(window_end, span[1])
    if window_end <= window_start:
        window_end = window_start + timedelta(seconds=max(event.start_uncertainty_s, 3600))
    colour = DEGRADATION_COLOUR if event.kind == EventKind.DEGRADATION else EVENT_COLOUR
    shades = [
        s
        for other in context.entity_events
        if other.event_id != event.event_id
        for s in _event_shades(other, context.data_end, OTHER_COLOUR, 0.15, "other events")
    ]
    label = "this event's cuts" if event.occurrences else f"this {statement.kind_word}"
    shades += _event_shades(event, context.data_end, colour, 0.22, label)
    listed, _, _ = noise_filtered(event, context.noise, context.entities)  # affected beyond noise only
    side_title, side_lines = affected_lines(listed, context.entities) if listed.affected else ("", [])
    entity = context.entity
    names = {
        s.key.entity_id: context.entities[s.key.entity_id].name
        for s in context.sub_series
        if s.key.entity_id in context.entities
    }
    lines = ""
    if names:
        names[event.entity_id] = f"{event.entity_name} as a whole"
        key = context.sub_series[0].key
        lines = (
            f"; every line: {signal_noun(key.signal, key.source)} ({key.signal.value}, "
            f"{source_name(key.source)}, "
            f"{bin_text(key.bin_s)} bins)"
        )
    return ChartSpec(
        names=names,
        title=statement.headline,
        subtitle=(
            f"{event.entity_name} ({event.entity_id})"
            + (f", {entity.kind.value}" if entity is not None else "")
            + f" - event {event.event_id}, confidence {event.confidence:.2f}"
            + lines
        ),
        series=[*context.series, *context.sub_series],
        start=window_start,
        end=window_end,
        shades=shades,
        side_title=side_title,
        side_lines=side_lines,
        footer="",
    )


QUIET_WINDOW = timedelta(days=14)  # an entity without events: the last two weeks of its data


def entity_window(context: EntityContext) -> tuple[datetime, datetime]:
    """The window an entity's chart shows: around its events (and those listing it), from 3 days
    before the first to a day after the last, else the last two weeks of its data; never the whole
    stored span, where a 2019 shutdown would be squashed beside 2010 BGP data."""
    span = _span(context.series)
    now = context.data_end or datetime.now(UTC)
    if span is None:
        return now - timedelta(days=1), now
    events = [*context.events, *context.affecting]
    if events:
        start = min(e.start for e in events) - timedelta(days=3)
        end = max(_event_end(e, context.data_end) for e in events) + timedelta(days=1)
    else:
        end = span[1]
        start = end - QUIET_WINDOW
    start, end = max(start, span[0]), min(end, span[1])
    return (start, end) if end > start else span


def entity_chart_spec(context: EntityContext) -> ChartSpec:
    """An entity's signals over :func:`entity_window`, each of its events shaded."""
    start, end = entity_window(context)
    shades: list[Shade] = []
    for event in context.events:
        degradation = event.kind == EventKind.DEGRADATION
        shades += _event_shades(
            event,
            context.data_end,
            DEGRADATION_COLOUR if degradation else EVENT_COLOUR,
            0.2,
            "degradation" if degradation else "outage",
        )
    for event in context.affecting:
        shades += _event_shades(event, context.data_end, OTHER_COLOUR, 0.12, f"event of {event.entity_name}")
    e = context.entity
    own = f"{len(context.events)} event{'' if len(context.events) == 1 else 's'}"
    others = len(context.affecting)
    listing = f"{others} event{'' if others == 1 else 's'} of a larger area" if others else ""
    return ChartSpec(
        title=f"{e.name}: every signal as % of its ordinary level",
        subtitle=f"{e.entity_id} - {e.kind.value} - {own} of its own"
        + (f", listed in {listing}" if listing else ""),
        series=context.series,
        start=start,
        end=end,
        shades=shades,
        footer="",
    )
