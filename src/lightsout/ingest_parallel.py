"""Many MRT files at once: worker processes read, the parent process writes.

A collector's files depend on each other (an update file continues the routing tables of the file
before), so one worker reads them in time order, carrying the tables from file to file; different
collectors are independent and read in parallel, the largest first (by bytes, so a big collector
does not start last and finish alone). Each worker applies the ingest's bounds
(:func:`lightsout.ingest.check_parsed`) and sends every file as soon as it is read, as the batch
the sequential ingest makes of it (:func:`lightsout.ingest.make_batch`: the reader's point columns,
``read_mrt(columns=True)``, and the entities as Arrow columns, never an object per point). The
parent is the store's one writer: it writes each file in one transaction, in its collector's order,
while the workers read on, so the store and the results are the same as with one process. A worker
is at most :data:`AHEAD` files ahead of the parent's writes (memory stays bounded when the writes
are the slower part).

Where the CPU goes is measured by :class:`StageTimes` (``bench/bench_mrt.py --jobs 2`` prints it).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import resource
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any

from lightsout.errors import InputError
from lightsout.ingest import (
    check_input_file,
    check_parsed,
    fill_report,
    make_batch,
    sha256_of,
    source_record,
)
from lightsout.model import IngestReport
from lightsout.sources import CarryState, Parsed
from lightsout.store import IngestBatch, Store

AHEAD = 2  # files a worker may have read but the parent not yet written, per worker


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(slots=True)
class StageTimes:
    """Seconds by stage of one parallel ingest: CPU of the workers (summed) and of the parent,
    and the wall seconds each side waited for the other. ``worker_total``/``parent_total`` are
    the processes' whole CPU time (``getrusage``), so what no stage names is their difference."""

    worker: dict[str, float] = field(default_factory=dict)
    parent: dict[str, float] = field(default_factory=dict)
    worker_total: float = 0.0
    parent_total: float = 0.0
    workers: int = 0

    def add(self, side: dict[str, float], stage: str, seconds: float) -> None:
        side[stage] = side.get(stage, 0.0) + seconds


@dataclass(slots=True)
class _File:
    """One file as a worker sends it: what was read and checked, as the store's batch
    (:func:`lightsout.ingest.make_batch`: its points and entities as Arrow columns) and the rest of
    the read for the report (its points and entities emptied), or the error's position and
    message."""

    path: Path
    sha256: str
    parsed: Parsed | None = None
    batch: IngestBatch | None = None
    error: tuple[str, str] | None = None


@dataclass(slots=True)
class _Task:
    collector: str
    files: list[tuple[Path, str]]  # (path, sha256) in time order
    carry: CarryState | None


def _mrt_order(path: Path) -> tuple[int, int, str]:
    """Time order within a collector: the time in the name, a RIB dump before the update file of
    the same time (RouteViews keeps them in RIBS/ and UPDATES/, so path order is not time order)."""
    from lightsout.sources.mrt import file_time

    name = path.name.lower()
    rib = "bview" in name or "rib" in name
    return file_time(path) or 0, 0 if rib else 1, str(path)


def _read_file(path: Path, digest: str, carry: CarryState | None, times: dict[str, float]) -> _File:
    from lightsout.sources.mrt import read_mrt

    def load(_key: str) -> CarryState | None:
        return carry

    started = _cpu()
    try:
        # the tables stay in memory; the points come as columns, never as objects
        parsed = read_mrt(path, load_carry=load, hand_over=True, columns=True)
    except InputError as exc:
        return _File(path, digest, error=(exc.position, exc.message))
    finally:
        times["read (read_mrt)"] = times.get("read (read_mrt)", 0.0) + _cpu() - started
    started = _cpu()
    try:
        parsed = check_parsed(parsed, path)
    except InputError as exc:  # too many points: the file is refused, its tables still carry
        return _File(
            path, digest, parsed=Parsed(parsed.format, carry=parsed.carry), error=(exc.position, exc.message)
        )
    finally:
        times["bounds (check_parsed)"] = times.get("bounds (check_parsed)", 0.0) + _cpu() - started
    started = _cpu()
    batch = make_batch(source_record(path, digest, parsed), parsed)  # as ingest_file makes it
    assert batch.point_columns is not None and batch.entity_columns is not None
    parsed.point_columns, parsed.entities = None, []
    times["Arrow columns"] = times.get("Arrow columns", 0.0) + _cpu() - started
    return _File(path, digest, parsed, batch)


def _work(tasks: Any, results: Any, credits: Any) -> None:
    """A worker process: collectors from ``tasks`` until ``None``; every file to ``results``
    (after taking one of the parent's ``credits``), then ``("done", collector)``; at the end its
    stage times. A bug is sent as its traceback. The process ends without freeing what it holds
    (the routing tables): nothing is left to free them for."""
    from lightsout.sources.mrt import read_mrt  # noqa: F401  (imported now: counted as start-up)

    times: dict[str, float] = {"start-up and imports": _cpu()}
    waited = 0.0
    status = 0
    try:
        while (task := tasks.get()) is not None:
            carry = task.carry
            for path, digest in task.files:
                read = _read_file(path, digest, carry, times)
                if read.parsed is not None and read.parsed.carry is not None:
                    carry = read.parsed.carry
                started = time.perf_counter()
                credits.acquire()
                waited += time.perf_counter() - started
                results.put(("file", read))
            results.put(("done", task.collector))
    except BaseException:
        results.put(("bug", traceback.format_exc()))
        status = 1
    times["waiting for the parent (wall s)"] = waited
    results.put(("times", (times, _cpu())))
    results.close()
    results.join_thread()
    os._exit(status)


def ingest_mrt_files(
    store: Store, paths: list[Path], jobs: int, times: StageTimes | None = None
) -> Iterator[IngestReport | InputError]:
    """Ingest MRT files with up to ``jobs`` worker processes, one collector each at a time (see
    the module's docstring). Yields each file's report (or its one-line error) once it is written;
    files already in the store are reported first. ``times`` collects where the CPU went."""
    from lightsout.sources.mrt import collector_name

    times = times if times is not None else StageTimes()
    cpu_at_start = _cpu()
    groups: dict[str, list[Path]] = {}
    for path in paths:
        check_input_file(path)
        groups.setdefault(collector_name(path), []).append(path)
    tasks: list[_Task] = []
    for collector, members in groups.items():
        todo: list[tuple[Path, str]] = []
        for path in sorted(members, key=_mrt_order):
            digest = sha256_of(path)
            if store.has_source(digest):
                yield IngestReport(path=str(path), format="mrt", sha256=digest, already_ingested=True)
            else:
                todo.append((path, digest))
        if todo:
            tasks.append(_Task(collector, todo, store.load_carry(f"mrt/{collector}")))
    tasks.sort(key=lambda t: -sum(p.stat().st_size for p, _ in t.files))  # the largest first
    times.add(times.parent, "hashes, store look-ups, plan", _cpu() - cpu_at_start)
    if tasks:
        yield from _run(store, tasks, max(1, min(jobs, len(tasks))), times)
    times.parent_total = _cpu()


def _run(
    store: Store, tasks: list[_Task], workers: int, times: StageTimes
) -> Iterator[IngestReport | InputError]:
    context: SpawnContext = multiprocessing.get_context("spawn")  # never fork a process holding the store
    task_queue, results, credits = context.Queue(), context.Queue(), context.Semaphore(AHEAD * workers)
    for task in tasks:
        task_queue.put(task)
    for _ in range(workers):
        task_queue.put(None)
    started = _cpu()
    processes: list[SpawnProcess] = [
        context.Process(target=_work, args=(task_queue, results, credits), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    times.workers = workers
    times.add(times.parent, "starting workers", _cpu() - started)
    pending, reporting = len(tasks), workers
    try:
        while pending or reporting:
            started, waited = _cpu(), time.perf_counter()
            kind, payload = _next(results, processes)
            times.add(times.parent, "waiting for workers (wall s)", time.perf_counter() - waited)
            times.add(times.parent, "receiving (unpickling)", _cpu() - started)
            if kind == "file":
                started = _cpu()
                try:
                    yield _write(store, payload)
                finally:
                    credits.release()
                    times.add(times.parent, "store writes", _cpu() - started)
            elif kind == "done":
                pending -= 1
            elif kind == "times":
                worker_times, total = payload
                for stage, seconds in worker_times.items():
                    times.add(times.worker, stage, seconds)
                times.worker_total += total
                reporting -= 1
            else:
                raise RuntimeError(f"an MRT ingest worker failed:\n{payload}")
    finally:
        for process in processes:
            if process.is_alive() and (pending or reporting):
                process.terminate()
            process.join()
        task_queue.cancel_join_thread()  # tasks no worker took (after an error) are dropped
        task_queue.close()
        results.close()


def _next(results: Any, processes: list[SpawnProcess]) -> tuple[str, Any]:
    """The next message of a worker; a worker that died without saying why is an error."""
    while True:
        try:
            message: tuple[str, Any] = results.get(timeout=1.0)
            return message
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"an MRT ingest worker died (exit codes {dead})") from None
            if all(p.exitcode == 0 for p in processes):  # what they sent is in the pipe by now
                try:
                    last: tuple[str, Any] = results.get(timeout=1.0)
                    return last
                except queue.Empty:
                    raise RuntimeError("the MRT ingest workers ended without their results") from None


def _write(store: Store, file: _File) -> IngestReport | InputError:
    """Write a file a worker read and checked, as :func:`lightsout.ingest.ingest_file` does (its
    source record dated when it is written)."""
    parsed, batch = file.parsed, file.batch
    if file.error is not None or parsed is None or batch is None:
        position, message = file.error or ("", "unreadable")
        return InputError(str(file.path), position, message)
    assert batch.point_columns is not None and batch.entity_columns is not None
    store.write_batch(replace(batch, source=replace(batch.source, ingested_at=datetime.now(UTC))))
    report = fill_report(
        IngestReport(path=str(file.path), format=parsed.format, sha256=file.sha256), parsed, 0
    )
    report.points_written = batch.point_columns.num_rows
    report.entities_written = batch.entity_columns.num_rows
    return report
