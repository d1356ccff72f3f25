"""Backfills inside a running service: ``lightsout backfill`` while ``lightsout run`` holds the store.

DuckDB lets one process write a file, so a backfill cannot open a store the service holds. Instead
the command hands its window to the service (``POST /api/v1/backfills``, authorised by the control
token the service wrote into its holder file, :mod:`lightsout.service.holder`), and follows the
job's progress (``GET /api/v1/backfills/{job_id}``) with the same progress bar as a direct backfill.

The service runs one backfill at a time, on its own thread, through the same writer as its source
threads (one item per transaction, with the window's own checkpoint ``backfill/<since>/<until>``).
So a backfill is resumable whoever ran it: the service's job and a direct ``lightsout backfill``
share that checkpoint, and a window killed half-way in either goes on where it stopped.

Nothing is fetched twice: the fetch-once ledger skips every stored item, and while a job runs
beside the source's own follow thread, the two claim each item before fetching it
(:class:`lightsout.sources.pump.Claims`): an item one of them is fetching is left to it.

The same window asked for again while its job is queued or running is the same job (its id is
derived from the source and the window), so a command killed and run again attaches to the job
that went on in the service.

Job records outlive the service: they are written (atomically, on every change of state) to a
JSON file beside the store (``<store>.backfills.json``, :func:`jobs_path`). A service started
again lists the finished jobs as they ended and resumes, from the window's checkpoint, every job
that was queued or running when the service stopped or was killed (noted "resumed after the
service restarted"). A job the user stopped (``DELETE``) stays stopped.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from lightsout.errors import UserError
from lightsout.model import Checkpoint
from lightsout.service.config import ServiceConfig
from lightsout.sources.connector import Window, WorkItem, new_client
from lightsout.sources.pump import Claims, RoundLimits, RoundResult, Writer, run_round

MAX_JOBS_KEPT = 100  # finished jobs remembered for their status (the oldest go first)


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # the whole window is stored (or was already)
    FAILED = "failed"  # the source kept failing: run it again to resume
    STOPPED = "stopped"  # cancelled, or the service stopped: run it again to resume


@dataclass(slots=True)
class BackfillJob:
    """One window of one source, as the service runs it. Counts are those of this job only."""

    job_id: str
    source: str
    since: datetime
    until: datetime
    submitted_at: datetime
    state: JobState = JobState.QUEUED
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reached: datetime | None = None  # the data time of the newest item handled (progress)
    already_complete: bool = False  # the window's checkpoint said it was done: nothing fetched
    items_stored: int = 0
    items_known: int = 0
    not_yet: int = 0
    unreadable: int = 0
    measurements: int = 0
    points: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False  # stopped by the user (DELETE), not by the service stopping: never resumed
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def window(self) -> Window:
        return backfill_window(self.since, self.until)

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED, JobState.STOPPED)

    @property
    def fraction(self) -> float:
        """How much of the window is behind the job, 0..1 (by data time)."""
        if self.state == JobState.DONE:
            return 1.0
        if self.reached is None:
            return 0.0
        span = (self.until - self.since).total_seconds()
        return min(1.0, max(0.0, (self.reached - self.since).total_seconds() / span))

    def finish(self, state: JobState) -> None:
        """End the job: its end time first, so whoever sees a finished state sees its time."""
        self.finished_at = datetime.now(UTC)
        self.state = state

    def take(self, result: RoundResult) -> None:
        self.items_stored, self.items_known = result.items_stored, result.items_known
        self.not_yet, self.unreadable = result.not_yet, result.unreadable
        self.measurements, self.points = result.measurements, result.points
        self.notes = result.notes[:20]


def jobs_path(store: Path) -> Path:
    """Where a service keeps its backfill jobs: beside its store (or the local base of a
    ClickHouse store, :func:`lightsout.store.sidecar_base`)."""
    return store.with_name(store.name + ".backfills.json")


_TIMES = ("since", "until", "submitted_at", "started_at", "finished_at", "reached")


def _record(job: BackfillJob) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(BackfillJob):
        if f.name == "cancel":
            continue
        value = getattr(job, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _job(record: dict[str, Any]) -> BackfillJob:
    values = {f.name: record[f.name] for f in fields(BackfillJob) if f.name in record and f.name != "cancel"}
    for name in _TIMES:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["state"] = JobState(values["state"])
    return BackfillJob(**values)


def save_jobs(path: Path, jobs: list[BackfillJob]) -> None:
    """Write the job records at once (a temporary file renamed over the old one)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([_record(j) for j in jobs], indent=1), encoding="utf-8")
    os.replace(tmp, path)


def load_jobs(path: Path) -> list[BackfillJob]:
    """The job records a service wrote, oldest first; none when there is no file. A damaged file is
    a one-line error naming it (the jobs' data is safe in the store: rerunning resumes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        return [_job(record) for record in json.loads(text)]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{path}: not a backfill job list ({type(exc).__name__}: {exc}); move it away: "
            "the windows resume from their checkpoints when run again"
        ) from None


def backfill_window(since: datetime, until: datetime) -> Window:
    """The stream of a backfill window: its checkpoint is shared by the service and the command."""
    return Window(f"backfill/{since.isoformat()}/{until.isoformat()}", since, until)


def job_id(source: str, since: datetime, until: datetime) -> str:
    text = f"{source}\n{since.astimezone(UTC).isoformat()}\n{until.astimezone(UTC).isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Backfills:
    """The service's backfill queue: jobs run one at a time, oldest first, on one thread.

    ``write`` is the service's writer; ``claims`` the item claims shared with its follow threads;
    ``stop`` the service's stop event (a running job ends between two items, STOPPED);
    ``on_data`` is called after a job stored something (the service wakes its judge); ``read``
    runs a read-only job off the write lock (the service's read pool), for the window's checkpoint;
    ``path``: the file the job records are kept in (:func:`jobs_path`; None keeps them in memory
    only). Jobs it holds that were queued or running when the last service stopped are resumed.
    """

    def __init__(
        self,
        config: ServiceConfig,
        write: Writer[object],
        claims: Claims,
        stop: threading.Event,
        on_data: Callable[[], None] = lambda: None,
        read: Writer[object] | None = None,
        path: Path | None = None,
    ) -> None:
        self._config = config
        self._write = write
        self._read = read or write
        self._claims = claims
        self._stop = stop
        self._on_data = on_data
        self._lock = threading.Lock()
        self._jobs: dict[str, BackfillJob] = {}
        self._queue: queue.Queue[BackfillJob | None] = queue.Queue()
        self._path = path
        restarted = f"resumed after the service restarted ({datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        for job in load_jobs(path) if path is not None else []:
            self._jobs[job.job_id] = job
            # queued or running when the service was killed, or stopped by the service stopping
            interrupted = not job.finished or (job.state == JobState.STOPPED and not job.cancelled)
            if not interrupted:
                continue
            if job.source not in config.sources:
                job.error = f"source {job.source!r} is no longer configured"
                job.finish(JobState.FAILED)
                continue
            job.notes = [restarted, *job.notes][:20]
            job.state, job.started_at, job.finished_at = JobState.QUEUED, None, None
            self._queue.put(job)
        self._save()
        self._thread = threading.Thread(target=self._work, name="backfills")
        self._thread.start()

    def _save(self) -> None:
        if self._path is None:
            return
        with self._lock:
            jobs = list(self._jobs.values())
        with contextlib.suppress(OSError):  # a full disk never stops a backfill (its checkpoint resumes it)
            save_jobs(self._path, jobs)

    def submit(self, source: str, since: datetime, until: datetime) -> BackfillJob:
        """The job of this window: the queued or running one, else a new one. UserError for a source
        the service does not follow or an empty window."""
        self._config.source(source)  # one line naming the configured sources
        if until <= since:
            raise UserError(f"until {until:%Y-%m-%d %H:%M} is not after since {since:%Y-%m-%d %H:%M}")
        if self._stop.is_set():
            raise UserError("the service is stopping; run the backfill again once it runs")
        ident = job_id(source, since, until)
        with self._lock:
            job = self._jobs.get(ident)
            if job is not None and not job.finished:
                return job
            job = BackfillJob(ident, source, since.astimezone(UTC), until.astimezone(UTC), datetime.now(UTC))
            self._jobs.pop(ident, None)
            self._jobs[ident] = job
            while len(self._jobs) > MAX_JOBS_KEPT:
                oldest = next((k for k, j in self._jobs.items() if j.finished), None)
                if oldest is None:
                    break
                del self._jobs[oldest]
        self._save()
        self._queue.put(job)
        return job

    def get(self, ident: str) -> BackfillJob | None:
        with self._lock:
            return self._jobs.get(ident)

    def jobs(self) -> list[BackfillJob]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, ident: str) -> BackfillJob | None:
        job = self.get(ident)
        if job is not None:
            job.cancelled = True
            job.cancel.set()
            if job.state == JobState.QUEUED:
                job.finish(JobState.STOPPED)
            self._save()
        return job

    def close(self, timeout_s: float | None = None) -> bool:
        """Stop taking jobs; the running one ends between two items. True once the thread ended."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
        self._queue.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    # -- the worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                break
            if job.finished:  # cancelled while queued
                continue
            try:
                self._run(job)
            except Exception as exc:  # a connector bug fails the job, never the service
                job.error = f"{type(exc).__name__}: {exc}"
                job.finish(JobState.FAILED)
            finally:
                if not job.finished:
                    job.finish(JobState.STOPPED)
                self._save()
        with self._lock:  # what was still queued will not run (a restarted service resumes it)
            for job in self._jobs.values():
                if not job.finished:
                    job.finish(JobState.STOPPED)
        self._save()

    def _run(self, job: BackfillJob) -> None:
        from lightsout.service.run import build_connector

        job.state, job.started_at = JobState.RUNNING, datetime.now(UTC)
        self._save()
        window = job.window
        done = cast("Checkpoint | None", self._read(lambda s: s.load_checkpoint(job.source, window.stream)))
        if done is not None and done.data_until is not None and done.data_until >= job.until:
            job.already_complete = True
            job.finish(JobState.DONE)
            return
        connector = build_connector(self._config.source(job.source), self._config)
        stop = _Either(self._stop, job.cancel)

        def progress(item: WorkItem, result: RoundResult) -> None:
            if item.data_time is not None:
                job.reached = item.data_time
            job.take(result)

        with new_client() as client:
            result = run_round(connector, client, self._write, window, limits=RoundLimits(),
                               stop=stop, progress=progress, claims=self._claims)  # fmt: skip
        job.take(result)
        if result.items_stored:
            self._on_data()
        if result.error is not None:
            job.error = result.error
            job.finish(JobState.FAILED)
        elif result.stopped or stop.is_set():
            job.finish(JobState.STOPPED)
        else:
            job.finish(JobState.DONE)


class _Either(threading.Event):
    """Set when either of two events is set (what ``run_round`` polls and waits on)."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        super().__init__()
        self._events = (first, second)

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            self._events[0].wait(left)
        return True
