"""Downsampling a long series into at most ``max_points`` buckets without hiding an outage.

A plain mean (or every n-th point) of a week of hourly bins can smooth a three-hour cut into a
shallow dip; so each bucket keeps its mean *and* its minimum and maximum (the M4 idea, without the
first/last values): a chart draws the mean and the min-max band, and the deepest bin of any outage
survives whatever the zoom.

Bucket widths come from a ladder of round durations (5 min, 10 min, ... 1 h, 3 h, 6 h, 1 day, 1 week,
...) that are whole numbers of bins, and buckets are aligned on multiples of their width (plus the
series' bin phase): the boundaries do not move when the asked range is panned, and a chart can
label them. Empty buckets are left out: a gap in the data stays a gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lightsout.store import TimeSeries

METHOD = (
    "buckets of a round duration (a whole number of bins), aligned on multiples of their width; each "
    "keeps the mean, minimum and maximum of its stored points (NaN ignored); empty buckets are omitted"
)

_MINUTE, _HOUR, _DAY = 60, 3600, 86400
_ROUND_S = [
    _MINUTE, 2 * _MINUTE, 5 * _MINUTE, 10 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE,
    _HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR,
    _DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY, 28 * _DAY,
]  # fmt: skip


def _widths(bin_s: int) -> Iterator[int]:
    """Bucket widths from narrow to wide: round durations that hold whole bins, then doublings."""
    width = bin_s
    for candidate in _ROUND_S:
        if candidate > bin_s and candidate % bin_s == 0:
            width = candidate
            yield width
    while True:
        width *= 2
        yield width


@dataclass(frozen=True, slots=True)
class Buckets:
    bucket_s: int
    times_s: npt.NDArray[np.int64]
    mean: npt.NDArray[np.float64]
    min: npt.NDArray[np.float64]
    max: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]

    @property
    def downsampled(self) -> bool:
        return bool(self.counts.size) and int(self.counts.max()) > 1


def downsample(series: TimeSeries, max_points: int) -> Buckets:
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    times, values, bin_s = series.times_s, series.values, series.key.bin_s
    if times.size <= max_points:
        return Buckets(bin_s, times, values, values, values, np.ones(times.size, dtype=np.int64))
    first, last = int(times[0]), int(times[-1])
    phase = first % bin_s
    for bucket_s in _widths(bin_s):
        origin = first - (first - phase) % bucket_s
        if (last - origin) // bucket_s + 1 <= max_points:
            break
    index = (times - origin) // bucket_s
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    valid = ~np.isnan(values)
    sums = np.add.reduceat(np.where(valid, values, 0.0), starts)
    counts = np.add.reduceat(valid.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return Buckets(
        bucket_s,
        (origin + index[starts] * bucket_s).astype(np.int64),
        mean.astype(np.float64),
        np.fmin.reduceat(values, starts),
        np.fmax.reduceat(values, starts),
        np.diff(np.r_[starts, times.size]).astype(np.int64),
    )
