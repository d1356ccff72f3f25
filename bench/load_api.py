"""Load test of the HTTP API: concurrent reads while an upload is ingested.

    python bench/load_api.py [--concurrency 20] [--seconds 10] [--no-detect]
    python bench/load_api.py --pages --no-upload [--page-cache 0]   # dashboard and feed pages

Builds a temporary store from four of the Monash files in ../shared/data (Iran, Bago, Ukraine
border, Venezuela) and runs the detector, starts ``lightsout serve`` (the click command, uvicorn) on
127.0.0.1 at a free port in a subprocess, then keeps ``--concurrency`` GET requests in flight for
``--seconds`` over a mix of endpoints, while, after one second, POST /api/v1/ingest uploads the
fifth file (Hurricane Laura, 2.7 MB, 221 entities) and, unless --no-detect, re-runs the detector.
Prints requests/s, p50/p99 latency and errors, for the whole run and for the reads made while the
write was running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from lightsout.detect.run import detect_batch
from lightsout.ingest import ingest_file
from lightsout.store import open_store

REPO = Path(__file__).resolve().parents[1]
MONASH = Path(os.environ.get("LIGHTSOUT_DATA", REPO.parent / "shared" / "data")) / "monash-ip-observatory"
PRELOADED = [
    "irn-2019-11-11_gif.csv",
    "mmr-2021-04-09_Bago.csv",
    "ukr-2022-01-18_border-regions.csv",
    "ven-2019-07-22_gif.csv",
]
UPLOADED = "usa-2020-08-31_HurrLaura.csv"
TOKEN = "load-test-token-0123456789"

READS = [
    "/api/v1/entities?country=IR",
    "/api/v1/entities/region/IR-23",
    "/api/v1/signals?entity=country/IR&max_points=100",
    "/api/v1/signals?entity=region/VE-A",
    "/api/v1/events",
    "/api/v1/events?country=VE&scope=national",
    "/api/v1/status?kind=country",
    "/api/v1/status?state=outage",
    "/api/v1/export/events.csv",
    "/api/v1/export/signals.csv?entity=country/VE",
]
# Dashboard and feed pages (--pages): each costs about ten API calls; cached per store generation
# unless --page-cache 0.
PAGES = [
    "/",
    "/entity/country/IR",
    "/entity/region/IR-23",
    "/entity/country/VE",
    "/feed.atom",
    "/chart/entity/country/VE.svg",
]


@dataclass
class Tally:
    latencies_s: list[float] = field(default_factory=list)
    during_write_s: list[float] = field(default_factory=list)
    by_url: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def build_store(db: Path) -> None:
    store = open_store(db)
    try:
        for name in PRELOADED:
            ingest_file(store, MONASH / name)
        detect_batch(store)
    finally:
        store.close()


def start_server(db: Path, port: int, page_cache_s: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from lightsout.cli.serve import serve; serve()"]
    args = ["--host", "127.0.0.1", "--port", str(port), "--db", str(db), "--page-cache", str(page_cache_s)]
    env = {**os.environ, "LIGHTSOUT_TOKEN": TOKEN}
    return subprocess.Popen(command + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            if server.poll() is not None:
                stderr = server.stderr.read().decode() if server.stderr else ""
                raise SystemExit(f"server exited: {stderr}")
            try:
                if (await client.get("/api/v1/status")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("server did not answer within 30 s")


async def reader(
    client: httpx.AsyncClient,
    worker: int,
    deadline: float,
    writing: asyncio.Event,
    tally: Tally,
    reads: list[str],
) -> None:
    i = worker
    while time.perf_counter() < deadline:
        url = reads[i % len(reads)]
        i += 1
        during_write = writing.is_set()
        start = time.perf_counter()
        try:
            response = await client.get(url)
            await response.aread()
        except httpx.HTTPError as exc:
            tally.error(type(exc).__name__)
            continue
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            tally.error(f"HTTP {response.status_code}")
            continue
        tally.latencies_s.append(elapsed)
        tally.by_url.setdefault(url, []).append(elapsed)
        if during_write and writing.is_set():
            tally.during_write_s.append(elapsed)


async def upload(client: httpx.AsyncClient, detect: bool, writing: asyncio.Event) -> tuple[float, str]:
    await asyncio.sleep(1.0)
    body = (MONASH / UPLOADED).read_bytes()
    writing.set()
    start = time.perf_counter()
    try:
        response = await client.post(
            "/api/v1/ingest",
            params={"filename": UPLOADED, "detect": str(detect).lower()},
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=120,
        )
    finally:
        writing.clear()
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        return elapsed, f"HTTP {response.status_code}: {response.text[:200]}"
    data = response.json()["data"]
    detected = data["detected"]
    summary = f"{data['points_written']:,} points, {data['entities_written']} entities"
    if detected:
        summary += f"; detector: {detected['series']} series, {detected['alerts']:,} alerted bins"
    return elapsed, summary


def describe(label: str, latencies_s: list[float], seconds: float | None = None) -> str:
    if not latencies_s:
        return f"{label}: no requests"
    ms = np.array(latencies_s) * 1000
    rate = f", {len(ms) / seconds:,.0f} requests/s" if seconds else ""
    return (
        f"{label}: {len(ms):,} requests{rate}; latency p50 {np.percentile(ms, 50):.1f} ms, "
        f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms"
    )


async def run(
    base: str, server_pid: int, concurrency: int, seconds: float, write: bool, detect: bool, reads: list[str]
) -> None:
    tally = Tally()
    server_cpu_before = cpu_s(server_pid)
    writing = asyncio.Event()
    limits = httpx.Limits(max_connections=concurrency + 1, max_keepalive_connections=concurrency + 1)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        start = time.perf_counter()
        deadline = start + seconds
        writer = asyncio.create_task(upload(client, detect, writing)) if write else None
        workers = (reader(client, w, deadline, writing, tally, reads) for w in range(concurrency))
        await asyncio.gather(*workers)
        wall = time.perf_counter() - start
        server_cpu_after = cpu_s(server_pid)
        if writer is not None:
            upload_s, upload_summary = await writer
            print(f"upload {UPLOADED}: {upload_s:.2f} s ({upload_summary})")
    print(describe(f"reads, {concurrency} concurrent, {wall:.1f} s", tally.latencies_s, wall))
    if write:
        print(describe("reads during the write", tally.during_write_s))
    for url in reads:
        print("  " + describe(url, tally.by_url.get(url, [])))
    if server_cpu_before is not None and server_cpu_after is not None and tally.latencies_s:
        used = server_cpu_after - server_cpu_before
        print(
            f"server CPU: {used:.1f} s in {wall:.1f} s ({100 * used / wall:.0f}% of one core; "
            f"{os.cpu_count()} cores on this machine, the load generator shares them)"
        )
    errors = sum(tally.errors.values())
    print(f"errors: {errors}" + (f" {tally.errors}" if errors else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-detect", action="store_true", help="Upload without re-running the detector.")
    parser.add_argument("--no-upload", action="store_true", help="Reads only: the baseline.")
    parser.add_argument("--pages", action="store_true", help="Read dashboard and feed pages, not the API.")
    parser.add_argument("--page-cache", type=float, default=30.0, help="The server's --page-cache (0: off).")
    args = parser.parse_args()
    if not MONASH.is_dir():
        print(f"no data at {MONASH}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lightsout-load-") as tmp:
        db = Path(tmp) / "load.duckdb"
        started = time.perf_counter()
        build_store(db)
        print(f"store: {', '.join(PRELOADED)} ingested and judged in {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = start_server(db, port, args.page_cache)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(base, server))
            print(f"server: lightsout serve on {base} (pid {server.pid})")
            asyncio.run(
                run(
                    base,
                    server.pid,
                    args.concurrency,
                    args.seconds,
                    not args.no_upload,
                    not args.no_detect,
                    PAGES if args.pages else READS,
                )
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
