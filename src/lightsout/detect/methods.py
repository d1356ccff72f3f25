"""The published detection methods, run on one series, to compare them on labelled data.

Each method judges every bin of a series and returns its alert level (0 normal, 1 WARNING,
2 CRITICAL); :func:`alert_runs` turns the levels into runs with the same merge and significance
rules as Lightsout's events, so the methods are compared on equal terms (``lightsout evaluate``).

* ``seasonal-cusum`` — Lightsout's detector (:mod:`lightsout.detect.seasonal`): seasonal median of
  the same time of day over 7 days, inpainting, restarted CUSUM with the onset dated back to the
  start of the run; short histories judged from one day at CRITICAL depth.
* ``ioda`` — IODA's moving-median thresholds as its help page describes them: each bin against
  the median of a trailing window (BGP 24 h, active probing 7 days, telescope 7 days), warning and
  critical below a fraction of it (BGP 99% / 50%, probing 80% / 50%, telescope 25% / 10%). The
  window precedes the bin; no inpainting; each bin judged on its own. Signals IODA does not
  publish thresholds for (Monash indices, Google traffic) use a 7-day window and the Lightsout
  policy's levels. Dainotti et al., IMC 2011; https://ioda.inetintel.cc.gatech.edu/resources.
* ``radar`` — Cloudflare Radar's outage forecast (Cloudflare blog, "Detecting Internet outages
  with Cloudflare Radar", 2023): the forecast for a bin is the median of the values at the same
  time on the 6 days, of the last 28, whose preceding 24 hours were most similar (mean absolute
  difference) to the 24 hours before the bin; the bin alerts below the policy's levels of it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lightsout.detect.policy import POLICIES, AlertLevel, Direction, SignalPolicy
from lightsout.detect.seasonal import BaselineParams, SeasonalBank
from lightsout.model import SignalKind

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DAY_S = 86_400


class Method(enum.StrEnum):
    SEASONAL_CUSUM = "seasonal-cusum"
    IODA = "ioda"
    RADAR = "radar"


@dataclass(frozen=True, slots=True)
class IodaRule:
    window_s: int
    warning: float
    critical: float


IODA_RULES: dict[SignalKind, IodaRule] = {
    SignalKind.BGP_SLASH24S: IodaRule(DAY_S, 0.99, 0.5),
    SignalKind.BGP_PREFIXES: IodaRule(DAY_S, 0.99, 0.5),
    SignalKind.PROBING_UP_SLASH24S: IodaRule(7 * DAY_S, 0.8, 0.5),
    SignalKind.TELESCOPE_UNIQUE_SOURCES: IodaRule(7 * DAY_S, 0.25, 0.1),
}


@dataclass(frozen=True, slots=True)
class Run:
    """A run of alerted bins, ``[start_s, end_s)``."""

    start_s: int
    end_s: int
    lowest_ratio: float
    critical: bool


def _grid(times_s: IntArray, values: FloatArray, bin_s: int) -> tuple[int, FloatArray]:
    """The series on a regular grid of ``bin_s`` (NaN where no value)."""
    first = int(times_s[0])
    grid = np.full((int(times_s[-1]) - first) // bin_s + 1, np.nan)
    grid[(times_s - first) // bin_s] = values
    return first, grid


def _levels(policy: SignalPolicy, ratio: FloatArray, warning: float, critical: float) -> IntArray:
    with np.errstate(invalid="ignore"):
        if policy.direction == Direction.DROP:
            warn, crit = ratio <= warning, ratio <= critical
        else:
            warn, crit = ratio >= warning, ratio >= critical
    return np.where(crit, AlertLevel.CRITICAL, np.where(warn, AlertLevel.WARNING, 0)).astype(np.int64)


def judge(
    method: Method, signal: SignalKind, times_s: IntArray, values: FloatArray, bin_s: int
) -> tuple[IntArray, FloatArray, FloatArray, int]:
    """(levels, values, ratios, bin_s) of every bin of a regular grid from the series' first bin;
    ``bin_s`` is the series' own cadence when its values come more sparsely than its bins."""
    policy = POLICIES[signal]
    if times_s.size > 2:  # a series sampled more coarsely than its bins (IODA's gtr): its own cadence
        bin_s = max(bin_s, int(np.median(np.diff(times_s))) // bin_s * bin_s)
    first, grid = _grid(times_s, values, bin_s)
    if method == Method.SEASONAL_CUSUM:
        return (*_seasonal(policy, first, grid, bin_s), bin_s)
    if method == Method.IODA:
        rule = IODA_RULES.get(signal, IodaRule(7 * DAY_S, policy.warning, policy.critical))
        baseline = _trailing_median(grid, max(1, rule.window_s // bin_s))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(baseline > 0, grid / baseline, np.nan)
        return _levels(policy, ratio, rule.warning, rule.critical), grid, ratio, bin_s
    forecast = _radar_forecast(grid, max(1, DAY_S // bin_s))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(forecast > 0, grid / forecast, np.nan)
    return _levels(policy, ratio, policy.warning, policy.critical), grid, ratio, bin_s


def _seasonal(
    policy: SignalPolicy, first: int, grid: FloatArray, bin_s: int
) -> tuple[IntArray, FloatArray, FloatArray]:
    bank = SeasonalBank(1, bin_s, policy, BaselineParams())
    levels = np.zeros(grid.size, dtype=np.int64)
    ratios = np.full(grid.size, np.nan)
    critical = policy.critical
    for j, value in enumerate(grid):
        result = bank.step(first + j * bin_s, np.array([value]))
        levels[j] = result.levels[0]
        ratios[j] = result.ratios[0]
        for _, start_s in result.backdated:
            for b in range((start_s - first) // bin_s, j):
                v, base = bank.value_at(0, first + b * bin_s)
                if base > 0 and not np.isnan(v):
                    ratios[b] = v / base
                    drop = policy.direction == Direction.DROP
                    deep = ratios[b] <= critical if drop else ratios[b] >= critical
                    levels[b] = AlertLevel.CRITICAL if deep else AlertLevel.WARNING
    return levels, grid, ratios


def _trailing_median(grid: FloatArray, window: int) -> FloatArray:
    """Median of the ``window`` bins before each bin (NaN ignored; at least half of them present)."""
    out = np.full(grid.size, np.nan)
    if grid.size <= 1:
        return out
    padded = np.concatenate([np.full(window, np.nan), grid[:-1]])
    views = np.lib.stride_tricks.sliding_window_view(padded, window)  # row j: the window before bin j
    need = max(1, window // 2)
    for lo in range(0, grid.size, 512):  # in blocks, to bound memory
        block = views[lo : lo + 512]
        counts = np.count_nonzero(~np.isnan(block), axis=1)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(block, axis=1)
        out[lo : lo + 512] = np.where(counts >= need, med, np.nan)
    return out


def _radar_forecast(grid: FloatArray, per_day: int, days: int = 28, similar: int = 6) -> FloatArray:
    forecast = np.full(grid.size, np.nan)
    for j in range(2 * per_day, grid.size):
        recent = grid[j - per_day : j]
        candidates = []
        for k in range(1, min(days, (j - per_day) // per_day) + 1):
            past = grid[j - (k + 1) * per_day : j - k * per_day]
            both = ~np.isnan(recent) & ~np.isnan(past)
            target = grid[j - k * per_day]
            if both.sum() >= per_day // 2 and not np.isnan(target):
                candidates.append((float(np.mean(np.abs(recent[both] - past[both]))), float(target)))
        if candidates:
            candidates.sort()
            forecast[j] = float(np.median([t for _, t in candidates[:similar]]))
    return forecast


def alert_runs(
    levels: IntArray,
    ratios: FloatArray,
    first_s: int,
    bin_s: int,
    merge_gap_bins: int = 2,
    min_warning_bins: int = 6,
) -> list[Run]:
    """Alerted bins as runs: bins at most ``merge_gap_bins`` apart are one run; a run that never
    reached CRITICAL must have ``min_warning_bins`` alerted bins (the rules of ``detect.events``)."""
    runs: list[Run] = []
    alerted = np.flatnonzero(levels > 0)
    if alerted.size == 0:
        return runs
    breaks = np.flatnonzero(np.diff(alerted) > merge_gap_bins)
    for group in np.split(alerted, breaks + 1):
        critical = bool(np.any(levels[group] >= AlertLevel.CRITICAL))
        if not critical and group.size < min_warning_bins:
            continue
        lowest = float(np.nanmin(ratios[group])) if np.any(~np.isnan(ratios[group])) else float("nan")
        start_s, end_s = first_s + int(group[0]) * bin_s, first_s + (int(group[-1]) + 1) * bin_s
        runs.append(Run(start_s, end_s, lowest, critical))
    return runs
