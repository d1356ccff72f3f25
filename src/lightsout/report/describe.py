"""Plain descriptions of a series: its ordinary level and where it fell.

This is description, not detection (that is :mod:`lightsout.detect`): the ordinary level is the
upper quartile of the window shown, which stays at the pre-outage level as long as an outage
covers less than three quarters of the window; "fell" is the first bin below half that level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightsout.store import TimeSeries

SPARK = "▁▂▃▄▅▆▇█"
FALL_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class Fall:
    """How a series behaved over a window."""

    ordinary: float
    latest: float
    minimum: float
    minimum_at_s: int
    fell_at_s: int | None  # first bin below FALL_FRACTION x ordinary, if any

    @property
    def minimum_pct(self) -> float:
        return 100.0 * self.minimum / self.ordinary if self.ordinary > 0 else float("nan")

    @property
    def latest_pct(self) -> float:
        return 100.0 * self.latest / self.ordinary if self.ordinary > 0 else float("nan")


def describe(series: TimeSeries) -> Fall | None:
    """The window's ordinary level and fall. Negative values (a source's -1 for "no measurement")
    and NaN are gaps, not levels; a window without a value is None."""
    keep = np.isfinite(series.values) & (series.values >= 0)
    if not keep.any():
        return None
    series = TimeSeries(series.key, series.times_s[keep], series.values[keep])
    values = series.values
    ordinary = float(np.percentile(values, 75))
    low = int(np.argmin(values))
    below = np.flatnonzero(values < FALL_FRACTION * ordinary) if ordinary > 0 else np.array([], dtype=int)
    return Fall(
        ordinary=ordinary,
        latest=float(values[-1]),
        minimum=float(values[low]),
        minimum_at_s=int(series.times_s[low]),
        fell_at_s=int(series.times_s[below[0]]) if below.size else None,
    )


def sparkline(values: np.ndarray, width: int = 48, top: float | None = None) -> str:
    """Unicode sparkline of ``values`` resampled to ``width`` columns (mean per column)."""
    if values.size == 0:
        return ""
    columns = np.array_split(values, min(width, values.size))
    means = np.array([c.mean() for c in columns])
    top = float(top if top is not None else means.max())
    if top <= 0:
        return SPARK[0] * len(means)
    scaled = np.clip(means / top, 0, 1) * (len(SPARK) - 1)
    return "".join(SPARK[round(v)] for v in scaled)
