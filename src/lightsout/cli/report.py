"""``lightsout report EVENT_ID``: a shareable chart and a plain-language statement of one event.

The command object is registered on the main group by ``lightsout.cli``; it raises
:class:`~lightsout.errors.UserError` for a user mistake, which the CLI prints as one line.
"""

from __future__ import annotations

from pathlib import Path

import click

from lightsout.cli.params import db_option
from lightsout.errors import UserError
from lightsout.report.context import load_event_context
from lightsout.report.event_chart import ChartFormat, event_chart_spec, render_chart
from lightsout.report.statement import make_statement
from lightsout.store import StoreLocation, open_store


@click.command()
@click.argument("event_id")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to write EVENT_ID.png|svg and EVENT_ID.txt into (created if missing).",
)
@click.option(
    "--format", "fmt", type=click.Choice([f.value for f in ChartFormat]), default="png", show_default=True
)
@db_option
def report(event_id: str, out: Path, fmt: str, db: StoreLocation | None) -> None:
    """Write a chart and a statement of one event (EVENT_ID, or a unique start of it).

    The chart shows the entity's signals as % of their ordinary level on one timeline, the event
    shaded and its affected sub-entities listed; the statement says what the metrics show, with
    an evidence line behind every number. `lightsout events --format csv` lists event ids.
    """
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: not a directory")
    store = open_store(db, read_only=True)
    try:
        context = load_event_context(store, event_id)
    finally:
        store.close()
    statement = make_statement(
        context.event,
        context.entities,
        context.files,
        context.data_end,
        own_alerts=context.own_alerts,
        noise=context.noise,
        kept=context.kept,
    )
    chart = render_chart(event_chart_spec(context, statement), ChartFormat(fmt))
    out.mkdir(parents=True, exist_ok=True)
    chart_path = out / f"{context.event.event_id}.{fmt}"
    text_path = out / f"{context.event.event_id}.txt"
    chart_path.write_bytes(chart)
    text_path.write_text(statement.text(), encoding="utf-8")
    click.echo(statement.headline)
    if statement.body:
        click.echo(statement.body)
    click.echo(f"chart written to {chart_path}")
    click.echo(f"statement and evidence written to {text_path}")
