"""``lightsout blocking``: verdicts per network and target, and the blocking events they make.

Registered in the CLI group by ``cli.add_command(blocking)``. Everything printed that comes from a
measurement (URLs, reasons quoting page titles) is untrusted: it is shown as plain text - never
as rich markup, never as HTML - with control characters replaced and long values cut.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lightsout.apps.aggregate import BlockingEvent, BlockingSeries, make_events, make_series
from lightsout.apps.finding import Status, clean
from lightsout.apps.stored import stored_verdicts
from lightsout.cli.params import db_option, parse_country, parse_window
from lightsout.report.words import open_end
from lightsout.store import StoreLocation, open_store

TEXT_LIMIT = 120  # characters of untrusted text shown in a table cell


def safe_text(value: str | None, limit: int = TEXT_LIMIT) -> Text:
    """Untrusted text as a rich ``Text``, which is never parsed as markup: cleaned and cut to ``limit``."""
    return Text("-" if value is None else clean(value, limit))




def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"


def _network(asn: int | None) -> str:
    return f"AS{asn}" if asn is not None else "-"


@click.command("blocking")
@click.option("--country", default=None, help="Only measurements from this country (ISO 3166-1).")
@click.option("--asn", type=int, default=None, help="Only measurements from this network (AS number).")
@click.option("--since", default=None, help="Only measurements from this time on (ISO 8601, UTC).")
@click.option("--until", default=None, help="Only measurements before this time.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--reanalyse",
    is_flag=True,
    help="First judge again, and store, every measurement whose stored verdict is by another version "
    "of the analysis (or that has none); see docs/apps.md.",
)
@db_option
def blocking(
    country: str | None,
    asn: int | None,
    since: str | None,
    until: str | None,
    fmt: str,
    reanalyse: bool,
    db: StoreLocation | None,
) -> None:
    """Judge stored OONI app and website measurements: accessible, blocked (how), down or
    inconclusive, per country, network and target; then the blocking events they make.

    Verdicts are judged once, at ingest, and stored; a measurement without a stored verdict of
    the running analysis is judged here (--reanalyse stores those verdicts)."""
    cc, (start, end) = parse_country(country), parse_window(since, until)
    if reanalyse:
        from lightsout.apps.stored import rederive

        writer = open_store(db)
        try:
            count = rederive(writer)
        finally:
            writer.close()
        click.echo(f"{count:,} measurement(s) judged again and stored", err=True)
    store = open_store(db, read_only=True)
    try:
        verdicts = list(stored_verdicts(store, cc, asn, start, end))
    finally:
        store.close()
    series = make_series(verdicts)
    events = make_events(verdicts)
    if fmt == "json":
        click.echo(
            json.dumps(
                {"series": [_series_json(s) for s in series], "events": [_event_json(e) for e in events]},
                indent=2,
                ensure_ascii=True,
            )
        )
        return
    console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
    table = Table(
        "country",
        "network",
        "target",
        "acc.",
        "blocked",
        "down",
        "inconcl.",
        "latest",
        "reason",
        title="Verdicts per network and target",
    )
    for s in series:
        latest = s.latest
        status = latest.status.value + (f" ({latest.method.value})" if latest.method else "")
        table.add_row(
            s.country or "-",
            _network(s.asn),
            safe_text(s.target, 60),
            str(s.count(Status.ACCESSIBLE)),
            str(s.count(Status.BLOCKED)),
            str(s.count(Status.DOWN)),
            str(s.count(Status.INCONCLUSIVE)),
            f"{status} {_when(latest.start)}",
            safe_text(latest.reason),
        )
    console.print(table)
    console.print(f"{len(verdicts)} measurements judged, {len(series)} series")
    events_table = Table(
        "target",
        "country",
        "network",
        "method",
        "since (UTC)",
        "until (UTC)",
        "measurements",
        "statement",
        title="Blocking events",
    )
    for e in events:
        events_table.add_row(
            safe_text(e.target, 60),
            e.country or "-",
            _network(e.asn),
            e.method.value,
            _when(e.start),
            _when(e.end) if e.end else open_end(e.data_end),
            str(e.measurements),
            safe_text(e.statement(), 160),
        )
    console.print(events_table)
    console.print(f"{len(events)} blocking events")


def _series_json(s: BlockingSeries) -> dict[str, Any]:
    latest = s.latest
    return {
        "country": s.country,
        "asn": s.asn,
        "target": s.target,
        "counts": {status.value: s.count(status) for status in Status},
        "latest": {
            "measurement_id": latest.measurement_id,
            "test_name": latest.test_name,
            "status": latest.status.value,
            "method": latest.method.value if latest.method else None,
            "reason": latest.reason,
            "start": latest.start.isoformat() if latest.start else None,
            "fingerprint": latest.fingerprint,
        },
    }


def _event_json(e: BlockingEvent) -> dict[str, Any]:
    from lightsout.api.blocking import blocking_json

    return blocking_json(e)
