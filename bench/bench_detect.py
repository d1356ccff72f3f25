"""Benchmark of the detector: the online path at IODA's scale, and a batch backfill.

    python bench/bench_detect.py [--entities 74000] [--signals 3]

1. Online: one new 5-minute bin for 74,000 entities x 3 signals (IODA watches ~250 countries,
   ~4,000 regions and ~70,000 networks), the bank warmed with 7 days of history. Baseline in the
   same run: a plain numpy moving median (``np.median``) over the same 21 trailing samples per
   series (7 days x 3 bins), stored series-major as the detector did before.
2. Batch backfill: points/s of stepping 1,000 series through 14 days of 5-minute bins, against a
   plain numpy rolling median (``sliding_window_view``) over the same data.

Every figure is printed with the ratio ours / plain numpy; a ratio above 1 is the price of the
seasonal sample, inpainting and the CUSUM over a bare moving median.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lightsout.detect.policy import POLICIES
from lightsout.detect.seasonal import BaselineParams, SeasonalBank
from lightsout.model import SignalKind

BIN_S = 300


def synthetic(n: int, bins: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(bins)
    level = rng.uniform(50, 5000, size=(n, 1))
    daily = 1 - 0.2 * np.cos(2 * np.pi * (t % 288) / 288)
    return (level * daily + rng.normal(0, 0.02, size=(n, bins)) * level).astype(np.float64)


def bench_online(n: int, repeats: int) -> None:
    params = BaselineParams()
    bank = SeasonalBank(n, BIN_S, POLICIES[SignalKind.BGP_SLASH24S], params)
    # Warm the bank: 7 days of day samples and a day of recent bins written straight into its rings
    # (stepping 2,016 bins of 222,000 series would only measure the warm-up).
    rng = np.random.default_rng(2)
    level = rng.uniform(50, 5000, size=(1, n)).astype(np.float32)
    bank.smooth[:] = level * (1 + rng.normal(0, 0.02, size=(bank.length, 1)).astype(np.float32))
    bank.history[:] = level
    start_bin = bank.length + 10
    bank.next_bin = start_bin
    # The same baseline as before this detector: a (series, time) ring of the same trailing samples
    # (7 days x 3 bins at the same time of day), and np.median over them.
    window = params.days * (2 * params.neighbours + 1)
    plain_ring = np.repeat(level.T, window + 1, axis=1)
    ours, plain = [], []
    for r in range(repeats):
        values = level[0].astype(np.float64) * (1 + rng.normal(0, 0.02, n))
        t0 = time.perf_counter()
        bank.step((start_bin + r) * BIN_S, values)
        ours.append(time.perf_counter() - t0)
        # plain numpy: median of the last `window` samples of each series, nothing else
        t0 = time.perf_counter()
        cols = (start_bin + r - 1 - np.arange(window)) % plain_ring.shape[1]
        baseline = np.median(plain_ring[:, cols], axis=1)
        _ = values < 0.8 * baseline
        plain.append(time.perf_counter() - t0)
    o, p = float(np.median(ours)), float(np.median(plain))
    print(
        f"online: one new bin for {n:,} series: {o * 1000:.1f} ms (median of {repeats}); "
        f"plain numpy moving median of {window} samples: {p * 1000:.1f} ms; ratio ours/plain = {o / p:.2f}"
    )
    held = bank.smooth.nbytes + bank.history.nbytes + bank.value_ring.nbytes + bank.baseline_ring.nbytes
    print(f"        memory of the bank: {held / 2**30:.2f} GiB")


def bench_batch(n: int, days: int) -> None:
    bins = days * 288
    data = synthetic(n, bins)
    data[: n // 10, bins // 2 : bins // 2 + 36] *= 0.1  # a three-hour outage in a tenth of the series
    bank = SeasonalBank(n, BIN_S, POLICIES[SignalKind.BGP_SLASH24S], BaselineParams())
    t0 = time.perf_counter()
    alarms = 0
    for j in range(bins):
        result = bank.step(j * BIN_S, data[:, j])
        alarms += int(np.count_nonzero(result.levels))
    ours = time.perf_counter() - t0
    window = bank.params.days * (2 * bank.params.neighbours + 1)
    t0 = time.perf_counter()
    rolling = np.median(sliding_window_view(data, window, axis=1), axis=2)
    _ = data[:, window - 1 :] < 0.8 * rolling
    plain = time.perf_counter() - t0
    points = n * bins
    print(
        f"batch: {n:,} series x {bins:,} bins = {points:,} points: ours {points / ours:,.0f} points/s "
        f"({ours:.1f} s, {alarms:,} alerted points); plain numpy rolling median "
        f"{points / plain:,.0f} points/s ({plain:.1f} s); ratio ours/plain time = {ours / plain:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=74_000)
    parser.add_argument("--signals", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-series", type=int, default=1_000)
    parser.add_argument("--batch-days", type=int, default=14)
    args = parser.parse_args()
    bench_online(args.entities * args.signals, args.repeats)
    bench_batch(args.batch_series, args.batch_days)


if __name__ == "__main__":
    main()
