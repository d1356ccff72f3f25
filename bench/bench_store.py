"""Store benchmark at IODA scale: DuckDB against ClickHouse, the same data and queries in one run.

IODA tracks about 74,000 entities (countries, regions, autonomous systems) with 3 signals each in
5-minute bins; 7 days of that is 74,000 x 3 x 2,016 = about 447 million points. The data here is
SYNTHETIC (no real series exist at that scale on this machine): per entity and signal a level, a
daily cycle and noise; 1% of the entities (at least 3) have a 3-hour outage on the last day, with
the alerts a detector would write for it, written by the benchmark (the detector is not run here).

Measured, per backend, through the :class:`lightsout.store.Store` protocol only:

- **ingest**: points per second of ``write_batch`` (one batch = one synthetic file: one signal, one
  day, a block of entities; building the SignalPoint records is timed apart and not counted);
- **country page**: what the dashboard's country page reads from the store, uncached, for countries
  picked at random (half of them with an outage): ``load_entity_context`` of the HTML page (its
  events, entities, series, sources) and the points of every series its chart draws; p50 and p99
  over ``--reps`` runs. The chart's baseline computation (lightsout.detect.seasonal, about 2 s per
  7-day series of 5-minute bins here) is the same Python on both backends: it is timed once
  apart ("chart baseline") and not counted in the page's latency;
- **events query**: ``lightsout.detect.service.list_events`` (the API's /events, the dashboard's
  index), p50 and p99.

Ratios are printed as ClickHouse / DuckDB (a throughput ratio above 1 or a latency ratio below 1
means ClickHouse did better). With few reps, p99 is close to the slowest run: it says so.

Full scale (hours; about 25 GB of disk per backend; a ClickHouse server from scripts/ci-clickhouse.sh):

    .venv/bin/python bench/bench_store.py --entities 74000 --days 7 --workdir /var/tmp/lightsout-bench

A bounded run on a shared machine (a few minutes):

    .venv/bin/python bench/bench_store.py --entities 1000 --days 7 --reps 10
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from lightsout.detect.service import list_events
from lightsout.model import Alert, Entity, EntityKind, SignalKind, SignalPoint, SourceFile
from lightsout.report.context import load_entity_context
from lightsout.store import ClickHouseLocation, IngestBatch, Store, open_store, parse_location

BIN_S = 300
BINS_PER_DAY = 86_400 // BIN_S
START = datetime(2026, 11, 1, tzinfo=UTC)
# IODA's three signals, as Lightsout names them.
SIGNALS = [SignalKind.BGP_SLASH24S, SignalKind.PROBING_UP_SLASH24S, SignalKind.TELESCOPE_UNIQUE_SOURCES]
SOURCE = "synthetic"
# IODA's proportions: about 250 countries and 3,500 regions among 74,000 entities; the rest are ASes.
COUNTRY_SHARE = 250 / 74_000
REGION_SHARE = 3_500 / 74_000
OUTAGE_HOURS = 3


@dataclass(frozen=True, slots=True)
class Plan:
    entities: list[Entity]
    days: int
    batch_points: int
    outages: frozenset[str]  # entity ids with an outage on the last day
    seed: int

    @property
    def points(self) -> int:
        return len(self.entities) * len(SIGNALS) * self.days * BINS_PER_DAY

    @property
    def countries(self) -> list[str]:
        return [e.entity_id for e in self.entities if e.kind == EntityKind.COUNTRY]


def make_plan(n_entities: int, days: int, batch_points: int, seed: int) -> Plan:
    import pycountry

    codes = sorted(c.alpha_2 for c in pycountry.countries)
    n_countries = max(1, min(len(codes), round(n_entities * COUNTRY_SHARE)))
    n_regions = max(1, round(n_entities * REGION_SHARE)) if n_entities > n_countries else 0
    n_networks = max(0, n_entities - n_countries - n_regions)
    entities = [
        Entity(f"country/{cc}", EntityKind.COUNTRY, cc, f"Country {cc}", cc, None)
        for cc in codes[:n_countries]
    ]
    for i in range(n_regions):
        cc = codes[i % n_countries]
        code = f"{cc}-R{i // n_countries}"
        entities.append(
            Entity(f"region/{code}", EntityKind.REGION, code, f"Region {code}", cc, f"country/{cc}")
        )
    for i in range(n_networks):
        asn = 64_512 + i
        cc = codes[i % n_countries]
        entities.append(
            Entity(f"network/AS{asn}", EntityKind.NETWORK, f"AS{asn}", f"Network {asn}", cc, None, asn)
        )
    rng = random.Random(seed)
    outages = frozenset(e.entity_id for e in rng.sample(entities, max(3, len(entities) // 100)))
    return Plan(entities, days, batch_points, outages, seed)


def outage_bins(days: int) -> range:
    """The bins of the outage: 3 hours from 10:00 UTC on the last day."""
    first = (days - 1) * BINS_PER_DAY + 10 * 3600 // BIN_S
    return range(first, first + OUTAGE_HOURS * 3600 // BIN_S)


def iter_batches(plan: Plan) -> Iterator[IngestBatch]:
    """One synthetic file per (day, signal, block of entities), with its entities on the first day."""
    per_block = max(1, plan.batch_points // BINS_PER_DAY)
    rng = np.random.default_rng(plan.seed)
    times = [START + timedelta(seconds=BIN_S * b) for b in range(plan.days * BINS_PER_DAY)]
    phase_of_bin = np.arange(plan.days * BINS_PER_DAY) * BIN_S / 86_400.0
    outage = outage_bins(plan.days)
    for day in range(plan.days):
        day_bins = slice(day * BINS_PER_DAY, (day + 1) * BINS_PER_DAY)
        for s_index, signal in enumerate(SIGNALS):
            for first in range(0, len(plan.entities), per_block):
                block = plan.entities[first : first + per_block]
                level = rng.lognormal(5.0, 1.5, size=(len(block), 1))
                phase = rng.uniform(0, 1, size=(len(block), 1))
                cycle = 1.0 + 0.2 * np.sin(2 * np.pi * (phase_of_bin[day_bins][None, :] + phase))
                noise = rng.normal(1.0, 0.02, size=(len(block), BINS_PER_DAY))
                values = np.round(level * cycle * noise, 3)
                for row, entity in enumerate(block):
                    if entity.entity_id in plan.outages and day == plan.days - 1:
                        lo, hi = outage.start - day * BINS_PER_DAY, outage.stop - day * BINS_PER_DAY
                        values[row, lo:hi] *= 0.05
                day_times = times[day_bins]
                points = [
                    SignalPoint(entity.entity_id, signal, SOURCE, t, BIN_S, v)
                    for entity, row in zip(block, values.tolist(), strict=True)
                    for t, v in zip(day_times, row, strict=True)
                ]
                name = f"synthetic/{signal.value}/day{day}/entities{first}"
                sha = hashlib.sha256(f"{plan.seed}/{name}".encode()).hexdigest()
                source = SourceFile(sha, name, "synthetic", datetime.now(UTC), len(points), 0, len(points))
                entities = block if day == 0 and s_index == 0 else []
                yield IngestBatch(source, entities, points)


def make_alerts(plan: Plan) -> list[Alert]:
    """What a detector would store for the outages: every outage bin of every signal, critical."""
    alerts = []
    for entity_id in sorted(plan.outages):
        for signal in SIGNALS:
            for b in outage_bins(plan.days):
                alerts.append(
                    Alert(
                        entity_id,
                        signal,
                        SOURCE,
                        BIN_S,
                        START + timedelta(seconds=BIN_S * b),
                        5.0,
                        100.0,
                        0.05,
                        2,
                    )
                )
    return alerts


@dataclass(slots=True)
class Result:
    backend: str
    points: int = 0
    build_s: float = 0.0
    write_s: float = 0.0
    page_s: list[float] | None = None
    events_s: list[float] | None = None
    events_found: int = 0
    chart_s: float = 0.0
    disk_bytes: int | None = None

    @property
    def points_per_s(self) -> float:
        return self.points / self.write_s if self.write_s else 0.0


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def timed(job: Callable[[], object], reps: int) -> list[float]:
    job()  # warm-up: caches and connections, as a dashboard that has served before
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        job()
        samples.append(time.perf_counter() - t0)
    return samples


def run_backend(name: str, store: Store, plan: Plan, reps: int, progress: bool) -> Result:
    result = Result(name)
    t_build = time.perf_counter()
    for i, batch in enumerate(iter_batches(plan)):
        t0 = time.perf_counter()
        result.build_s += t0 - t_build
        store.write_batch(batch)
        t_build = time.perf_counter()
        result.write_s += t_build - t0
        result.points += len(batch.points)
        if progress and i % 20 == 0:
            rate = result.points / result.write_s if result.write_s else 0
            print(
                f"  {name}: {result.points:,} of {plan.points:,} points, {rate:,.0f} points/s",
                file=sys.stderr,
            )
    store.add_alerts(make_alerts(plan))
    rng = random.Random(plan.seed)
    countries = plan.countries
    outage_countries = sorted({e.country_code for e in plan.entities if e.entity_id in plan.outages})

    def page() -> None:
        country = f"country/{rng.choice(outage_countries)}" if rng.random() < 0.5 else rng.choice(countries)
        context = load_entity_context(store, country, with_series=False)  # the HTML page
        for summary in context.summaries:  # the chart's reads
            store.points(summary.key)

    events = list_events(store)
    result.events_found = len(events)
    t0 = time.perf_counter()
    load_entity_context(store, countries[0])  # the chart's full context: reads and baselines
    result.chart_s = time.perf_counter() - t0
    result.page_s = timed(page, reps)
    result.events_s = timed(lambda: list_events(store), reps)
    return result


def clickhouse_disk_bytes(location: ClickHouseLocation) -> int:
    from clickhouse_driver import Client

    client = Client(host=location.host, port=location.port, user=location.user, password=location.password)
    try:
        rows = client.execute(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = %(db)s",
            {"db": location.database},
        )
    finally:
        client.disconnect()
    return int(rows[0][0] or 0)


def drop_clickhouse(location: ClickHouseLocation) -> None:
    from clickhouse_driver import Client

    client = Client(host=location.host, port=location.port, user=location.user, password=location.password)
    try:
        client.execute(f"DROP DATABASE IF EXISTS {location.database}")
    finally:
        client.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--entities", type=int, default=74_000, help="entities (IODA: 74,000)")
    parser.add_argument("--days", type=int, default=7, help="days of 5-minute bins (default 7)")
    parser.add_argument("--reps", type=int, default=20, help="timed runs of each query (default 20)")
    parser.add_argument("--batch-points", type=int, default=500_000, help="points per synthetic file")
    parser.add_argument("--backends", default="duckdb,clickhouse", help="comma-separated: duckdb,clickhouse")
    parser.add_argument(
        "--clickhouse", default="clickhouse://127.0.0.1:9000/lightsout_bench", help="database"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the DuckDB file goes (default: a temp dir)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    plan = make_plan(args.entities, args.days, args.batch_points, args.seed)
    n_kinds = {k: sum(1 for e in plan.entities if e.kind == k) for k in EntityKind}
    print(
        f"SYNTHETIC data: {len(plan.entities):,} entities ({n_kinds[EntityKind.COUNTRY]:,} countries, "
        f"{n_kinds[EntityKind.REGION]:,} regions, {n_kinds[EntityKind.NETWORK]:,} networks) x {len(SIGNALS)} "
        f"signals x {args.days} days of {BIN_S // 60}-minute bins = {plan.points:,} points "
        f"({plan.points / 447_552_000:.2%} of IODA scale); {len(plan.outages)} outages with alerts"
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lightsout-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Result] = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "duckdb":
            path = workdir / "bench.duckdb"
            path.unlink(missing_ok=True)
            store = open_store(path)
            try:
                results[backend] = run_backend(backend, store, plan, args.reps, not args.quiet)
            finally:
                store.close()
            results[backend].disk_bytes = path.stat().st_size
            if not args.keep:
                path.unlink()
        elif backend == "clickhouse":
            location = parse_location(args.clickhouse)
            if not isinstance(location, ClickHouseLocation):
                parser.error("--clickhouse must be a clickhouse:// URL")
            drop_clickhouse(location)
            store = open_store(location)
            try:
                results[backend] = run_backend(backend, store, plan, args.reps, not args.quiet)
            finally:
                store.close()
            results[backend].disk_bytes = clickhouse_disk_bytes(location)
            if not args.keep:
                drop_clickhouse(location)
        else:
            parser.error(f"unknown backend {backend!r}")
    if args.workdir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, args.reps)
    return 0


def report(results: dict[str, Result], reps: int) -> None:
    print(
        f"\n{'backend':<11} {'points':>13} {'points/s':>11} {'build s':>8} {'disk MB':>8} "
        f"{'page p50':>9} {'page p99':>9} {'events p50':>11} {'events p99':>11} {'events':>7} "
        f"{'chart baseline':>15}"
    )
    for r in results.values():
        assert r.page_s is not None and r.events_s is not None
        disk = f"{r.disk_bytes / 1e6:,.0f}" if r.disk_bytes is not None else "-"
        print(
            f"{r.backend:<11} {r.points:>13,} {r.points_per_s:>11,.0f} {r.build_s:>8.1f} {disk:>8} "
            f"{statistics.median(r.page_s):>8.3f}s {percentile(r.page_s, 99):>8.3f}s "
            f"{statistics.median(r.events_s):>10.3f}s {percentile(r.events_s, 99):>10.3f}s "
            f"{r.events_found:>7} {r.chart_s:>14.2f}s"
        )
    print(f"(p99 by nearest rank over {reps} runs: with fewer than 100 runs, the slowest run)")
    duck, click = results.get("duckdb"), results.get("clickhouse")
    if duck and click and duck.page_s and click.page_s and duck.events_s and click.events_s:
        print("\nClickHouse / DuckDB:")
        print(
            f"  ingest points/s   {click.points_per_s / duck.points_per_s:6.2f}x  "
            "(above 1: ClickHouse faster)"
        )
        for label, c, d in [
            ("country page p50", statistics.median(click.page_s), statistics.median(duck.page_s)),
            ("country page p99", percentile(click.page_s, 99), percentile(duck.page_s, 99)),
            ("events p50      ", statistics.median(click.events_s), statistics.median(duck.events_s)),
            ("events p99      ", percentile(click.events_s, 99), percentile(duck.events_s, 99)),
        ]:
            print(f"  {label}  {c / d:6.2f}x  (below 1: ClickHouse faster)")
        if click.events_found != duck.events_found:
            print(
                f"  WARNING: the backends found different events: {click.events_found} vs {duck.events_found}"
            )


if __name__ == "__main__":
    sys.exit(main())
