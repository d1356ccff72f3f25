"""The ``lightsout`` command line. Strings are parsed into typed values here, at the edge."""

from __future__ import annotations

import functools
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from lightsout.cli_params import db_option, parse_country, parse_time
from lightsout.errors import UserError
from lightsout.ingest import InputFormat, ingest_file
from lightsout.model import Entity, EntityKind, Event, Scope, SeriesKey, SeriesSummary, SignalKind
from lightsout.report.describe import describe, sparkline
from lightsout.store import MeasurementFilter, Store, TimeSeries, open_store

# Piped output gets a wide page rather than rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

SIGNAL_PREFERENCE = [
    SignalKind.CONNECTIVITY_INDEX,
    SignalKind.RESPONSIVE_ADDRESSES,
    SignalKind.LATENCY_INDEX,
    SignalKind.BGP_SLASH24S,
    SignalKind.BGP_PREFIXES,
    SignalKind.MEDIAN_RTT_MS,
]


def _advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


def _utc(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def resolve_entity(store: Store, text: str) -> Entity:
    """Accept ``country/IR``, ``IR``, ``IRN``, ``IR-23``, ``AS12880`` or ``12880``."""
    candidates = [text]
    upper = text.strip().upper()
    if "/" not in text:
        if upper.startswith("AS") and upper[2:].isdigit():
            candidates.append(f"network/{upper}")
        elif upper.isdigit():
            candidates.append(f"network/AS{upper}")
        elif len(upper) in (2, 3) and upper.isalpha():
            from lightsout.attribution.places import country_alpha2

            candidates.append(f"country/{country_alpha2(upper) or upper}")
        else:
            candidates += [f"region/{upper}", f"county/{text}", f"network/{text}"]
    for candidate in candidates:
        entity = store.entity(candidate)
        if entity is not None:
            return entity
    raise UserError(f"no entity {text!r} in the store; `lightsout entities` lists them")


def _open(db: Path | None, read_only: bool = True) -> Store:
    return open_store(db, read_only=read_only)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lightsout")
def cli() -> None:
    """Lightsout: an open observatory for internet shutdowns."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in InputFormat]),
    default="auto",
    help="Input format (default: guessed from the name and the first bytes).",
)
@db_option
def ingest(paths: tuple[Path, ...], fmt: str, db: Path | None) -> None:
    """Ingest Monash IP Observatory CSVs, BGP MRT files or OONI measurements (JSON/JSONL).

    Each file is written atomically; a file already in the store is not written again.
    """
    store = _open(db, read_only=False)
    failed = 0
    try:
        for path in paths:
            try:
                with Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TimeRemainingColumn(),
                    console=err_console,
                    transient=True,
                ) as bar:
                    task = bar.add_task(path.name, total=None)
                    report = ingest_file(
                        store,
                        path,
                        InputFormat(fmt),
                        functools.partial(_advance, bar, task),
                    )
            except UserError as exc:
                err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
                failed += 1
                continue
            if report.already_ingested:
                console.print(f"{path}: already in the store (sha256 {report.sha256[:12]}), nothing added")
                continue
            console.print(
                f"{path}: {report.format}: {report.records_read:,} records read, "
                f"{report.points_written:,} signal points, {report.measurements_written:,} measurements, "
                f"{report.entities_written:,} entities; {len(report.skipped):,} skipped",
                highlight=False,
                soft_wrap=True,
            )
            for reason, count in sorted(report.skip_reasons().items(), key=lambda kv: -kv[1]):
                first = next(s for s in report.skipped if s.reason == reason)
                console.print(f"  skipped {count:,}: {reason} (first at {first.position})", highlight=False)
            for note in report.notes:
                console.print(f"  note: {note}", highlight=False)
    finally:
        store.close()
    if failed:
        sys.exit(1)


@cli.command()
@click.option("--kind", type=click.Choice([k.value for k in EntityKind]), default=None)
@click.option("--country", default=None, help="ISO 3166-1 code (alpha-2 or alpha-3).")
@db_option
def entities(kind: str | None, country: str | None, db: Path | None) -> None:
    """List stored countries, regions, counties and networks."""
    store = _open(db)
    try:
        rows = store.entities(EntityKind(kind) if kind else None, parse_country(country))
    finally:
        store.close()
    table = Table("entity", "kind", "name", "country", "parent")
    for e in rows:
        table.add_row(
            Text(e.entity_id), e.kind.value, Text(e.name), e.country_code or "-", Text(e.parent_id or "-")
        )
    console.print(table)
    console.print(f"{len(rows)} entities")


@cli.command()
@click.argument("entity", required=False)
@click.option("--country", default=None, help="Only series of entities in this country.")
@db_option
def signals(entity: str | None, country: str | None, db: Path | None) -> None:
    """List stored signal series: entity, signal, source, bin size, span."""
    store = _open(db)
    try:
        entity_id = resolve_entity(store, entity).entity_id if entity else None
        rows = store.series(entity_id, parse_country(country))
    finally:
        store.close()
    table = Table("entity", "signal", "source", "bin", "points", "first (UTC)", "last (UTC)", "min", "max")
    for s in rows:
        table.add_row(
            s.key.entity_id,
            s.key.signal.value,
            s.key.source,
            f"{s.key.bin_s}s",
            str(s.points),
            f"{s.first:%Y-%m-%d %H:%M}",
            f"{s.last:%Y-%m-%d %H:%M}",
            f"{s.min_value:g}",
            f"{s.max_value:g}",
        )
    console.print(table)
    console.print(f"{len(rows)} series")


def _pick(summaries: list[SeriesSummary], signal: SignalKind | None) -> SeriesSummary | None:
    if signal is not None:
        return next((s for s in summaries if s.key.signal == signal), None)
    for preferred in SIGNAL_PREFERENCE:
        for s in summaries:
            if s.key.signal == preferred:
                return s
    return summaries[0] if summaries else None


@cli.command()
@click.argument("entity")
@click.option(
    "--signal",
    type=click.Choice([s.value for s in SignalKind]),
    default=None,
    help="Which signal (default: the first of connectivity, responsive addresses, latency, BGP).",
)
@click.option("--since", default=None, help="Start, ISO 8601 (UTC unless an offset is given).")
@click.option("--until", default=None, help="End (exclusive), ISO 8601.")
@click.option("--chart", type=click.Path(path_type=Path), default=None, help="Write a PNG or SVG chart here.")
@db_option
def show(
    entity: str, signal: str | None, since: str | None, until: str | None, chart: Path | None, db: Path | None
) -> None:
    """Show an entity's signal and, for each region/county/network inside it, where it fell."""
    start, end = parse_time(since), parse_time(until)
    store = _open(db)
    try:
        target = resolve_entity(store, entity)
        wanted = SignalKind(signal) if signal else None
        summary = _pick(store.series(target.entity_id), wanted)
        children = store.entities(parent_id=target.entity_id)
        child_series: list[tuple[Entity, TimeSeries]] = []
        key = summary.key if summary else None
        for child in children:
            child_summary = _pick(store.series(child.entity_id), key.signal if key else wanted)
            if child_summary is None:
                continue
            child_series.append((child, store.points(child_summary.key, start, end)))
        if key is None and not child_series:
            what = f"no {wanted.value} signal" if wanted else "no stored signal"
            hint = f"`lightsout signals {target.code}` lists its signals"
            raise UserError(f"{target.entity_id} has {what}; {hint}")
        overall = store.points(key, start, end) if key else None
    finally:
        store.close()
    _print_show(target, overall, child_series)
    if chart is not None:
        from lightsout.report.chart import draw_entity_chart

        if chart.suffix.lower() not in (".png", ".svg"):
            raise UserError(f"{chart}: chart must end in .png or .svg")
        child_series.sort(key=lambda cs: (_fell(cs[1]) or 2**62, cs[0].name))
        signal_name = (overall.key.signal if overall else child_series[0][1].key.signal).value
        draw_entity_chart(
            chart,
            target,
            overall,
            child_series,
            f"{target.name} ({target.entity_id}): {signal_name.replace('_', ' ')}",
        )
        console.print(f"chart written to {chart}")


def _fell(series: TimeSeries) -> int | None:
    fall = describe(series)
    return fall.fell_at_s if fall else None


def _print_show(
    target: Entity, overall: TimeSeries | None, children: list[tuple[Entity, TimeSeries]]
) -> None:
    rows: list[tuple[Entity, TimeSeries]] = ([(target, overall)] if overall is not None else []) + children
    if not rows:
        return
    key = rows[0][1].key
    console.print(
        f"[bold]{target.name}[/] ({target.entity_id}) - {key.signal.value}, source {key.source}, "
        f"bins of {key.bin_s} s, times in UTC"
    )
    console.print("ordinary = upper quartile of the window; fell = first bin below half of it", style="dim")
    table = Table(
        "entity", "name", "series (window)", "ordinary", "fell (UTC)", "lowest", "lowest at (UTC)", "latest"
    )
    for entity, series in rows:
        fall = describe(series)
        if fall is None:
            table.add_row(Text(entity.entity_id), Text(entity.name), "no data", "-", "-", "-", "-", "-")
            continue
        table.add_row(
            Text(entity.entity_id),
            Text(entity.name),
            sparkline(series.values, width=36, top=fall.ordinary),
            f"{fall.ordinary:.3g}",
            _utc(fall.fell_at_s),
            f"{fall.minimum:.3g} ({fall.minimum_pct:.0f}%)",
            _utc(fall.minimum_at_s),
            f"{fall.latest:.3g} ({fall.latest_pct:.0f}%)",
        )
    console.print(table)
    fell = [e for e, s in children if _fell(s) is not None]
    if children:
        console.print(f"{len(fell)} of {len(children)} sub-entities fell below half their ordinary level")


@cli.command()
@click.option("--country", default=None)
@click.option("--asn", type=int, default=None)
@click.option("--test", "test_name", default=None, help="OONI test name, e.g. web_connectivity.")
@click.option("--since", default=None)
@click.option("--until", default=None)
@click.option("--limit", type=click.IntRange(1, 100000), default=100)
@db_option
def measurements(
    country: str | None,
    asn: int | None,
    test_name: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    db: Path | None,
) -> None:
    """List stored OONI measurements by country, network, test and time."""
    query = MeasurementFilter(
        parse_country(country), asn, test_name, parse_time(since), parse_time(until), limit
    )
    store = _open(db)
    try:
        rows = store.measurements(query)
    finally:
        store.close()
    table = Table("start (UTC)", "test", "version", "country", "network", "input", "id")
    for m in rows:
        table.add_row(
            f"{m.measurement_start:%Y-%m-%d %H:%M:%S}" if m.measurement_start else "-",
            m.test_name,
            m.test_version or "-",
            m.probe_cc or "-",
            f"AS{m.probe_asn}" if m.probe_asn else "-",
            Text((m.input or "-")[:60]),
            m.measurement_id[:24],
        )
    console.print(table)
    console.print(f"{len(rows)} measurements")


@cli.command()
@click.option(
    "--since", default=None, help="Judge bins from this time (ISO 8601, UTC); earlier data warms up."
)
@click.option("--until", default=None, help="Judge bins before this time.")
@db_option
def detect(since: str | None, until: str | None, db: Path | None) -> None:
    """Judge every stored signal over a time range (batch) and store its alerts."""
    from lightsout.detect.run import detect_batch

    start, end = parse_time(since), parse_time(until)
    store = _open(db, read_only=False)
    try:
        summary = detect_batch(store, start, end)
    finally:
        store.close()
    console.print(
        f"judged {summary.series:,} series ({summary.points:,} points over {summary.bins:,} bins): "
        f"{summary.alerts:,} alerted bins; `lightsout events` lists the events"
    )
    if summary.insufficient_history:
        console.print(
            f"  {len(summary.insufficient_history)} series too short for a baseline (no alert possible): "
            + ", ".join(summary.insufficient_history[:5])
            + (" ..." if len(summary.insufficient_history) > 5 else ""),
            highlight=False,
        )


@cli.command()
@click.option(
    "--inbox",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory to ingest new files from before each round.",
)
@click.option("--interval", type=click.FloatRange(0.1), default=60.0, help="Seconds between rounds.")
@click.option("--once", is_flag=True, help="Run one round and exit.")
@db_option
def watch(inbox: Path | None, interval: float, once: bool, db: Path | None) -> None:
    """Online detection: judge each new bin as it arrives, resuming from the state in the store."""
    import time

    from lightsout.detect.run import detect_online
    from lightsout.detect.service import list_events

    store = _open(db, read_only=False)
    try:
        seen = {e.event_id for e in list_events(store)}
        while True:
            if inbox is not None:
                for path in sorted(p for p in inbox.iterdir() if p.is_file()):
                    try:
                        report = ingest_file(store, path)
                    except UserError as exc:
                        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
                        continue
                    if not report.already_ingested:
                        console.print(f"ingested {path.name}: {report.points_written:,} points")
            summary = detect_online(store)
            events = list_events(store)
            for event in events:
                if event.event_id not in seen:
                    console.print(f"new event: {_event_line(event)}", highlight=False)
            seen |= {e.event_id for e in events}
            _notify(events, db)
            console.print(f"round: {summary.bins:,} new bins, {summary.alerts:,} alerted", style="dim")
            if once:
                break
            time.sleep(interval)
    finally:
        store.close()


def _notify(events: list[Event], db: Path | None) -> None:
    """Deliver events no webhook has had yet, when webhooks are configured (`lightsout webhooks`)."""
    from lightsout.notify.webhooks import WebhookRegistry, default_registry_path, deliver_new_events
    from lightsout.store import default_db_path

    path = default_registry_path(db or default_db_path())
    if not path.exists():
        return
    registry = WebhookRegistry(path)
    try:
        report = deliver_new_events(events, registry)
    finally:
        registry.close()
    if report.delivered or report.failed:
        console.print(
            f"webhooks: {len(report.delivered)} delivered, {len(report.failed)} failed", style="dim"
        )


def _event_line(event: Event) -> str:
    end = f"{event.end:%Y-%m-%d %H:%M}" if event.end else "ongoing"
    return (
        f"{event.scope.value} {event.kind.value} in {event.entity_name} ({event.entity_id}) "
        f"{event.start:%Y-%m-%d %H:%M} - {end} UTC, level {event.mean_level_pct:.0f}% of ordinary "
        f"(lowest {event.min_level_pct:.0f}%)"
    )


@cli.command()
@click.option("--country", default=None, help="ISO 3166-1 code.")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), default=None)
@click.option("--since", default=None, help="Events going on at or after this time (ISO 8601).")
@click.option("--until", default=None, help="Events that started before this time.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option(
    "--with-blocking",
    is_flag=True,
    help="Also app and website blocking events (OONI), for json and csv: json becomes "
    '{"outages": [...], "blocking": [...]} instead of the list of outages; csv gets the columns '
    "target, method, asn, test_name, last_blocked, measurements, fingerprint, statement, and one "
    "row per blocking event with kind=blocking. The table always shows them.",
)
@db_option
def events(
    country: str | None,
    scope: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
    with_blocking: bool,
    db: Path | None,
) -> None:
    """List outage events: scope, start/end, depth, signals, affected sub-entities, confidence;
    then app and website blocking events (network scope: measured per AS) with their statements.

    Without --with-blocking, json prints only the list of outage events and csv only their rows.
    --since/--until/--country select blocking events as they select outages.
    """
    from lightsout.api.blocking import select_blocking
    from lightsout.apps.aggregate import blocking_events
    from lightsout.detect.service import EventFilter, list_events

    query = EventFilter(
        parse_country(country), Scope(scope) if scope else None, parse_time(since), parse_time(until)
    )
    store = _open(db)
    try:
        rows = list_events(store, query)
        blocked = None
        if fmt == "table" or with_blocking:
            # Judged from every measurement of the country, then selected like the outages, so an
            # event keeps its real start and end whatever the window.
            blocked = []
            if query.scope in (None, Scope.NETWORK):
                every = blocking_events(store, query.country)
                blocked = select_blocking(every, query.country, None, query.since, query.until)
    finally:
        store.close()
    if blocked is None:
        _print_events(rows, fmt)
    elif fmt == "json":
        import json

        from lightsout.api.blocking import blocking_json
        from lightsout.report.serialize import to_jsonable

        # ASCII-escaped, as `lightsout blocking` prints them: targets and reasons are untrusted.
        both = {"outages": to_jsonable(rows), "blocking": [blocking_json(b) for b in blocked]}
        click.echo(json.dumps(both, indent=2, ensure_ascii=True))
    elif fmt == "csv":
        import csv

        from lightsout.api.blocking import BLOCKING_CSV_COLUMNS, blocking_csv_row
        from lightsout.report.serialize import EVENT_CSV_COLUMNS, event_csv_row

        writer = csv.writer(sys.stdout)
        writer.writerow(EVENT_CSV_COLUMNS + BLOCKING_CSV_COLUMNS)
        for event in rows:
            writer.writerow(event_csv_row(event) + [""] * len(BLOCKING_CSV_COLUMNS))
        for b in blocked:
            writer.writerow(blocking_csv_row(b, EVENT_CSV_COLUMNS))
    else:
        _print_events(rows, fmt)
        if not blocked:
            return
        from lightsout.apps.commands import safe_text

        table = Table(
            "since (UTC)",
            "until (UTC)",
            "country",
            "network",
            "target",
            "method",
            "measurements",
            "statement",
        )
        for b in blocked:
            table.add_row(f"{b.start:%Y-%m-%d %H:%M}", f"{b.end:%Y-%m-%d %H:%M}" if b.end else "ongoing",
                          b.country or "-", f"AS{b.asn}" if b.asn else "-", safe_text(b.target, 60),
                          b.method.value, str(b.measurements), safe_text(b.statement(), 160))  # fmt: skip
        console.print(table)
        console.print(f"{len(blocked)} blocking events (`lightsout blocking` for every verdict)")


def _print_events(rows: list[Event], fmt: str) -> None:
    if fmt == "json":
        import json

        from lightsout.report.serialize import to_jsonable

        click.echo(json.dumps(to_jsonable(rows), indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        import csv

        from lightsout.report.serialize import EVENT_CSV_COLUMNS, event_csv_row

        writer = csv.writer(sys.stdout)
        writer.writerow(EVENT_CSV_COLUMNS)
        for event in rows:
            writer.writerow(event_csv_row(event))
        return
    table = Table(
        "start (UTC)",
        "end (UTC)",
        "scope",
        "entity",
        "kind",
        "level",
        "lowest",
        "signals",
        "affected",
        "conf.",
        "recurring",
    )
    for e in rows:
        signals = ", ".join(f"{v.signal.value}:{v.alerted_bins}" for v in e.evidence)
        recurring = (
            f"{e.schedule.start_local}-{e.schedule.end_local} {e.schedule.time_zone} x{e.schedule.days}"
            if e.schedule
            else ""
        )
        table.add_row(
            f"{e.start:%Y-%m-%d %H:%M} ±{e.start_uncertainty_s // 60}m",
            f"{e.end:%Y-%m-%d %H:%M}" if e.end else "ongoing",
            e.scope.value,
            Text(f"{e.entity_name} ({e.entity_id})"),
            e.kind.value,
            f"{e.mean_level_pct:.0f}%",
            f"{e.min_level_pct:.0f}%",
            signals,
            f"{e.affected_children}/{e.affected_of}" if e.affected_of else str(len(e.affected)),
            f"{e.confidence:.2f}",
            recurring,
        )
    console.print(table)
    console.print(f"{len(rows)} events")


@cli.command()
@click.option(
    "--truth",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("tests/ground_truth"),
    show_default=True,
    help="Directory of ground-truth case files (*.yaml).",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory the cases' data_file paths are relative to (default: ../shared/data or $LIGHTSOUT_DATA).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def evaluate(truth: Path, data: Path | None, fmt: str) -> None:
    """Run the detector on each ground-truth case and score it against the published reports."""
    import os

    from lightsout.detect.evaluate import evaluate_all

    data_dir = data or Path(os.environ.get("LIGHTSOUT_DATA", "../shared/data"))
    if not truth.is_dir():
        raise UserError(f"{truth}: no such directory of ground-truth cases")
    results = evaluate_all(truth, data_dir)
    if fmt == "json":
        import json

        from lightsout.report.serialize import to_jsonable

        payload = [{"case": r.case, "passed": r.passed, "checks": to_jsonable(r.checks)} for r in results]
        click.echo(json.dumps(payload, indent=2))
        return
    table = Table(
        "case",
        "check",
        "detected",
        "onset err (h)",
        "end err (h)",
        "lowest / bound (%)",
        "false alarms",
        "result",
        "detail",
    )
    for result in results:
        for c in result.checks:
            depth = (
                "-"
                if c.depth_pct is None
                else f"{c.depth_pct:g}"
                + (f" / {c.depth_bound_pct:g}" if c.depth_bound_pct is not None else "")
            )
            table.add_row(
                result.case,
                c.check,
                "-" if c.detected is None else ("yes" if c.detected else "no"),
                "-" if c.onset_error_h is None else f"{c.onset_error_h:+.2f}",
                "-" if c.end_error_h is None else f"{c.end_error_h:+.2f}",
                depth,
                str(c.false_alarms),
                "[green]pass[/]" if c.passed else "[red]FAIL[/]",
                c.detail,
            )
    console.print(table)
    checks = [c for r in results for c in r.checks]
    console.print(
        f"{sum(c.passed for c in checks)}/{len(checks)} checks passed; "
        f"{sum(c.false_alarms for c in checks)} false alarms"
    )


def _register_commands() -> None:
    """Commands that live beside the stage they drive."""
    from lightsout.api.commands import serve
    from lightsout.apps.commands import blocking
    from lightsout.notify.commands import feed, webhooks
    from lightsout.probe.commands import probe
    from lightsout.report.commands import report

    for command in (serve, report, feed, webhooks, blocking, probe):
        cli.add_command(command)


_register_commands()


def main() -> None:
    run(cli)


def run(command: click.Command) -> None:
    """Run a command the way users meet it: a user error is one line and exit status 1."""
    try:
        command.main(standalone_mode=False)
    except UserError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else 1)


if __name__ == "__main__":
    main()


__all__ = ["SeriesKey", "cli", "main"]
