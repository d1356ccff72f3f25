"""``lightsout run``: one process that follows the live sources, judges every new bin, delivers
webhooks, and serves the API, the dashboard and the Atom feed, all at once.

One process owns the store (docs/design.md, "The service"): the API's
:class:`lightsout.api.access.StoreAccess` holds DuckDB's only write connection behind a lock and a
pool of read connections of the same in-process database. Each source thread writes one item per
transaction through that lock (data + ledger row + checkpoint); the judge thread runs
:func:`lightsout.detect.run.detect_online` through it; API and dashboard requests read from the
pool and see consistent snapshots (DuckDB MVCC), never blocked by a write.

Threads: uvicorn in the main thread (it handles SIGTERM/SIGINT: stop accepting, finish requests),
one thread per source (rounds on its schedule, backing off on failures), one judge thread (woken
by new data, or every ``detect.every``), one backfill thread (windows handed over by
``lightsout backfill``, :mod:`lightsout.service.backfills`). On stop every thread ends between two
transactions (the judge between two series groups), and the store is closed only once no write is
under way; a SIGKILL at any moment loses nothing stored and the restart resumes from the checkpoints.
"""

from __future__ import annotations

import importlib
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console

from lightsout.errors import UserError
from lightsout.model import Event, HealthState, SourceHealth
from lightsout.service.config import CONNECTOR_KINDS, ServiceConfig, SourceConfig, first_round_start
from lightsout.sources.connector import Backoff, Connector, Window, new_client
from lightsout.sources.pump import Claims, RoundLimits, RoundResult, health_after, run_round
from lightsout.store import Store, sidecar_base

if TYPE_CHECKING:
    from lightsout.api.access import StoreAccess
    from lightsout.notify.webhooks import BackgroundDelivery, DeliveryReport
    from lightsout.service.backfills import Backfills

ROUND_ITEMS = 200  # items per round before health is saved and the judge runs (a long catch-up resumes)


def build_connector(source: SourceConfig, config: ServiceConfig) -> Connector:
    module_name, function = CONNECTOR_KINDS[source.kind].split(":")
    factory: Callable[[SourceConfig, ServiceConfig], Connector] = getattr(
        importlib.import_module(module_name), function
    )
    return factory(source, config)


def load_health(store: Store, name: str) -> SourceHealth | None:
    return next((h for h in store.source_health() if h.source == name), None)


@dataclass
class Service:
    config: ServiceConfig
    console: Console = field(default_factory=lambda: Console(stderr=True))
    stop: threading.Event = field(default_factory=threading.Event)
    new_data: threading.Event = field(default_factory=threading.Event)
    url: str | None = None
    delivery: BackgroundDelivery | None = None  # webhooks, on their own thread once a registry exists
    claims: Claims = field(default_factory=Claims)  # items being fetched, shared by follow and backfills
    join_s: float = 30.0  # at stop: how long threads get before the service says what it waits for

    def run(self) -> None:
        import uvicorn

        from lightsout.api import backfills as backfills_api
        from lightsout.api.access import StoreAccess
        from lightsout.api.app import PREFIX, create_app
        from lightsout.service.backfills import Backfills, jobs_path
        from lightsout.service.holder import held_message, remove_holder, write_holder

        config = self.config
        local = sidecar_base(config.store)  # the holder file goes beside it
        held = held_message(local)
        if held is not None:
            raise UserError(held)
        connectors = {name: build_connector(s, config) for name, s in config.sources.items()}
        token = config.api_token()
        access = StoreAccess(config.store, writable=True, readers=4)
        threads: list[threading.Thread] = []
        backfills: Backfills | None = None
        control_token = secrets.token_urlsafe(32)
        try:
            app = create_app(config.store, token, access=access)
            def read(job: Callable[[Store], object]) -> object:
                with access.reading() as store:
                    return job(store)

            backfills = Backfills(config, access.write, self.claims, self.stop, on_data=self.new_data.set,
                                  read=read, path=jobs_path(local))  # fmt: skip
            app.state.backfills = backfills
            app.state.control_tokens = (control_token,) if token is None else (control_token, token)
            app.include_router(backfills_api.router, prefix=PREFIX)
            server = uvicorn.Server(
                uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", access_log=False)
            )
            for name, connector in connectors.items():
                threads.append(threading.Thread(
                    target=self._follow, args=(access, config.sources[name], connector), name=f"source-{name}"
                ))
            threads.append(threading.Thread(target=self._judge, args=(access,), name="judge"))
            started_at = datetime.now(UTC).isoformat(timespec="seconds")

            def announce() -> None:
                while not server.started and not self.stop.is_set():
                    self.stop.wait(0.05)
                if server.started:
                    port = server.servers[0].sockets[0].getsockname()[1] if server.servers else config.port
                    self.url = f"http://{config.host}:{port}"
                    write_holder(local, self.url, started_at, control_token)
                    names = ", ".join(connectors) or "none"
                    self.console.print(
                        f"lightsout run: serving {self.url} (API /api/v1, dashboard /, feed /feed.atom); "
                        f"store {config.store}; sources: {names}",
                        highlight=False,
                    )
                    for thread in threads:
                        thread.start()

            announcer = threading.Thread(target=announce, name="announce", daemon=True)
            announcer.start()
            # uvicorn handles SIGTERM/SIGINT while it runs, then re-raises the signal to the handler
            # that was there before: make that one end the run here, so the cleanup below happens.
            previous = {sig: signal.signal(sig, self._stop_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                server.run()  # blocks until SIGTERM / SIGINT
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        finally:
            self._shutdown(threads, backfills, access)
            remove_holder(local)
            self.console.print("lightsout run: stopped", highlight=False)

    def _shutdown(
        self, threads: list[threading.Thread], backfills: Backfills | None, access: StoreAccess
    ) -> None:
        """Stop every thread, then close the store. The store is closed only once no thread can
        write any more: closing DuckDB's connection under a running query fails ("connection is
        busy") and would cut a judge round in two. Threads end between two transactions (the
        judge between two series groups); one still inside a transaction after ``join_s`` is
        named, and waited for."""
        self.stop.set()
        self.new_data.set()
        if backfills is not None:
            backfills.close(timeout_s=0)  # stops taking jobs; the running one sees the stop
            threads = [*threads, backfills.thread]
        deadline = time.monotonic() + self.join_s
        for thread in threads:
            if thread.ident is not None:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        waiting = [t.name for t in threads if t.is_alive()]
        if waiting:
            self.console.print(f"lightsout run: waiting for {', '.join(waiting)} to end its transaction",
                               highlight=False)  # fmt: skip
            for thread in threads:
                if thread.is_alive():
                    thread.join()
        if self.delivery is not None:
            self.delivery.close()
        access.close()

    def _stop_signal(self, signum: int, frame: object) -> None:
        self.stop.set()

    # -- threads ---------------------------------------------------------------------------------

    def _follow(self, access: StoreAccess, source: SourceConfig, connector: Connector) -> None:
        every_s = source.every.total_seconds()
        backoff = Backoff(base_s=min(30.0, every_s), cap_s=max(every_s, 1800.0))
        health = access.write(lambda s: load_health(s, source.name))
        if health is None:
            now = datetime.now(UTC)
            health = SourceHealth(source.name, HealthState.PENDING, None, None, None, None, now)
            pending = health
            access.write(lambda s: s.save_health(pending))
        first = first_round_start(source)
        with new_client(timeout_s=20.0) as client:
            while not self.stop.is_set():
                if health.next_attempt is not None:
                    wait = (health.next_attempt - datetime.now(UTC)).total_seconds()
                    if wait > 0 and self.stop.wait(wait):
                        break
                window = self._follow_window(access, source.name, first)
                try:
                    result = run_round(
                        connector, client, access.write, window,
                        limits=RoundLimits(max_items=ROUND_ITEMS, backoff_base_s=min(1.0, every_s / 10)),
                        stop=self.stop,
                    )
                except Exception as exc:  # a connector bug must not stop the service: a failing source
                    result = RoundResult(source.name, window.stream, error=f"{type(exc).__name__}: {exc}")
                if result.stopped and not result.items_stored:
                    break  # stopped while waiting: this round says nothing about the source
                now = datetime.now(UTC)
                health = health_after(health, result, now, source.every, source.late_after, backoff)
                if result.error is None and result.items_stored >= ROUND_ITEMS:
                    health = _replace_next(health, now)  # more to catch up: go on at once
                access.write(lambda s, h=health: s.save_health(h))  # type: ignore[misc]
                self._log(result, health)
                if result.items_stored:
                    self.new_data.set()

    @staticmethod
    def _follow_window(access: StoreAccess, name: str, first: datetime) -> Window:
        """From the configured start the first time; from the checkpoint after that, however long
        the service was stopped (the connector takes the later of ``since`` and its checkpoint)."""
        checkpoint = access.write(lambda s: s.load_checkpoint(name, "follow"))
        since = first
        if checkpoint is not None and checkpoint.data_until is not None:
            since = min(since, checkpoint.data_until)
        return Window("follow", since)

    def _judge(self, access: StoreAccess) -> None:
        from lightsout.detect.run import detect_online

        seen: set[str] | None = None
        every = self.config.detect_every.total_seconds()
        while not self.stop.is_set():
            try:
                summary = access.write(lambda s: detect_online(s, stop=self.stop.is_set))
                with access.reading() as store:  # outside the write lock; cached until the next write
                    events = access.events(store)
            except Exception as exc:  # keep serving; say it
                self.console.print(f"judge: {type(exc).__name__}: {exc}", highlight=False)
            else:
                if seen is not None:
                    for event in events:
                        if event.event_id not in seen:
                            self.console.print(f"new event: {event.entity_id} {event.kind.value} "
                                               f"from {event.start:%Y-%m-%d %H:%M} UTC", highlight=False)
                seen = {e.event_id for e in events}
                if summary.bins:
                    self.console.print(f"judge: {summary.bins:,} new bins, {summary.alerts:,} alerted",
                                       highlight=False)
                self._notify(events)
            self.new_data.wait(every)
            self.new_data.clear()

    def _notify(self, events: list[Event]) -> None:
        """Hand the events to the delivery thread and return at once: a slow or dead receiver never
        holds up judging (each attempt has its own total deadline there)."""
        from lightsout.notify.webhooks import BackgroundDelivery, default_registry_path

        if not events:
            return
        if self.delivery is None:
            path = default_registry_path(sidecar_base(self.config.store))
            if not path.exists():  # `lightsout webhooks add` may create it while the service runs
                return
            self.delivery = BackgroundDelivery(path, on_report=self._delivered)
        self.delivery.submit(events)

    def _delivered(self, report: DeliveryReport) -> None:
        if report.delivered or report.failed:
            self.console.print(f"webhooks: {len(report.delivered)} delivered, {len(report.failed)} failed",
                               highlight=False)

    def _log(self, result: RoundResult, health: SourceHealth) -> None:
        parts = [f"{result.items_stored} stored"]
        if result.items_known:
            parts.append(f"{result.items_known} already stored")
        if result.not_yet:
            parts.append(f"{result.not_yet} not yet available")
        if result.unreadable:
            parts.append(f"{result.unreadable} unreadable")
        if result.error:
            parts.append(f"error: {result.error}")
        when = f"{health.next_attempt:%H:%M:%S}" if health.next_attempt else "-"
        self.console.print(f"{result.source}: {health.state.value}: {', '.join(parts)}; next {when} UTC",
                           highlight=False)


def _replace_next(health: SourceHealth, now: datetime) -> SourceHealth:
    return replace(health, next_attempt=now)
