"""Commands of the live service: run, sources, backfill."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lightsout.cli.common import console, err_console
from lightsout.cli.params import parse_time
from lightsout.errors import UserError

if TYPE_CHECKING:
    from rich.progress import Progress

    from lightsout.model import SourceHealth
    from lightsout.service.freshness import SourceGaps
    from lightsout.store import StoreLocation

_CONFIG_HELP = "The service's TOML config (lightsout.example.toml documents every key)."


def _config(path: Path):  # type: ignore[no-untyped-def]
    from lightsout.service.config import load_config

    return load_config(path)


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help=_CONFIG_HELP)
def run(config_path: Path) -> None:
    """Follow the live sources, judge every new bin, deliver webhooks, and serve the API and dashboard.

    One long-running process that holds the store: other commands against the same store say so
    and point at its API. SIGTERM or Ctrl-C stops it cleanly; after a kill it resumes where it was.
    """
    from lightsout.service.run import Service

    Service(_config(config_path), console=err_console).run()


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help=_CONFIG_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def sources(config_path: Path, fmt: str) -> None:
    """Every configured live source: state, last data time, lag, last error, next attempt.

    Read from the store, or from the running service's API when `lightsout run` holds it.
    """
    import json

    from lightsout.model import HealthState, SourceHealth
    from lightsout.service.freshness import freshness

    config = _config(config_path)
    health, gaps = _health(config.store, list(config.sources))
    stored = {h.source: h for h in health}
    rows = [
        stored.get(name) or SourceHealth(name, HealthState.PENDING, None, None, None, None, None)
        for name in config.sources
    ]
    now = datetime.now(UTC)
    view = freshness(rows, now, gaps)
    if fmt == "json":
        items = [
            {
                "source": h.source,
                "kind": config.sources[h.source].kind,
                "state": h.state.value,
                "last_data": _iso(h.last_data),
                "lag_s": lag.total_seconds() if (lag := h.lag(now)) is not None else None,
                "last_error": h.last_error,
                "next_attempt": _iso(h.next_attempt),
                "checked_at": _iso(h.checked_at),
                "failures": h.failures,
                "gaps": gaps[h.source].count if h.source in gaps else 0,
                "latest_gap": _gap_json(gaps.get(h.source)),
            }
            for h in rows
        ]
        body = {"view": view.state.value, "message": view.message, "sources": items}
        click.echo(json.dumps(body, indent=2))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("source", "kind", "state", "last data (UTC)", "lag", "last error", "next attempt (UTC)",
                   "gaps"):  # fmt: skip
        table.add_column(column)
    for h in rows:
        lag = h.lag(now)
        table.add_row(
            h.source,
            config.sources[h.source].kind,
            h.state.value,
            _when(h.last_data),
            _duration(lag.total_seconds()) if lag is not None else "-",
            (h.last_error or "-")[:80],
            _when(h.next_attempt),
            str(gaps[h.source].count) if h.source in gaps else "-",
        )
    console.print(table)
    for name, found in gaps.items():  # the windows, one line each (data the archive did not serve)
        console.print(f"{name}: {found.describe()} (missing data, not an outage)", highlight=False)
    console.print(view.message, highlight=False, soft_wrap=True)


def _gap_json(gaps: SourceGaps | None) -> dict[str, object] | None:
    if gaps is None or gaps.latest is None:
        return None
    g = gaps.latest
    return {"start": g.start.isoformat(), "end": g.end.isoformat(), "missing": g.missing, "where": g.where}


def _health(store: StoreLocation, names: list[str]) -> tuple[list[SourceHealth], dict[str, SourceGaps]]:
    """The stored health and archive gaps: from the running service's API when it holds the store,
    else from the store."""
    from lightsout.model import HealthState, SourceHealth
    from lightsout.service.freshness import Gap, SourceGaps, source_gaps
    from lightsout.service.holder import read_holder
    from lightsout.store import sidecar_base

    holder = read_holder(sidecar_base(store))
    if holder is not None:
        import httpx

        try:
            data = httpx.get(f"{holder.url}/api/v1/sources", timeout=10).raise_for_status().json()["data"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise UserError(f"the store is held by `lightsout run` (pid {holder.pid}, {holder.url}), "
                            f"whose API did not answer: {exc}") from None
        health = [
            SourceHealth(
                s["source"], HealthState(s["state"]), _time(s["checked_at"]), _time(s["last_success"]),
                _time(s["last_data"]), s["last_error"], _time(s["next_attempt"]), s["failures"],
                s["clock_skew_s"],
            )
            for s in data["sources"]
        ]
        gaps: dict[str, SourceGaps] = {}
        for s in data["sources"]:
            if s.get("gaps"):
                g = s.get("latest_gap")
                latest = Gap(_utc(g["start"]), _utc(g["end"]), g["missing"], g["where"]) if g else None
                gaps[s["source"]] = SourceGaps(int(s["gaps"]), latest)
        return health, gaps
    if isinstance(store, Path) and not store.exists():
        return [], {}
    from lightsout.store import open_store

    opened = open_store(store, read_only=True)
    try:
        return opened.source_health(), source_gaps(opened, names)
    finally:
        opened.close()


@click.command()
@click.argument("source")
@click.option("--since", required=True, help="Start of the window (ISO 8601, UTC unless it says).")
@click.option("--until", default=None, help="End of the window, exclusive (default: the start of this hour).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help=_CONFIG_HELP)
def backfill(source: str, since: str, until: str | None, config_path: Path) -> None:
    """Fetch a past window of one source (e.g. two weeks for a baseline), with a progress bar.

    Resumable: a killed backfill run again with the same window goes on where it stopped, and
    nothing is fetched or stored twice (items already stored, by backfill or by the service, are skipped).
    While `lightsout run` holds the store, the window is handed to the service, which fetches it
    beside its live sources; this command shows its progress (Ctrl-C stops the job, resumable).
    """
    from lightsout.service.holder import read_holder
    from lightsout.store import sidecar_base

    config = _config(config_path)
    start = parse_time(since)
    # Without --until: the start of this hour, so that a rerun within the hour resumes the same window.
    end = parse_time(until) or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert start is not None
    if end <= start:
        raise UserError(f"--until {end:%Y-%m-%d %H:%M} is not after --since {start:%Y-%m-%d %H:%M}")
    config.source(source)
    holder = read_holder(sidecar_base(config.store))
    if holder is not None:
        _backfill_through(holder, source, start, end)
    else:
        _backfill_here(config, source, start, end)


def _bar() -> Progress:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=err_console,
    )  # fmt: skip


def _complete_line(source: str, start: datetime, end: datetime, when: datetime) -> str:
    return (f"{source}: {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} is already complete "
            f"(checkpoint of {when:%Y-%m-%d %H:%M} UTC); nothing to fetch")  # fmt: skip


def _summary(source: str, stored: int, known: int, measurements: int, points: int, not_yet: int,
             unreadable: int, notes: list[str]) -> None:  # fmt: skip
    line = f"{source}: {stored} stored, {known} already stored, {measurements} measurements, {points} points"
    if not_yet:
        line += f", {not_yet} listed but not available from the source"
    if unreadable:
        line += f", {unreadable} unreadable"
    console.print(line, highlight=False, soft_wrap=True)
    for note in notes[:10]:
        console.print(f"  {note}", highlight=False, style="dim")


def _backfill_here(config, source: str, start: datetime, end: datetime) -> None:  # type: ignore[no-untyped-def]
    """This process opens the store and fetches the window itself."""
    from lightsout.service.backfills import backfill_window
    from lightsout.service.run import build_connector
    from lightsout.sources.connector import WorkItem, new_client
    from lightsout.sources.pump import RoundLimits, RoundResult, direct_writer, run_round
    from lightsout.store import open_store

    connector = build_connector(config.source(source), config)
    window = backfill_window(start, end)
    span = (end - start).total_seconds()
    store = open_store(config.store)
    done = store.load_checkpoint(source, window.stream)
    if done is not None and done.data_until is not None and done.data_until >= end:
        store.close()
        console.print(_complete_line(source, start, end, done.updated_at), highlight=False, soft_wrap=True)
        return
    try:
        with _bar() as bar:
            task = bar.add_task(f"{source} {start:%Y-%m-%d}..{end:%Y-%m-%d}", total=span, counts="")

            def progress(item: WorkItem, result: RoundResult) -> None:
                if item.data_time is not None:
                    bar.update(task, completed=max(0.0, (item.data_time - start).total_seconds()))
                bar.update(task, counts=f"{result.items_stored} stored, {result.items_known} already stored")

            with new_client() as client:
                result = run_round(connector, client, direct_writer(store), window,
                                   limits=RoundLimits(), progress=progress)
            if result.error is None:
                bar.update(task, completed=span)
    finally:
        store.close()
    _summary(source, result.items_stored, result.items_known, result.measurements, result.points,
             result.not_yet, result.unreadable, result.notes)  # fmt: skip
    if result.error is not None:
        raise UserError(f"{source}: stopped: {result.error} (run the same command again to resume)")


def _backfill_through(holder, source: str, start: datetime, end: datetime) -> None:  # type: ignore[no-untyped-def]
    """The store is held by `lightsout run`: hand the window to it and show the job's progress."""
    import time

    import httpx

    held = f"the store is held by `lightsout run` (pid {holder.pid}, {holder.url})"
    if holder.control_token is None:
        raise UserError(f"{held}, which takes no backfills (an older version); stop it to backfill")
    headers = {"Authorization": f"Bearer {holder.control_token}"}
    base = f"{holder.url}/api/v1/backfills"

    def call(method: str, url: str, **kw: object) -> dict:  # type: ignore[type-arg]
        try:
            response = httpx.request(method, url, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise UserError(f"{held}, whose API did not answer ({type(exc).__name__}); "
                            "run the same command again to resume") from None  # fmt: skip
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {response.status_code}"
            raise UserError(f"{held}, which refused the backfill: {message}")
        body: dict = response.json()["data"]  # type: ignore[type-arg]
        return body

    job = call("POST", base, json={"source": source, "since": start.isoformat(), "until": end.isoformat()})
    err_console.print(f"{source}: backfill handed to the service ({holder.url}), job {job['job_id']}",
                      highlight=False, soft_wrap=True)  # fmt: skip
    span = (end - start).total_seconds()
    try:
        with _bar() as bar:
            task = bar.add_task(f"{source} {start:%Y-%m-%d}..{end:%Y-%m-%d}", total=span, counts="")
            while True:
                counts = f"{job['items_stored']} stored, {job['items_known']} already stored"
                bar.update(task, completed=job["fraction"] * span, counts=counts)
                if job["state"] in ("done", "failed", "stopped"):
                    break
                time.sleep(0.25)
                job = call("GET", f"{base}/{job['job_id']}")
    except KeyboardInterrupt:
        call("DELETE", f"{base}/{job['job_id']}")
        raise UserError(f"{source}: backfill stopped (run the same command again to resume)") from None
    if job["already_complete"]:
        when = _time(job["finished_at"]) or datetime.now(UTC)
        console.print(_complete_line(source, start, end, when), highlight=False, soft_wrap=True)
        return
    _summary(source, job["items_stored"], job["items_known"], job["measurements"], job["points"],
             job["not_yet"], job["unreadable"], job["notes"])  # fmt: skip
    if job["state"] == "failed":
        raise UserError(f"{source}: stopped: {job['error']} (run the same command again to resume)")
    if job["state"] == "stopped":
        raise UserError(f"{source}: the service stopped the backfill (run the same command again to resume)")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}" if moment is not None else "-"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
