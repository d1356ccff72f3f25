"""Seasonal robust baseline with inpainting, and a restarted one-sided CUSUM alarm.

Method, for every series and every new bin ``t`` (all series of a bank at once, vectorised):

1. **Baseline** — a seasonal moving median: each of the previous ``days`` days contributes its
   value at the same time of day, smoothed as the median of the bins within ``+-neighbours`` of it,
   and the baseline is the median of those day samples (a median of medians). It follows the
   daily rhythm; taking the median across the last seven days also absorbs the weekly rhythm
   (weekend days are two of seven samples). This is the moving median of IODA's detectors
   (Dainotti et al., "Analysis of Country-wide Internet Outages Caused by Censorship", IMC 2011;
   IODA's watchtower-sentry), made seasonal as in Quan, Heidemann & Pradkin, "Trinocular:
   Understanding Internet Reliability Through Adaptive Probing", SIGCOMM 2013, whose belief in a
   block's state is judged against that block's own long-run availability.
2. **Inpainting** — a bin judged to be in an outage enters the history as its baseline, not as its
   value (IODA's "inpainting"): an outage never drags the baseline down, so a shutdown that
   lasts for days, or recurs every morning, stays an outage instead of becoming the new normal.
3. **Noise scale** — ``max(1.4826 x MAD of the day samples, min_scale_fraction x baseline,
   sqrt(baseline) for counts)``; the standardised departure is ``z = (baseline - value) / scale``
   (sign flipped for signals where a rise is bad).
4. **Alarm** — a one-sided CUSUM (Page, "Continuous Inspection Schemes", Biometrika 1954) of
   ``min(z, z_cap) - k``, accumulated only while the ratio ``value / baseline`` is past the
   policy's WARNING level and restarted as soon as it is not; the alarm fires when the sum reaches
   ``h``. The onset is the first bin of the run (the CUSUM change-point estimate), so the alert
   covers the whole run, and those bins are inpainted retroactively. ooni/data's detector uses a
   CUSUM the same way, to turn many weak per-measurement departures into one confident change.
5. **Short histories** — a series has a seasonal baseline once ``min_days`` day(s) of history
   exist; before that, once ``fallback_hours`` of data exist, its baseline is the median of its
   trailing bins (up to a day). Until it has ``full_days`` days, a run must reach the policy's
   CRITICAL level (not merely WARNING) to count: a user who starts during a crisis gets the deep
   cut, not the wobbles of an unknown rhythm, and the event says how short its history was. A
   cut in the first hours is thus found and inpainted, instead of entering the day samples as
   the next day's normal.

   With the defaults (``z_cap = 4``, ``k = 0.5``, ``h = 4``) one bin never raises an alarm: the
   detector's resolution is two bins.

Missing bins are ``NaN``: they are never judged, never enter the baseline and end a run: an
observatory that lost its own data does not report an outage.

**Layout, for speed.** History is kept time-major (one row of all series per bin), so a bin's
baseline reads ``days`` contiguous rows (IODA's scale, 222,000 series, is ~6 MB per bin) instead
of ``days x (2 x neighbours + 1)`` scattered values per series, and the medians are sorting
networks of element-wise ``min``/``max`` over those rows (Knuth, TAOCP vol. 3, 5.3.4) rather than
a sort per series; the day samples are smoothed once, when their bins arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lightsout.detect.policy import Direction, SignalPolicy

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class BaselineParams:
    """Every parameter of the detector; ``docs/detection.md`` explains each."""

    days: int = 7  # days of history in the seasonal median
    neighbours: int = 1  # a day's sample is the median of the bins within +-neighbours of the time
    min_days: int = 1  # days with data needed before a series is judged at all
    full_days: int = 2  # below this many days, only CRITICAL-depth runs count (short history)
    fallback_hours: float = 3.0  # before a day of history: trailing median of at least this much data
    flat_spread: float = 0.1  # a trailing day this flat (1.4826 MAD / median) may inpaint outage bins
    z_cap: float = 4.0  # one bin adds at most z_cap - k to the CUSUM
    k: float = 0.5  # CUSUM allowance, in noise-scale units
    h: float = 4.0  # CUSUM alarm level
    backfill_bins: int = 288  # how far back (in bins) an alarm can date its onset
    day_s: int = 86_400


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one bin looked like to the detector, per series of the bank."""

    time_s: int
    values: FloatArray
    baselines: Float32Array  # NaN where the history is too short (float32: the bank's precision)
    ratios: Float32Array
    levels: IntArray  # AlertLevel per series for this bin (0 while a run is not yet an alarm)
    # (series index, first bin time) of alarms that fired at this bin and reach back in time
    backdated: list[tuple[int, int]]


def _network(n: int) -> list[tuple[int, int]]:
    """A sorting network for ``n`` inputs (Batcher's odd-even merge sort, any n)."""
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def _sorted_median(ordered: Float32Array) -> Float32Array:
    """Column medians of an array sorted along axis 0 with NaN last (np.sort's order)."""
    counts = np.count_nonzero(~np.isnan(ordered), axis=0)
    lo = np.maximum(counts - 1, 0) // 2
    hi = np.maximum(counts // 2, 0)
    hi = np.minimum(hi, ordered.shape[0] - 1)
    pick = np.take_along_axis
    median: Float32Array = (pick(ordered, lo[None, :], 0)[0] + pick(ordered, hi[None, :], 0)[0]) * np.float32(
        0.5
    )
    median[counts == 0] = np.nan
    return median


SMALL_BANK = 8192  # below this many series, sort the rows instead of running the network


def _sort_rows(ordered: list[Float32Array]) -> list[Float32Array]:
    """Sort m rows element-wise per column (+inf last) by a sorting network: m x n element-wise
    min/max instead of n sorts of m values. The rows' buffers are reused."""
    if ordered[0].size < SMALL_BANK:  # few series: one sort beats the network's per-call overhead
        return list(np.sort(np.stack(ordered), axis=0))
    spare = np.empty_like(ordered[0])
    for a, b in _network(len(ordered)):
        np.minimum(ordered[a], ordered[b], out=spare)
        np.maximum(ordered[a], ordered[b], out=ordered[b])
        ordered[a], spare = spare, ordered[a]
    return ordered


def _pick_median(ordered: list[Float32Array], counts: npt.NDArray[np.uint8]) -> Float32Array:
    """Per column, the median of its first ``counts`` sorted values (NaN when none)."""
    m, n = len(ordered), ordered[0].size
    if int(counts.min()) == m:  # every column complete: the middle row(s)
        return (ordered[(m - 1) // 2] + ordered[m // 2]) * np.float32(0.5)
    flat = np.stack(ordered).ravel()
    columns = np.arange(n)
    lo = np.maximum(counts.astype(np.int64) - 1, 0) // 2
    hi = np.minimum(counts.astype(np.int64) // 2, m - 1)
    median = (flat[lo * n + columns] + flat[hi * n + columns]) * np.float32(0.5)
    median[counts == 0] = np.nan
    return median


def nanmedian_columns(rows: Float32Array) -> tuple[Float32Array, npt.NDArray[np.uint8]]:
    """Per column of a (m, n) array: the median of its non-NaN values (NaN when none) and how many
    there were, by a sorting network (NaN sorted last). ``rows`` is overwritten."""
    median, counts, _ = _nanmedian_sorted(rows)
    return median, counts


def _nanmedian_sorted(
    rows: Float32Array,
) -> tuple[Float32Array, npt.NDArray[np.uint8], list[Float32Array]]:
    m = rows.shape[0]
    missing = np.isnan(rows)
    counts = (m - missing.view(np.uint8).sum(axis=0, dtype=np.uint8)).astype(np.uint8)
    if int(counts.min()) < m:
        rows[missing] = np.inf
    ordered = _sort_rows(list(rows))
    return _pick_median(ordered, counts), counts, ordered


class SeasonalBank:
    """Detector state for N series of one signal kind on one time grid (same bin size and phase)."""

    def __init__(
        self, n: int, bin_s: int, policy: SignalPolicy, params: BaselineParams | None = None
    ) -> None:
        self.n = n
        self.bin_s = bin_s
        self.policy = policy
        self.params = params or BaselineParams()
        p = self.params
        self.bins_per_day = max(1, round(p.day_s / bin_s))
        # Day samples (smoothed, inpainted), time-major, float32 to halve the memory of large
        # banks (74,000 entities x 3 signals x 7 days of 5-minute bins is 1.8 GB in float32).
        self.length = p.days * self.bins_per_day + p.neighbours + 1
        self.smooth = np.full((self.length, n), np.nan, dtype=np.float32)
        # Inpainted values, raw values and baselines of recent bins: to smooth, and to reach back
        # when an alarm fires.
        self.recent = max(min(self.length, p.backfill_bins), 2 * p.neighbours + 2)
        self.history = np.full((self.recent, n), np.nan, dtype=np.float32)
        # raw values in float64: a backdated alert reports the stored value exactly
        self.value_ring = np.full((self.recent, n), np.nan)
        self.baseline_ring = np.full((self.recent, n), np.nan, dtype=np.float32)
        self.young_ring = np.zeros((self.recent, n), dtype=bool)  # judged on a non-flat fallback
        self._flat_fallback = np.zeros(n, dtype=bool)
        self.cusum = np.zeros(n, dtype=np.float32)
        self.run_start = np.full(n, -1, dtype=np.int64)  # bin number where the current run began
        self.alarmed = np.zeros(n, dtype=bool)
        self.next_bin: int | None = None  # bin number (time_s // bin_s) of the next expected bin
        self._days = np.arange(1, p.days + 1, dtype=np.int64) * self.bins_per_day

    # -- stepping ------------------------------------------------------------------------------

    def step(self, time_s: int, values: FloatArray) -> StepResult:
        """Judge the bin starting at ``time_s``. Bins skipped since the last call count as missing."""
        bin_no = time_s // self.bin_s
        if self.next_bin is not None:
            if bin_no < self.next_bin:
                raise ValueError(f"bin at {time_s} is older than the detector's state; replay from scratch")
            for missing in range(max(self.next_bin, bin_no - self.length), bin_no):
                self._write_missing(missing)
        self.next_bin = bin_no + 1
        phase = time_s - bin_no * self.bin_s
        p, pol = self.params, self.policy
        value32 = np.asarray(values, dtype=np.float32)
        baselines, scale, days = self._baseline(bin_no)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = value32 / baselines
            if pol.direction == Direction.DROP:
                z = (baselines - value32) / scale
            else:
                z = (value32 - baselines) / scale
        ratios[~(baselines > 0)] = np.nan
        # short histories (fewer than full_days days) must reach the CRITICAL level. The levels are
        # float32 like the ratios, in both branches: a series' judgement must not depend on whether
        # another series of its bank has a short history (a float64 level would turn the comparison
        # of a ratio exactly at the level, 60/75 against 0.8, from float32 into float64).
        warning, critical_level = np.float32(pol.warning), np.float32(pol.critical)
        level = (
            warning
            if int(days.min()) >= p.full_days
            else np.where(days >= p.full_days, warning, critical_level)
        )
        if pol.direction == Direction.DROP:
            past_warning = ratios <= level
            critical = ratios <= critical_level
        else:
            past_warning = ratios >= level
            critical = ratios >= critical_level
        # restarted CUSUM (NaN ratios compare False: a missing bin ends a run), in place
        np.nan_to_num(z, copy=False, nan=0.0)
        np.minimum(z, np.float32(p.z_cap), out=z)
        z -= np.float32(p.k)
        cusum = self.cusum
        cusum += z
        np.maximum(cusum, np.float32(0.0), out=cusum)
        cusum[~past_warning] = 0.0
        self.run_start[~past_warning] = -1
        self.run_start[past_warning & (self.run_start < 0)] = bin_no
        fire = past_warning & ~self.alarmed & (cusum >= p.h)
        self.alarmed = past_warning & (self.alarmed | fire)
        levels = self.alarmed.astype(np.int64)  # WARNING ...
        levels += self.alarmed & critical  # ... or CRITICAL
        col = bin_no % self.recent
        self.value_ring[col] = values
        self.baseline_ring[col] = baselines
        # inpainting: alarmed bins enter the history as their baseline
        # A fallback baseline (no day of history) stands for the level at any time of day only if
        # the trailing day was flat (BGP, probing); otherwise (a daily rhythm, Google traffic) an
        # outage bin judged on it enters the history as unknown, so no day sample is built on it.
        young = (days < p.min_days) & ~self._flat_fallback
        self.young_ring[col] = young
        inpainted = np.where(self.alarmed, baselines, value32)
        inpainted[self.alarmed & young] = np.nan
        self.history[col] = inpainted
        backdated: list[tuple[int, int]] = []
        fired = np.flatnonzero(fire)
        if fired.size:
            firsts = np.maximum(self.run_start[fired], bin_no - self.recent + 2 * p.neighbours + 1)
            # inpaint the run's earlier bins, then rebuild the day samples that saw them, one bin
            # offset at a time for every fired series together
            for back in range(1, int(bin_no - firsts.min()) + 1):
                b = bin_no - back
                cols = fired[firsts <= b]
                row = b % self.recent
                self.history[row, cols] = np.where(
                    self.young_ring[row, cols], np.float32(np.nan), self.baseline_ring[row, cols]
                )
            for back in range(p.neighbours + 1, int(bin_no - firsts.min()) + p.neighbours + 1):
                centre = bin_no - back
                cols = fired[firsts - p.neighbours <= centre]
                self._write_smooth(centre, cols)
            backdated = [
                (int(i), int(f) * self.bin_s + phase)
                for i, f in zip(fired, firsts, strict=True)
                if f < bin_no
            ]
        self._write_smooth(bin_no - p.neighbours)
        return StepResult(time_s, np.asarray(values, dtype=np.float64), baselines, ratios, levels, backdated)

    def _write_missing(self, bin_no: int) -> None:
        col = bin_no % self.recent
        self.history[col] = np.nan
        self.value_ring[col] = np.nan
        self.baseline_ring[col] = np.nan
        self.cusum[:] = 0.0
        self.run_start[:] = -1
        self.alarmed[:] = False
        self._write_smooth(bin_no - self.params.neighbours)

    def _write_smooth(self, centre: int, cols: IntArray | None = None) -> None:
        """The day sample of bin ``centre`` (of every series, or of ``cols``): the median of its
        inpainted neighbourhood, once the bins on both sides have arrived."""
        w = self.params.neighbours
        rows = [(centre + j) % self.recent for j in range(-w, w + 1)]
        if cols is None:
            sample = self.history[rows] if w else self.history[rows[0]][None, :].copy()
            self.smooth[centre % self.length] = nanmedian_columns(sample)[0] if w else sample[0]
        else:
            sample = self.history[np.ix_(np.array(rows, dtype=np.int64), cols)]
            self.smooth[centre % self.length, cols] = nanmedian_columns(sample)[0]

    def _baseline(self, bin_no: int) -> tuple[Float32Array, Float32Array, npt.NDArray[np.uint8]]:
        rows = self.smooth[(bin_no - self._days) % self.length]  # (days, n), a copy
        median, days, ordered = _nanmedian_sorted(rows)
        # MAD from the sorted samples (the same values per column; missing ones are +inf, last)
        deviation = [np.abs(row - median) for row in ordered]
        mad = _pick_median(_sort_rows(deviation), days)
        floor = np.float32(self.policy.min_scale_fraction) * np.abs(median)
        scale = np.maximum(np.float32(1.4826) * mad, floor)
        if self.policy.counts:
            scale = np.maximum(scale, np.sqrt(np.maximum(median, 0.0)))
        scale = np.maximum(scale, np.float32(1e-9))
        young = np.flatnonzero(days < self.params.min_days)
        median[young] = np.nan
        self._flat_fallback = np.zeros(self.n, dtype=bool)
        if young.size:
            self._fallback(bin_no, young, median, scale)
        return median, scale, days

    def _fallback(self, bin_no: int, young: IntArray, median: Float32Array, scale: Float32Array) -> None:
        """Series without a day of history: the median of their (inpainted) trailing bins, up to a
        day, once ``fallback_hours`` of them exist. They are judged in short-history mode (days = 0:
        CRITICAL depth only), so an outage in the first hours is found and inpainted instead of
        entering the day samples as tomorrow's normal."""
        span = min(self.recent, self.bins_per_day)
        need = max(3, round(self.params.fallback_hours * 3600 / self.bin_s))
        if span < need:
            return
        rows = self.history[[(bin_no - k) % self.recent for k in range(1, span + 1)]][:, young]
        enough = np.count_nonzero(~np.isnan(rows), axis=0) >= need
        if not enough.any():
            return
        rows = rows[:, enough]
        chosen = young[enough]
        centre = _sorted_median(np.sort(rows, axis=0))
        mad = _sorted_median(np.sort(np.abs(rows - centre), axis=0))
        floor = np.float32(self.policy.min_scale_fraction) * np.abs(centre)
        spread = np.maximum(np.float32(1.4826) * mad, floor)
        if self.policy.counts:
            spread = np.maximum(spread, np.sqrt(np.maximum(centre, 0.0)))
        median[chosen] = centre
        scale[chosen] = np.maximum(spread, np.float32(1e-9))
        with np.errstate(divide="ignore", invalid="ignore"):
            self._flat_fallback[chosen] = np.float32(1.4826) * mad <= self.params.flat_spread * np.abs(centre)

    def value_at(self, index: int, time_s: int) -> tuple[float, float]:
        """(value, baseline) the bank saw for a series at a bin still in its ring."""
        col = (time_s // self.bin_s) % self.recent
        return float(self.value_ring[col, index]), float(self.baseline_ring[col, index])
