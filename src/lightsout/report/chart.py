"""PNG/SVG charts drawn server-side with matplotlib (no browser, no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from lightsout.model import Entity
from lightsout.store import TimeSeries


def _dates(times_s: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(int(t), UTC) for t in times_s]


def draw_entity_chart(
    path: Path,
    entity: Entity,
    overall: TimeSeries | None,
    children: list[tuple[Entity, TimeSeries]],
    title: str,
) -> None:
    """Top: the entity's own series. Bottom: one row per child (region, county...), coloured by level."""
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
    if overall is not None and overall.values.size:
        top.plot(_dates(overall.times_s), overall.values, color="#1f4e79", linewidth=1.4)
        top.fill_between(_dates(overall.times_s), overall.values, color="#1f4e79", alpha=0.15)
    top.set_ylabel(overall.key.signal.value.replace("_", " ") if overall is not None else "")
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
        x = mdates.date2num(_dates(edges))
        mesh = ax.pcolormesh(
            x,
            np.arange(len(children) + 1),
            np.ma.masked_invalid(grid),
            cmap="RdYlGn",
            vmin=0,
            vmax=float(np.nanmax(grid)) or 1.0,
            shading="flat",
        )
        ax.set_yticks(np.arange(len(children)) + 0.5)
        ax.set_yticklabels([e.name for e, _ in children], fontsize=7)
        ax.invert_yaxis()
        fig.colorbar(mesh, cax=ax.inset_axes((1.01, 0.0, 0.015, 1.0)), label="level (grey: no data)")
        ax.set_facecolor("#d9d9d9")
    axes[-1][0].xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M UTC"))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
