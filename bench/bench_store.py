"""Store benchmark at IODA scale: DuckDB against ClickHouse, the same data and queries in one run.

IODA tracks about 74,000 entities (countries, regions, autonomous systems) with 3 signals each in
5-minute bins; 7 days of that is 74,000 x 3 x 2,016 = about 447 million points. The data here is
SYNTHETIC (no real series exist at that scale on this machine): per entity and signal a level, a
daily cycle and noise; 1% of the entities (at least 3) have a 3-hour outage on the last day, with
the alerts a detector would write for it, written by the benchmark (the detector is not run here).

Measured, per backend, each in its own process (its peak memory is its own):

- **ingest**: points per second of ``write_batch`` (one batch = one synthetic file: one signal, one
  day, a block of entities; building the SignalPoint records, or with ``--points-as columns`` the
  Arrow columns MRT ingest's workers send, is timed apart and not counted), against the named
  baseline: the same arrays appended to a plain DuckDB table (no key, no dedup, no provenance),
  measured in the same run (``--baseline-days N``: on the first N days' files only, a rate, so
  comparable); disk per point and peak memory;
- **country page**: ``GET /entity/country/XX`` through the app (FastAPI's ASGI client, page cache
  off, so every request reads the store), countries picked at random, half of them with an outage;
  p50 and p99 over ``--reps`` runs;
- **events query**: ``lightsout.detect.service.list_events`` (what /api/v1/events and the
  dashboard compute after a write), p50 and p99; and once, one country's chart context (its
  normalised series with their baselines: the same Python on both backends).

Ratios are printed as ClickHouse / DuckDB (a throughput ratio above 1 or a latency ratio below 1
means ClickHouse did better). With few reps, p99 is close to the slowest run: it says so.
``--keep`` leaves the stores; ``--reuse`` then measures the queries again on them (after a code
change, or with another version of the code on PYTHONPATH) without ingesting.

Full scale needs hours and disk: measured on 3 December 2026 (docs/design.md, "ClickHouse
backend") at 98 bytes per point on DuckDB (44 GB for 7 days) and 5.6 on ClickHouse, DuckDB
ingesting about 18,000 points/s on this loaded 2-core machine. DuckDB's points layout 2 (no
index; docs/design.md, "DuckDB points"), same day, load 6-9: 74,000 entities x 1 day with
``--points-as columns`` 954,338 points/s (0.83x the plain INSERT's 1,150,443 in the same run),
8.7 bytes/point, 92 s wall; as rows 423,424 points/s (0.556x), 563 s wall of which 392 s
building the SignalPoint objects.

Full scale on ClickHouse, run on 3 December 2026 17:49-18:14 UTC (docs/design.md, "ClickHouse
backend"): 74,000 entities x 7 days = 447,552,000 points (100 % of IODA scale), all ingested, under
``nice -n 19`` on this 2-core machine shared with other developers (load average 4.2-10.3), a
ClickHouse 18.16 server from scripts/ci-clickhouse.sh:

    nice -n 19 .venv/bin/python bench/bench_store.py --entities 74000 --days 7 --backends clickhouse \
        --points-as columns --baseline-days 1 --reps 10 --workdir /var/tmp/chingest-bench \
        --clickhouse clickhouse://127.0.0.1:9000/chingest_full

ClickHouse **398,970 points/s = 0.382x** the plain DuckDB INSERT baseline of the same run
(1,043,866 points/s over the first day's 63.9 M points); 1,122 s in ``write_batch``, 22 min wall
including building the files; 2,761 MB on disk (6.2 bytes/point); writer peak RSS 330 MiB;
country page p50/p99 0.265/0.297 s, events query 1.367/1.605 s (740 events), 10 runs. The
previous stop's largest run was 1 day (64 M points) at 57,602 points/s (0.15x) on ClickHouse.

Full scale on DuckDB (points layout 2), 18:07-18:19 UTC the same day, ``--backends duckdb`` with
``LIGHTSOUT_DUCKDB_MEMORY_LIMIT=1GB``, otherwise the same options: all 447,552,000 points at
**1,974,632 points/s** (226.7 s writing, 308.6 s wall), 3,572 MB (8.0 bytes/point), peak RSS 1,312
MiB; country page p50/p99 0.060/0.082 s, events query 0.825/0.938 s. Its printed ratio against its
own baseline (5.98x) is an artefact of load (the baseline ran during the ClickHouse run); a 1-day
run right after on the quiet machine: 1,632,786 vs 3,700,038 points/s = **0.441x** the plain
INSERT (docs/design.md, "Full IODA scale on DuckDB").

Both backends at full scale in one invocation, 18:32-18:54 UTC (``--backends duckdb,clickhouse``,
otherwise as above; load 1.7-4.1): plain INSERT 5,461,759 points/s; DuckDB store **2,553,299
(0.467x)**, ClickHouse **639,543 (0.117x)**, ClickHouse / DuckDB 0.25x; disk 8.0 vs 6.2 B/point
(0.77x); country page p50/p99 DuckDB 0.055/0.063 s, ClickHouse 0.134/0.172 s; events query
0.748/1.017 s and 0.965/1.097 s, 740 events on both.

ClickHouse point ingest, bounded runs (3,000 entities x 1 day = 2.6 M points, ``--backends
clickhouse --reps 3``, nice -n 10, load average 6-9 from the other developers: the server's insert
is most of the time and shares the 2 cores), each ratio against the baseline of its own run:

| ClickHouse ingest, 3 December 2026 17:42-17:44 UTC | points/s | / plain DuckDB INSERT |
|---|---|---|
| previous implementation (9b1edab), rows | 142,721 | 0.151x |
| now, ``--points-as rows`` | 183,097 | 0.181x |
| now, ``--points-as columns`` (as MRT ingest hands them) | 225,414 | 0.270x |

A bounded run on a shared machine (a minute):

    .venv/bin/python bench/bench_store.py --entities 600 --days 2 --reps 5
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
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
    as_columns: bool = False  # hand the store Arrow columns (IngestBatch.point_columns), not rows

    @property
    def points(self) -> int:
        return len(self.entities) * len(SIGNALS) * self.days * BINS_PER_DAY

    @property
    def countries(self) -> list[str]:
        return [e.entity_id for e in self.entities if e.kind == EntityKind.COUNTRY]


def make_plan(n_entities: int, days: int, batch_points: int, seed: int, as_columns: bool = False) -> Plan:
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
    return Plan(entities, days, batch_points, outages, seed, as_columns)


def outage_bins(days: int) -> range:
    """The bins of the outage: 3 hours from 10:00 UTC on the last day."""
    first = (days - 1) * BINS_PER_DAY + 10 * 3600 // BIN_S
    return range(first, first + OUTAGE_HOURS * 3600 // BIN_S)


@dataclass(frozen=True, slots=True)
class Block:
    """One synthetic file's numbers: ``values[i, j]`` is entity ``ids[i]`` at ``times[j]``."""

    signal: SignalKind
    ids: list[str]
    times: list[datetime]
    values: np.ndarray


def iter_blocks(plan: Plan) -> Iterator[tuple[Block, Callable[[], IngestBatch]]]:
    """One synthetic file per (day, signal, block of entities), as arrays and as the IngestBatch a
    reader would hand the store (built on demand: building it is Python, timed apart), with the
    file's entities on the first day. Memory: one file at a time."""
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
                arrays = Block(signal, [e.entity_id for e in block], day_times, values)
                name = f"synthetic/{signal.value}/day{day}/entities{first}"
                entities = block if day == 0 and s_index == 0 else []
                make = _column_batch if plan.as_columns else _batch
                yield arrays, partial(make, plan.seed, name, entities, arrays)


def _batch(seed: int, name: str, entities: list[Entity], block: Block) -> IngestBatch:
    points = [
        SignalPoint(entity_id, block.signal, SOURCE, t, BIN_S, v)
        for entity_id, row in zip(block.ids, block.values.tolist(), strict=True)
        for t, v in zip(block.times, row, strict=True)
    ]
    sha = hashlib.sha256(f"{seed}/{name}".encode()).hexdigest()
    source = SourceFile(sha, name, "synthetic", datetime.now(UTC), len(points), 0, len(points))
    return IngestBatch(source, entities, points)


def _column_batch(seed: int, name: str, entities: list[Entity], block: Block) -> IngestBatch:
    """The same file as :func:`_batch`, its points as Arrow columns (``IngestBatch.point_columns``,
    the layout of lightsout.store.schema.arrow_table(SignalPoint, ...)), as MRT ingest's worker
    processes hand them to the store."""
    import pyarrow as pa

    n_rows, n_bins = block.values.shape
    n = n_rows * n_bins
    times_us = np.array([round(t.timestamp()) * 1_000_000 for t in block.times], dtype=np.int64)
    points = pa.table(
        {
            "entity_id": pa.array(np.repeat(np.array(block.ids, dtype=object), n_bins), pa.string()),
            "signal": pa.array([block.signal.value] * n, pa.string()),
            "source": pa.array([SOURCE] * n, pa.string()),
            "bin_start": pa.array(np.tile(times_us, n_rows)).cast(pa.timestamp("us", tz="UTC")),
            "bin_s": pa.array(np.full(n, BIN_S, dtype=np.int64)),
            "value": pa.array(block.values.ravel()),
            "samples": pa.array(np.ones(n, dtype=np.int64)),
        }
    )
    sha = hashlib.sha256(f"{seed}/{name}".encode()).hexdigest()
    source = SourceFile(sha, name, "synthetic", datetime.now(UTC), n, 0, n)
    return IngestBatch(source, entities, point_columns=points)


def batch_points(batch: IngestBatch) -> int:
    return len(batch.points) + (batch.point_columns.num_rows if batch.point_columns is not None else 0)


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
    ingest_wall_s: float = 0.0
    page_s: list[float] = field(default_factory=list)
    events_s: list[float] = field(default_factory=list)
    events_found: int = 0
    chart_s: float = 0.0
    disk_bytes: int | None = None
    peak_rss: int = 0  # this process's peak resident memory (bytes): its own child process
    server_rss: int | None = None  # the ClickHouse server's resident memory after the run (bytes)

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


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def ingest(name: str, store: Store, plan: Plan, result: Result, progress: bool) -> None:
    """Every synthetic file through ``write_batch``, then the alerts a detector would write."""
    t_start = time.perf_counter()
    for i, (_, make_batch) in enumerate(iter_blocks(plan)):
        t0 = time.perf_counter()
        batch = make_batch()
        t1 = time.perf_counter()
        store.write_batch(batch)
        t2 = time.perf_counter()
        result.build_s += t1 - t0
        result.write_s += t2 - t1
        result.points += batch_points(batch)
        del batch
        if progress and i % 20 == 0:
            print(
                f"  {time.strftime('%H:%M:%S')} {name}: {result.points:,} of {plan.points:,} points, "
                f"{result.points_per_s:,.0f} points/s, peak RSS {peak_rss() / 2**20:,.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
    store.add_alerts(make_alerts(plan))
    result.ingest_wall_s = time.perf_counter() - t_start


def baseline(path: Path, plan: Plan, progress: bool, days: int | None = None) -> Result:
    """The named baseline: the same numbers appended to a plain DuckDB table (no key, no dedup,
    no provenance) straight from the arrays, as an Arrow table per file: what DuckDB's insert costs
    with nothing of the store's semantics. ``days``: only the files of the first days (the same
    files the stores get first; a rate, so comparable, and minutes shorter at full scale)."""
    import duckdb
    import pyarrow as pa

    result = Result("plain DuckDB INSERT")
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE points (entity_id VARCHAR, signal VARCHAR, source VARCHAR, bin_start TIMESTAMPTZ, "
        "bin_s BIGINT, value DOUBLE, samples BIGINT)"
    )
    t_start = time.perf_counter()
    files_per_day = len(SIGNALS) * math.ceil(len(plan.entities) / max(1, plan.batch_points // BINS_PER_DAY))
    last_file = files_per_day * (days or plan.days)
    for i, (block, _) in enumerate(iter_blocks(plan)):
        if i == last_file:
            break
        n_rows, n_bins = block.values.shape
        t0 = time.perf_counter()
        times_us = np.array([round(t.timestamp()) * 1_000_000 for t in block.times], dtype=np.int64)
        arrow = pa.table(
            {
                "entity_id": pa.array(np.repeat(np.array(block.ids, dtype=object), n_bins), pa.string()),
                "signal": pa.array([block.signal.value] * (n_rows * n_bins), pa.string()),
                "source": pa.array([SOURCE] * (n_rows * n_bins), pa.string()),
                "bin_start": pa.array(np.tile(times_us, n_rows)).cast(pa.timestamp("us", tz="UTC")),
                "bin_s": pa.array(np.full(n_rows * n_bins, BIN_S, dtype=np.int64)),
                "value": pa.array(block.values.ravel()),
                "samples": pa.array(np.ones(n_rows * n_bins, dtype=np.int64)),
            }
        )
        t1 = time.perf_counter()
        con.register("arrow_block", arrow)
        con.execute("INSERT INTO points SELECT * FROM arrow_block")
        con.unregister("arrow_block")
        t2 = time.perf_counter()
        result.build_s += t1 - t0
        result.write_s += t2 - t1
        result.points += n_rows * n_bins
    result.ingest_wall_s = time.perf_counter() - t_start
    con.close()
    result.disk_bytes = path.stat().st_size
    path.unlink()
    result.peak_rss = peak_rss()
    if progress:
        print(f"  baseline: {result.points:,} points, {result.points_per_s:,.0f} points/s", file=sys.stderr)
    return result


def measure(name: str, location: Path | ClickHouseLocation, plan: Plan, reps: int, result: Result) -> None:
    """The country page through the app (FastAPI's ASGI test client, page cache off, so every
    request reads the store), and the events query (``list_events``: what /api/v1/events and the
    dashboard compute after every write) on a read-only store."""
    from fastapi.testclient import TestClient

    from lightsout.api.app import create_app

    rng = random.Random(plan.seed)
    countries = plan.countries
    outage_countries = sorted(
        {e.country_code for e in plan.entities if e.entity_id in plan.outages and e.country_code}
    )
    app = create_app(location, None, readers=1, page_cache_s=0)
    with TestClient(app) as client:

        def page() -> None:
            cc = rng.choice(outage_countries) if rng.random() < 0.5 else rng.choice(countries)[8:]
            response = client.get(f"/entity/country/{cc}")
            if response.status_code != 200:
                raise SystemExit(f"{name}: GET /entity/country/{cc}: {response.status_code}")

        result.page_s = timed(page, reps)
    store = open_store(location, read_only=True)
    try:
        events = list_events(store)
        result.events_found = len(events)
        result.events_s = timed(lambda: list_events(store), reps)
        t0 = time.perf_counter()
        load_entity_context(store, countries[0], events=events)  # the chart's context: reads and baselines
        result.chart_s = time.perf_counter() - t0
    finally:
        store.close()


def run_backend(
    name: str, location: Path | ClickHouseLocation, plan: Plan, args: argparse.Namespace
) -> Result:
    """Ingest (unless ``--reuse``) and measure one backend, in this process."""
    result = Result(name)
    if not args.reuse:
        if isinstance(location, Path):
            location.unlink(missing_ok=True)
        else:
            drop_clickhouse(location)
        store = open_store(location)
        try:
            ingest(name, store, plan, result, not args.quiet)
        finally:
            store.close()
    else:
        open_store(location).close()  # as a writer would first: brings an older store up to date
    measure(name, location, plan, args.reps, result)
    if isinstance(location, Path):
        result.disk_bytes = location.stat().st_size + sum(
            p.stat().st_size for p in location.parent.glob(location.name + ".wal")
        )
    else:
        result.disk_bytes = clickhouse_disk_bytes(location)
        result.server_rss = clickhouse_server_rss()
    result.peak_rss = peak_rss()
    return result


def in_child(job: Callable[[], Result]) -> Result:
    """``job`` in a forked process (its peak memory is its own), its result sent back."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def target() -> None:
        sender.send(job())

    child = context.Process(target=target)
    child.start()
    sender.close()
    try:
        result: Result = receiver.recv()
    except EOFError:
        child.join()
        raise SystemExit(f"benchmark child failed (exit {child.exitcode})") from None
    child.join()
    return result


def clickhouse_server_rss() -> int | None:
    """The resident memory of the ClickHouse server scripts/ci-clickhouse.sh started, if found."""
    pid_file = Path("/tmp/lightsout-clickhouse/server.pid")
    try:
        status = Path(f"/proc/{int(pid_file.read_text())}/status").read_text()
    except (OSError, ValueError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


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
        "--workdir", type=Path, default=None, help="where the DuckDB files go (default: a temp dir)"
    )
    parser.add_argument(
        "--points-as",
        choices=("rows", "columns"),
        default="rows",
        help="hand the store SignalPoint rows (default) or Arrow columns, as MRT ingest's workers do",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="no ingest: measure the queries on the stores a --keep run left (same --entities/--days/--seed)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain DuckDB INSERT baseline")
    parser.add_argument(
        "--baseline-days",
        type=int,
        default=None,
        help="measure the baseline on the first N days only (default: all; a rate, so comparable)",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.reuse and args.workdir is None:
        parser.error("--reuse needs the --workdir of the --keep run")

    plan = make_plan(args.entities, args.days, args.batch_points, args.seed, args.points_as == "columns")
    n_kinds = {k: sum(1 for e in plan.entities if e.kind == k) for k in EntityKind}
    print(
        f"SYNTHETIC data: {len(plan.entities):,} entities ({n_kinds[EntityKind.COUNTRY]:,} countries, "
        f"{n_kinds[EntityKind.REGION]:,} regions, {n_kinds[EntityKind.NETWORK]:,} networks) x {len(SIGNALS)} "
        f"signals x {args.days} days of {BIN_S // 60}-minute bins = {plan.points:,} points "
        f"({plan.points / 447_552_000:.2%} of IODA scale); {len(plan.outages)} outages with alerts; "
        f"points handed to the store as {args.points_as}",
        flush=True,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lightsout-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Result] = {}
    if not args.reuse and not args.no_baseline:
        results["baseline"] = in_child(
            partial(baseline, workdir / "baseline.duckdb", plan, not args.quiet, args.baseline_days)
        )
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        location: Path | ClickHouseLocation
        if backend == "duckdb":
            location = workdir / "bench.duckdb"
        elif backend == "clickhouse":
            parsed = parse_location(args.clickhouse)
            if not isinstance(parsed, ClickHouseLocation):
                parser.error("--clickhouse must be a clickhouse:// URL")
            location = parsed
        else:
            parser.error(f"unknown backend {backend!r}")
        results[backend] = in_child(partial(run_backend, backend, location, plan, args))
        if not args.keep:
            if isinstance(location, Path):
                location.unlink(missing_ok=True)
            else:
                drop_clickhouse(location)
    if args.workdir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, args.reps)
    return 0


def report(results: dict[str, Result], reps: int) -> None:
    ingested = [r for r in results.values() if r.points]
    if ingested:
        print(
            f"\n{'ingest':<20} {'points':>13} {'points/s':>11} {'write s':>8} {'build s':>8} {'wall s':>8} "
            f"{'disk MB':>8} {'B/point':>8} {'peak RSS MiB':>13} {'server RSS MiB':>15}"
        )
        for r in ingested:
            disk = f"{r.disk_bytes / 1e6:,.0f}" if r.disk_bytes is not None else "-"
            per = f"{r.disk_bytes / r.points:.1f}" if r.disk_bytes is not None else "-"
            server = f"{r.server_rss / 2**20:,.0f}" if r.server_rss is not None else "-"
            print(
                f"{r.backend:<20} {r.points:>13,} {r.points_per_s:>11,.0f} {r.write_s:>8.1f} "
                f"{r.build_s:>8.1f} {r.ingest_wall_s:>8.1f} {disk:>8} {per:>8} "
                f"{r.peak_rss / 2**20:>13,.0f} {server:>15}"
            )
        print("(points/s: points over the time in write_batch; build s: making the records, timed apart)")
    measured = [r for r in results.values() if r.page_s]
    if measured:
        print(
            f"\n{'queries':<11} {'page p50':>9} {'page p99':>9} {'events p50':>11} {'events p99':>11} "
            f"{'events':>7} {'chart context':>14} {'disk MB':>8}"
        )
        for r in measured:
            disk = f"{r.disk_bytes / 1e6:,.0f}" if r.disk_bytes is not None else "-"
            print(
                f"{r.backend:<11} {statistics.median(r.page_s):>8.3f}s {percentile(r.page_s, 99):>8.3f}s "
                f"{statistics.median(r.events_s):>10.3f}s {percentile(r.events_s, 99):>10.3f}s "
                f"{r.events_found:>7} {r.chart_s:>13.2f}s {disk:>8}"
            )
        print(
            f"(page: GET /entity/country/XX through the app, uncached; events: list_events; p99 by "
            f"nearest rank over {reps} runs: with fewer than 100 runs, the slowest run)"
        )
    base, duck, click = results.get("baseline"), results.get("duckdb"), results.get("clickhouse")
    for other in (duck, click):
        if base and other and other.points:
            r = other
            print(
                f"\n{r.backend} ingest / plain DuckDB INSERT of the same arrays: "
                f"{r.points_per_s / base.points_per_s:.3f}x points/s ({r.points_per_s:,.0f} vs "
                f"{base.points_per_s:,.0f}; baseline over {base.points:,} of the points)"
            )
    if duck and click and duck.page_s and click.page_s:
        print("\nClickHouse / DuckDB:")
        if duck.points and click.points:
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
        if duck.disk_bytes and click.disk_bytes:
            print(f"  disk              {click.disk_bytes / duck.disk_bytes:6.2f}x")
        if click.events_found != duck.events_found:
            print(
                f"  WARNING: the backends found different events: {click.events_found} vs {duck.events_found}"
            )


if __name__ == "__main__":
    sys.exit(main())
