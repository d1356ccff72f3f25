"""Downsampling for /api/v1/signals: a short cut in a long series must stay visible."""

from __future__ import annotations

import numpy as np
import pytest

from lightsout.api.downsample import downsample
from lightsout.model import SeriesKey, SignalKind
from lightsout.store import TimeSeries

KEY = SeriesKey("country/XX", SignalKind.RESPONSIVE_ADDRESSES, "test", 300)
START = 1_600_000_000 - 1_600_000_000 % 300 + 120  # 5-minute bins with a phase, as real sources have


def series(values: list[float] | np.ndarray, start: int = START, step: int = 300) -> TimeSeries:
    values = np.asarray(values, dtype=np.float64)
    return TimeSeries(KEY, start + step * np.arange(values.size, dtype=np.int64), values)


def test_short_series_is_returned_as_stored() -> None:
    s = series([5.0, 6.0, 7.0])
    b = downsample(s, 3)
    assert not b.downsampled and b.bucket_s == 300
    assert b.times_s.tolist() == s.times_s.tolist() and b.mean.tolist() == b.min.tolist() == [5.0, 6.0, 7.0]


def test_a_single_bin_cut_survives_a_hundredfold_reduction() -> None:
    values = np.full(10_000, 100.0)
    values[7_777] = 0.0  # five minutes of silence in five weeks
    b = downsample(series(values), 100)
    assert b.downsampled and len(b.times_s) <= 100
    assert b.min.min() == 0.0 and b.max.max() == 100.0
    hit = int(np.argmin(b.min))
    assert b.times_s[hit] <= START + 300 * 7_777 < b.times_s[hit] + b.bucket_s
    assert b.mean[hit] > 98  # a mean alone would have hidden it
    assert int(b.counts.sum()) == 10_000


@pytest.mark.parametrize("max_points", [1, 2, 7, 99, 100, 101, 4999])
def test_bucket_count_and_alignment(max_points: int) -> None:
    s = series(np.arange(5_000.0))
    b = downsample(s, max_points)
    assert len(b.times_s) <= max_points
    assert b.bucket_s % 300 == 0
    assert all((t - START) % 300 == 0 and (t - START % 300) % b.bucket_s == 0 for t in b.times_s.tolist())
    assert np.all(np.diff(b.times_s) > 0)
    assert int(b.counts.sum()) == 5_000
    np.testing.assert_allclose((b.mean * b.counts).sum(), s.values.sum())


def test_buckets_do_not_move_when_the_range_is_panned() -> None:
    whole = downsample(series(np.arange(3_000.0)), 100)
    later = downsample(series(np.arange(1_000.0, 3_000.0), start=START + 300 * 1_000), 67)
    assert later.bucket_s == whole.bucket_s
    shared = set(whole.times_s.tolist()) & set(later.times_s.tolist())
    assert len(shared) > 50
    for t in sorted(shared)[1:]:  # the first shared bucket may be cut by the range
        i, j = whole.times_s.tolist().index(t), later.times_s.tolist().index(t)
        assert (whole.min[i], whole.max[i], whole.counts[i]) == (later.min[j], later.max[j], later.counts[j])


def test_gaps_stay_gaps_and_nan_is_ignored() -> None:
    times = np.r_[np.arange(0, 500), np.arange(2_000, 2_500)] * 300 + START
    values = np.full(times.size, 50.0)
    values[3] = np.nan
    b = downsample(TimeSeries(KEY, times.astype(np.int64), values), 100)
    assert len(b.times_s) < 100  # the empty middle has no buckets
    gap = np.diff(b.times_s).max()
    assert gap > 1_000 * 300
    assert not np.isnan(b.mean).any() and b.min.min() == 50.0


def test_all_nan_bucket_is_nan() -> None:
    values = np.full(1_000, 10.0)
    values[:300] = np.nan  # more than the first bucket (12 h of 5-minute bins)
    b = downsample(series(values), 10)
    assert b.bucket_s == 12 * 3600
    assert np.isnan(b.mean[0]) and np.isnan(b.min[0]) and b.counts[0] > 0
    assert b.mean[-1] == 10.0


def test_empty_series() -> None:
    b = downsample(series([]), 10)
    assert b.times_s.size == 0 and not b.downsampled
