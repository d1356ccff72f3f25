"""The chart of `lightsout show`: PNG/SVG drawn server-side with matplotlib (no browser, no network).

Values as stored (not normalised): the entity's own series on top, one row per region/county/network
below, coloured by value. Every time axis carries the year; the footer names the sources drawn.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from lightsout.detect.policy import POLICIES, Direction
from lightsout.model import Entity, SignalKind
from lightsout.report.event_chart import broken_at_gaps
from lightsout.report.statement import bin_text, signal_noun, source_name
from lightsout.store import TimeSeries

TIME_FORMAT = "%d %b %Y\n%H:%M UTC"  # every time axis says the year


def _dates(times_s: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    return np.asarray(mdates.date2num(times_s.astype("datetime64[s]")), dtype=np.float64)


def rises(signal: SignalKind) -> bool:
    """Whether a rise of this signal is the bad direction (latency)."""
    return signal in POLICIES and POLICIES[signal].direction == Direction.RISE


def show_footer(series: list[TimeSeries]) -> str:
    """Credits the sources of the series drawn, and only those."""
    sources = sorted({source_name(s.key.source) for s in series if s.values.size})
    data = f"Data: {', '.join(sources)}. " if sources else "No data drawn. "
    return data + "Values as stored, not normalised; grey: no data. Times in UTC. Lightsout."


def draw_entity_chart(
    path: Path,
    entity: Entity,
    overall: TimeSeries | None,
    children: list[tuple[Entity, TimeSeries]],
    title: str,
) -> None:
    """Write the chart of :func:`entity_figure` to ``path`` (PNG or SVG by its suffix)."""
    fig = entity_figure(entity, overall, children, title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def entity_figure(
    entity: Entity,
    overall: TimeSeries | None,
    children: list[tuple[Entity, TimeSeries]],
    title: str,
) -> Figure:
    """Top: the entity's own series. Bottom: one row per child (region, county...), coloured by value."""
    rows = 2 if children else 1
    heights = [1.0, max(1.5, 0.22 * len(children))] if children else [1.0]
    fig, axes = plt.subplots(
        rows,
        1,
        figsize=(11, 2.6 + sum(heights) * 1.2),
        sharex=True,
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    top = axes[0][0]
    key = overall.key if overall is not None else (children[0][1].key if children else None)
    up_is_worse = key is not None and rises(key.signal)
    if overall is not None and overall.values.size:
        times, values = broken_at_gaps(overall.times_s, overall.values, overall.key.bin_s)
        top.plot(_dates(times), values, color="#1f4e79", linewidth=1.4)
        top.fill_between(_dates(times), values, color="#1f4e79", alpha=0.15)
    if key is not None:
        title += f" - {source_name(key.source)}, {bin_text(key.bin_s)} bins"
    if overall is not None:
        noun = signal_noun(overall.key.signal, overall.key.source)
        top.set_ylabel(noun + ("\n(up is worse)" if up_is_worse else ""))
    top.set_title(title, loc="left", fontsize=11)
    top.grid(alpha=0.3)
    if children:
        ax = axes[1][0]
        all_times = np.unique(np.concatenate([s.times_s for _, s in children]))
        grid = np.full((len(children), all_times.size), np.nan)
        for i, (_, series) in enumerate(children):
            grid[i, np.searchsorted(all_times, series.times_s)] = series.values
        step = (all_times[1] - all_times[0]) if all_times.size > 1 else 3600
        edges = np.append(all_times, all_times[-1] + step)
        finite = grid[np.isfinite(grid)]
        mesh = ax.pcolormesh(
            _dates(edges.astype(np.int64)),
            np.arange(len(children) + 1),
            np.ma.masked_invalid(grid),
            cmap="RdYlGn_r" if up_is_worse else "RdYlGn",  # red is bad either way
            vmin=0,
            vmax=float(finite.max()) if finite.size and finite.max() > 0 else 1.0,
            shading="flat",
        )
        ax.set_yticks(np.arange(len(children)) + 0.5)
        ax.set_yticklabels([e.name for e, _ in children], fontsize=7)
        ax.invert_yaxis()
        child_key = children[0][1].key
        label = signal_noun(child_key.signal, child_key.source) + (" (up is worse)" if up_is_worse else "")
        fig.colorbar(mesh, cax=ax.inset_axes((1.01, 0.0, 0.015, 1.0)), label=f"{label} (grey: no data)")
        ax.set_facecolor("#d9d9d9")
    bottom = axes[-1][0]
    bottom.xaxis.set_major_formatter(mdates.DateFormatter(TIME_FORMAT))
    drawn = ([overall] if overall is not None else []) + [s for _, s in children]
    footer = "\n".join(textwrap.wrap(show_footer(drawn), 150))
    bottom.annotate(footer, xy=(0, 0), xycoords="axes fraction", xytext=(0, -42),
                    textcoords="offset points", va="top", fontsize=7, color="#555555")  # fmt: skip
    return fig
