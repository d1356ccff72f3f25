"""The events query and the country page at IODA's entity count, against the previous implementation.

    nice -n 10 .venv/bin/python bench/bench_events.py [--entities 74000] [--reps 7]
        [--backends duckdb,clickhouse] [--previous REV | --no-previous]

The store is SYNTHETIC and built from bench/bench_store.py's generator (``make_plan``,
``iter_blocks``, ``make_alerts``): its harsh case, 1% of all entities cut at once for 3 hours on
every signal (74,000 entities: 740 outages, 79,920 alerts). Only what the events read is written,
so it builds in a minute or two: every entity (74,000 rows), the points of the cut entities and of
their ancestors (the series the fusion and the noise judgement read) for one day of 5-minute bins,
and the alerts. The detector is not run.

Each contender runs in its own process, one after the other, and builds its own store of the same
synthetic data with its own package (the store's schema changes between commits: the previous
package cannot read a store the current one wrote), then reads it:

* **ours**: the package of this checkout;
* **previous**: the package as of commit ``--previous`` (default 9b1edab: main before the events
  query and the entity page were made to scale), exported from git into a temporary directory.

Timed (after one warm-up run each): ``lightsout.detect.service.list_events(store)`` over the whole
store (what /api/v1/events and the dashboard compute after a write), and ``GET
/entity/country/XX`` through the app (FastAPI's ASGI client, page cache off, so every request
reads the store) over a fixed list of countries, half of them with outages, the same list for both.
p50 and p99 (nearest rank; with fewer than 100 runs the slowest) and the ratios previous / ours.
Both must give the same events (every field the previous ``Event`` has) and the same pages
(checked; a difference is printed and the exit status is 1).

Measured on 3 December 2026 (load average about 8 on 2 shared cores; 7 runs; docs/design.md):

    nice -n 10 .venv/bin/python bench/bench_events.py --reps 7 --backends duckdb,clickhouse

    duckdb              events p50  events p99  page p50  page p99 events
    ours                    2.903s      3.752s    0.115s    0.169s     740
    previous 9b1edab        5.283s      6.851s    7.528s    8.887s     740
    previous / ours: events p50 x1.8 p99 x1.8; page p50 x65.4 p99 x52.6
    clickhouse
    ours                    2.862s      3.126s    0.327s    0.399s     740
    previous 9b1edab        4.673s      6.300s    5.190s    6.946s     740
    previous / ours: events p50 x1.6 p99 x2.0; page p50 x15.9 p99 x17.4
    same events: yes (740); same pages: yes (both backends)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_store import (  # noqa: E402  (the generator of the store benchmark, not a copy of it)
    BINS_PER_DAY,
    SOURCE,
    Plan,
    drop_clickhouse,
    iter_blocks,
    make_alerts,
    make_plan,
)
from lightsout.store import ClickHouseLocation, parse_location  # noqa: E402
from previous import export  # noqa: E402

DEFAULT_PREVIOUS = "9b1edab"

CHILD = """
import dataclasses, hashlib, json, random, sys, time
sys.path.insert(0, {src!r})
sys.path.insert(1, {bench!r})
import lightsout
assert lightsout.__file__.startswith({src!r}), lightsout.__file__
from fastapi.testclient import TestClient
from lightsout.api.app import create_app
from lightsout.detect.service import list_events
from lightsout.store import open_store, parse_location
from bench_events import build, make_plan

location = parse_location({location!r})
countries = {countries!r}
reps = {reps!r}
points, alerts, build_s = build({location!r}, make_plan({entities!r}, 1, 500_000, {seed!r}))
print(f"  built in {{build_s:.0f}} s ({{points:,}} points, {{alerts:,}} alerts)", file=sys.stderr, flush=True)

def timed(job):
    job()  # warm-up: caches and connections, as a dashboard that has served before
    samples = []
    for i in range(reps):
        t0 = time.perf_counter()
        job(i)
        samples.append(time.perf_counter() - t0)
    return samples

store = open_store(location, read_only=True)
try:
    events = list_events(store)
    events_s = timed(lambda i=0: list_events(store))
finally:
    store.close()
pages = {{}}
app = create_app(location, None, readers=1, page_cache_s=0)
with TestClient(app) as client:
    def page(i=0):
        cc = countries[i % len(countries)]
        response = client.get(f"/entity/country/{{cc}}")
        if response.status_code != 200:
            raise SystemExit(f"GET /entity/country/{{cc}}: {{response.status_code}}")
        pages[cc] = hashlib.sha256(response.content).hexdigest()
    page_s = timed(page)
print(json.dumps({{
    "build_s": build_s, "events_s": events_s, "page_s": page_s, "pages": pages,
    "events": [json.loads(json.dumps(dataclasses.asdict(e), default=str)) for e in events],
}}))
"""


@dataclass(frozen=True)
class Result:
    build_s: float
    events_s: list[float]
    page_s: list[float]
    pages: dict[str, str]  # country -> sha256 of the page
    events: list[dict[str, Any]]


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def needed(plan: Plan) -> list[str]:
    """The cut entities and their ancestors: the only series the events read."""
    by_id = {e.entity_id: e for e in plan.entities}
    ids = set(plan.outages)
    for entity_id in plan.outages:
        parent = by_id[entity_id].parent_id
        while parent is not None and parent in by_id and parent not in ids:
            ids.add(parent)
            parent = by_id[parent].parent_id
    return sorted(ids)


def build(location: str, plan: Plan) -> tuple[int, int, float]:
    """The store (module docstring); returns (points, alerts, seconds)."""
    from lightsout.model import SourceFile
    from lightsout.store import IngestBatch, open_store

    t0 = time.perf_counter()
    store = open_store(location)
    try:
        sha = hashlib.sha256(f"{plan.seed}/bench-events/entities".encode()).hexdigest()
        source = SourceFile(sha, "synthetic/entities", "synthetic", datetime.now(UTC), 0, 0, 0)
        store.write_batch(IngestBatch(source, list(plan.entities)))
        wanted = set(needed(plan))
        sub = Plan([e for e in plan.entities if e.entity_id in wanted], plan.days, plan.batch_points,
                   plan.outages, plan.seed)  # fmt: skip
        points = 0
        for _, make_batch in iter_blocks(sub):
            batch = make_batch()
            store.write_batch(batch)
            points += len(batch.points)
        alerts = make_alerts(plan)
        store.add_alerts(alerts)
    finally:
        store.close()
    return points, len(alerts), time.perf_counter() - t0


def run(src: Path, location: str, countries: list[str], args: argparse.Namespace) -> Result:
    """One contender in its own process: builds its store at ``location`` with its own package
    (the store's schema may differ between commits), then times it."""
    code = CHILD.format(
        src=str(src), bench=str(REPO / "bench"), location=location, countries=countries, reps=args.reps,
        entities=args.entities, seed=args.seed,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=None, text=True, env=dict(os.environ)
    )
    if done.returncode != 0:
        raise SystemExit(f"{src}: the run failed (status {done.returncode})")
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def _clickhouse(location: str) -> ClickHouseLocation:
    parsed = parse_location(location)
    assert isinstance(parsed, ClickHouseLocation)
    return parsed


def same_events(ours: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[str]:
    """Differences between the two lists of events, on every field the previous ``Event`` has."""
    if len(ours) != len(previous):
        return [f"{len(ours)} events vs {len(previous)}"]
    problems = []
    for a, b in zip(ours, previous, strict=True):
        diff = [k for k in b if a.get(k) != b[k]]
        if diff:
            problems.append(f"{b['event_id']}: {', '.join(diff)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=74_000, help="entities (IODA: 74,000)")
    parser.add_argument("--reps", type=int, default=7, help="timed runs of each query (default 7)")
    parser.add_argument("--pages", type=int, default=8, help="countries in the page list (default 8)")
    parser.add_argument("--backends", default="duckdb", help="comma-separated: duckdb,clickhouse")
    parser.add_argument("--clickhouse", default="clickhouse://127.0.0.1:9000/lightsout_bench_events")
    parser.add_argument("--previous", default=DEFAULT_PREVIOUS, help="the commit to compare with")
    parser.add_argument("--no-previous", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    plan = make_plan(args.entities, 1, 500_000, args.seed)
    by_id = {e.entity_id: e for e in plan.entities}
    cut = sorted({by_id[i].country_code for i in plan.outages if by_id[i].country_code})
    quiet = sorted({e.country_code for e in plan.entities if e.country_code} - set(cut))
    half = args.pages // 2
    countries = [cut[(i * 7919) % len(cut)] for i in range(half)]
    countries += [quiet[(i * 7919) % len(quiet)] for i in range(args.pages - half)] if quiet else []
    countries = list(dict.fromkeys(countries))
    alerts_n = len(plan.outages) * 3 * (3 * 3600 // 300)
    print(
        f"SYNTHETIC store: {len(plan.entities):,} entities, {len(plan.outages)} cut at once for 3 hours on "
        f"3 signals ({alerts_n:,} alerts); points of the {len(needed(plan)):,} cut entities and their "
        f"ancestors, one day of {BINS_PER_DAY} bins (source {SOURCE!r}); pages: {', '.join(countries)}",
        flush=True,
    )
    status = 0
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        work = Path(tmp)
        previous_src = None
        if not args.no_previous:
            (work / "previous").mkdir()
            previous_src = export(args.previous, work / "previous")
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"\n{backend}:", flush=True)
            results: dict[str, Result] = {}
            contenders = [("ours", REPO / "src")]
            if previous_src is not None:
                contenders.append((f"previous {args.previous}", previous_src))
            for index, (name, src) in enumerate(contenders):
                if backend == "duckdb":
                    location = str(work / f"events{index}.duckdb")
                else:
                    location = f"{args.clickhouse}{index}"
                    drop_clickhouse(_clickhouse(location))
                print(f" {name}:", file=sys.stderr, flush=True)
                results[name] = run(src, location, countries, args)
                if backend == "clickhouse":
                    drop_clickhouse(_clickhouse(location))
            print(f"{'':<18} {'events p50':>11} {'events p99':>11} {'page p50':>9} {'page p99':>9} events")
            for name, r in results.items():
                p50, p99 = statistics.median, partial(percentile, q=99)
                print(
                    f"{name:<18} {p50(r.events_s):>10.3f}s {p99(r.events_s):>10.3f}s "
                    f"{p50(r.page_s):>8.3f}s {p99(r.page_s):>8.3f}s {len(r.events):>7}"
                )
            if previous_src is None:
                continue
            ours, prev = results["ours"], results[f"previous {args.previous}"]
            print(
                f"previous / ours: events p50 x{p50(prev.events_s) / p50(ours.events_s):.1f} "
                f"p99 x{p99(prev.events_s) / p99(ours.events_s):.1f}; "
                f"page p50 x{p50(prev.page_s) / p50(ours.page_s):.1f} "
                f"p99 x{p99(prev.page_s) / p99(ours.page_s):.1f} (above 1: ours faster)"
            )
            problems = same_events(ours.events, prev.events)
            pages = [cc for cc in countries if ours.pages.get(cc) != prev.pages.get(cc)]
            print(
                f"same events: {'yes' if not problems else 'NO'} ({len(ours.events)}); "
                f"same pages: {'yes' if not pages else 'NO: ' + ', '.join(pages)}"
            )
            for problem in problems[:10]:
                print(f"  {problem}")
            if problems or pages:
                status = 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"(load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f})")
    return status


if __name__ == "__main__":
    sys.exit(main())
