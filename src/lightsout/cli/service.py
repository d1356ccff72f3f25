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
    stored = {h.source: h for h in _health(config.store)}
    rows = [
        stored.get(name) or SourceHealth(name, HealthState.PENDING, None, None, None, None, None)
        for name in config.sources
    ]
    now = datetime.now(UTC)
    view = freshness(rows, now)
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
            }
            for h in rows
        ]
        body = {"view": view.state.value, "message": view.message, "sources": items}
        click.echo(json.dumps(body, indent=2))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("source", "kind", "state", "last data (UTC)", "lag", "last error", "next attempt (UTC)"):
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
        )
    console.print(table)
    console.print(view.message, highlight=False, soft_wrap=True)


def _health(store: StoreLocation) -> list:  # type: ignore[type-arg]
    """The stored health: from the running service's API when it holds the store, else the store."""
    from lightsout.model import HealthState, SourceHealth
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
        return [
            SourceHealth(
                s["source"], HealthState(s["state"]), _time(s["checked_at"]), _time(s["last_success"]),
                _time(s["last_data"]), s["last_error"], _time(s["next_attempt"]), s["failures"],
                s["clock_skew_s"],
            )
            for s in data["sources"]
        ]
    if isinstance(store, Path) and not store.exists():
        return []
    from lightsout.store import open_store

    opened = open_store(store, read_only=True)
    try:
        return opened.source_health()
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
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from lightsout.service.run import build_connector
    from lightsout.sources.connector import Window, WorkItem, new_client
    from lightsout.sources.pump import RoundLimits, RoundResult, direct_writer, run_round
    from lightsout.store import open_store

    config = _config(config_path)
    start = parse_time(since)
    # Without --until: the start of this hour, so that a rerun within the hour resumes the same window.
    end = parse_time(until) or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert start is not None
    if end <= start:
        raise UserError(f"--until {end:%Y-%m-%d %H:%M} is not after --since {start:%Y-%m-%d %H:%M}")
    connector = build_connector(config.source(source), config)
    window = Window(f"backfill/{start.isoformat()}/{end.isoformat()}", start, end)
    span = (end - start).total_seconds()
    store = open_store(config.store)
    done = store.load_checkpoint(source, window.stream)
    if done is not None and done.data_until is not None and done.data_until >= end:
        store.close()
        console.print(
            f"{source}: {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} is already complete "
            f"(checkpoint of {done.updated_at:%Y-%m-%d %H:%M} UTC); nothing to fetch",
            highlight=False,
            soft_wrap=True,
        )
        return
    try:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=err_console,
        ) as bar:
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
    line = (f"{source}: {result.items_stored} stored, {result.items_known} already stored, "
            f"{result.measurements} measurements, {result.points} points")
    if result.not_yet:
        line += f", {result.not_yet} listed but not available from the source"
    if result.unreadable:
        line += f", {result.unreadable} unreadable"
    console.print(line, highlight=False, soft_wrap=True)
    for note in result.notes[:10]:
        console.print(f"  {note}", highlight=False, style="dim")
    if result.error is not None:
        raise UserError(f"{source}: stopped: {result.error} (run the same command again to resume)")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


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
