"""Seasonal robust baseline with inpainting, and a restarted one-sided CUSUM alarm.

Method, for every series and every new bin ``t`` (all series of a bank at once, vectorised):

1. **Baseline** — the median of the series at the same time of day (``+-neighbours`` bins) over
   the previous ``days`` days: a seasonal moving median that follows the daily rhythm. Taking the
   median across the last seven days also absorbs the weekly rhythm: weekend days are two of
   seven samples, so the median follows the working days. This is the moving median of IODA's
   detectors (Dainotti et al., "Analysis of Country-wide Internet Outages Caused by Censorship",
   IMC 2011; IODA's watchtower-sentry), made seasonal as in Quan, Heidemann & Pradkin,
   "Trinocular: Understanding Internet Reliability Through Adaptive Probing", SIGCOMM 2013, whose
   belief in a block's state is judged against that block's own long-run availability.
2. **Inpainting** — a bin judged to be in an outage enters the history as its baseline, not as its
   value (IODA's "inpainting"): an outage never drags the baseline down, so a shutdown that
   lasts for days, or recurs every night, stays an outage instead of becoming the new normal.
3. **Noise scale** — ``max(1.4826 x MAD of the baseline sample, min_scale_fraction x baseline,
   sqrt(baseline) for counts)``; the standardised departure is ``z = (baseline - value) / scale``
   (sign flipped for signals where a rise is bad).
4. **Alarm** — a one-sided CUSUM (Page, "Continuous Inspection Schemes", Biometrika 1954) of
   ``min(z, z_cap) - k``, accumulated only while the ratio ``value / baseline`` is past the
   policy's WARNING level and restarted as soon as it is not; the alarm fires when the sum reaches
   ``h``. The onset is the first bin of the run (the CUSUM change-point estimate), so the alert
   covers the whole run, and those bins are inpainted retroactively. ooni/data's detector uses a
   CUSUM the same way, to turn many weak per-measurement departures into one confident change.

   With the defaults (``z_cap = 4``, ``k = 0.5``, ``h = 4``) one bin never raises an alarm: the
   detector's resolution is two bins, and a series needs ``min_days`` days of history first.

Missing bins are ``NaN``: they are never judged, never enter the baseline and end a run: an
observatory that lost its own data does not report an outage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lightsout.detect.policy import AlertLevel, Direction, SignalPolicy

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class BaselineParams:
    """Every parameter of the detector; ``docs/detection.md`` explains each."""

    days: int = 7  # days of history in the seasonal median
    neighbours: int = 1  # bins either side of the same time of day
    min_days: int = 2  # days with data needed before a series is judged
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
    baselines: FloatArray  # NaN where the history is too short
    ratios: FloatArray
    levels: IntArray  # AlertLevel per series for this bin (0 while a run is not yet an alarm)
    # (series index, first bin time) of alarms that fired at this bin and reach back in time
    backdated: list[tuple[int, int]]


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
        self.length = p.days * self.bins_per_day + p.neighbours + 1
        # Inpainted values for the seasonal sample, float32 to halve the memory of large banks
        # (74,000 entities x 3 signals x 7 days of 5-minute bins is 1.8 GB in float32).
        self.history = np.full((n, self.length), np.nan, dtype=np.float32)
        # Raw values and baselines of recent bins, to reach back when an alarm fires.
        self.recent = min(self.length, p.backfill_bins)
        self.baseline_ring = np.full((n, self.recent), np.nan)
        self.value_ring = np.full((n, self.recent), np.nan)
        self.cusum = np.zeros(n)
        self.run_start = np.full(n, -1, dtype=np.int64)  # bin number where the current run began
        self.alarmed = np.zeros(n, dtype=bool)
        self.next_bin: int | None = None  # bin number (time_s // bin_s) of the next expected bin
        offsets = [
            -d * self.bins_per_day + j
            for d in range(1, p.days + 1)
            for j in range(-p.neighbours, p.neighbours + 1)
        ]
        self._offsets = np.array(offsets, dtype=np.int64)
        self._per_day = 2 * p.neighbours + 1

    # -- stepping ------------------------------------------------------------------------------

    def step(self, time_s: int, values: FloatArray) -> StepResult:
        """Judge the bin starting at ``time_s``. Bins skipped since the last call count as missing."""
        bin_no = time_s // self.bin_s
        if self.next_bin is not None:
            if bin_no < self.next_bin:
                raise ValueError(f"bin at {time_s} is older than the detector's state; replay from scratch")
            for missing in range(self.next_bin, min(bin_no, self.next_bin + self.length)):
                self._write_missing(missing)
        self.next_bin = bin_no + 1
        phase = time_s - bin_no * self.bin_s
        values = np.asarray(values, dtype=np.float64)
        baselines, scale = self._baseline(bin_no)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(baselines > 0, values / baselines, np.nan)
        pol = self.policy
        if pol.direction == Direction.DROP:
            past_warning = ratios <= pol.warning
            critical = ratios <= pol.critical
            z = (baselines - values) / scale
        else:
            past_warning = ratios >= pol.warning
            critical = ratios >= pol.critical
            z = (values - baselines) / scale
        past_warning &= np.isfinite(ratios)
        p = self.params
        # restarted CUSUM
        increment = np.minimum(np.nan_to_num(z, nan=0.0), p.z_cap) - p.k
        new_cusum = np.where(past_warning, np.maximum(0.0, self.cusum + increment), 0.0)
        starting = past_warning & (self.run_start < 0)
        self.run_start = np.where(starting, bin_no, np.where(past_warning, self.run_start, -1))
        fire = past_warning & ~self.alarmed & (new_cusum >= p.h)
        self.alarmed = past_warning & (self.alarmed | fire)
        self.cusum = new_cusum
        levels = np.where(self.alarmed, np.where(critical, AlertLevel.CRITICAL, AlertLevel.WARNING), 0)
        col = bin_no % self.length
        recent_col = bin_no % self.recent
        self.value_ring[:, recent_col] = values
        self.baseline_ring[:, recent_col] = baselines
        # inpainting: alarmed bins enter the history as their baseline
        self.history[:, col] = np.where(self.alarmed, baselines, values)
        backdated: list[tuple[int, int]] = []
        for i in np.flatnonzero(fire):
            first = max(int(self.run_start[i]), bin_no - self.recent + 1)
            for b in range(first, bin_no):
                self.history[i, b % self.length] = self.baseline_ring[i, b % self.recent]
            if first < bin_no:
                backdated.append((int(i), first * self.bin_s + phase))
        return StepResult(time_s, values, baselines, ratios, levels.astype(np.int64), backdated)

    def _write_missing(self, bin_no: int) -> None:
        self.history[:, bin_no % self.length] = np.nan
        self.value_ring[:, bin_no % self.recent] = np.nan
        self.baseline_ring[:, bin_no % self.recent] = np.nan
        self.cusum[:] = 0.0
        self.run_start[:] = -1
        self.alarmed[:] = False

    def _baseline(self, bin_no: int) -> tuple[FloatArray, FloatArray]:
        cols = (bin_no + self._offsets) % self.length
        sample = self.history[:, cols].astype(np.float64)  # (n, days * per_day)
        valid = ~np.isnan(sample)
        days_with_data = valid.reshape(self.n, self.params.days, self._per_day).any(axis=2).sum(axis=1)
        median = _nanmedian_rows(sample, valid)
        mad = _nanmedian_rows(np.abs(sample - median[:, None]), valid)
        scale = np.maximum(1.4826 * mad, self.policy.min_scale_fraction * np.abs(median))
        if self.policy.counts:
            scale = np.maximum(scale, np.sqrt(np.maximum(median, 0.0)))
        scale = np.maximum(scale, 1e-9)
        median = np.where(days_with_data >= self.params.min_days, median, np.nan)
        return median, scale

    def value_at(self, index: int, time_s: int) -> tuple[float, float]:
        """(value, baseline) the bank saw for a series at a bin still in its ring."""
        col = (time_s // self.bin_s) % self.recent
        return float(self.value_ring[index, col]), float(self.baseline_ring[index, col])


def _nanmedian_rows(sample: FloatArray, valid: npt.NDArray[np.bool_]) -> FloatArray:
    """Row medians ignoring NaN: one sort, NaN pushed to the end (faster than np.nanmedian)."""
    counts = valid.sum(axis=1)
    ordered = np.sort(np.where(valid, sample, np.inf), axis=1)
    rows = np.arange(sample.shape[0])
    lo = np.maximum((counts - 1) // 2, 0)
    hi = np.maximum(counts // 2, 0)
    lo = np.minimum(lo, sample.shape[1] - 1)
    hi = np.minimum(hi, sample.shape[1] - 1)
    median = (ordered[rows, lo] + ordered[rows, hi]) / 2.0
    return np.where(counts > 0, median, np.nan)
