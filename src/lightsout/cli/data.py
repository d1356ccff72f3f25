"""Commands that put data in and look at it: ingest, entities, signals, show, measurements."""

from __future__ import annotations

import functools
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np
from rich import box
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from lightsout.cli.common import advance, console, err_console, open_db, resolve_entity
from lightsout.cli.params import db_option, parse_country, parse_window
from lightsout.errors import UserError
from lightsout.ingest import InputFormat, guess_format_or_none, ingest_file
from lightsout.model import Entity, EntityKind, IngestReport, SeriesSummary, SignalKind
from lightsout.report.describe import describe, sparkline
from lightsout.store import MeasurementFilter, TimeSeries

if TYPE_CHECKING:
    from lightsout.store import StoreLocation

SIGNAL_PREFERENCE = [
    SignalKind.CONNECTIVITY_INDEX,
    SignalKind.RESPONSIVE_ADDRESSES,
    SignalKind.PROBING_UP_SLASH24S,
    SignalKind.LATENCY_INDEX,
    SignalKind.BGP_SLASH24S,
    SignalKind.BGP_PREFIXES,
    SignalKind.MEDIAN_RTT_MS,
]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in InputFormat]),
    default="auto",
    help="Input format (default: guessed from the name and the first bytes).",
)
@click.option(
    "--entity",
    default=None,
    help="Entity of an IODA dashboard CSV export whose file name does not say it (IR, AS12880, IR-23).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes reading MRT files, one collector each (a collector's files are read in time order).",
)
@db_option
def ingest(
    paths: tuple[Path, ...], fmt: str, entity: str | None, jobs: int, db: StoreLocation | None
) -> None:
    """Ingest Monash IP Observatory CSVs, BGP MRT files, OONI measurements (JSON/JSONL), IODA
    signals/raw responses (JSON) or IODA dashboard CSV exports.

    Each file is written atomically; a file already in the store is not written again.
    """
    store = open_db(db, read_only=False)
    failed = 0
    try:
        if jobs > 1 and fmt in (InputFormat.AUTO.value, InputFormat.MRT.value):
            mrt = [p for p in paths if guess_format_or_none(p) is InputFormat.MRT]
            if mrt:
                from lightsout.ingest_parallel import ingest_mrt_files

                for result in ingest_mrt_files(store, mrt, jobs):
                    if isinstance(result, UserError):
                        err_console.print(f"[red]error:[/] {result}", highlight=False, soft_wrap=True)
                        failed += 1
                    else:
                        _print_report(Path(result.path), result)
                paths = tuple(p for p in paths if p not in set(mrt))
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
                        functools.partial(advance, bar, task),
                        entity=entity,
                    )
            except UserError as exc:
                err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
                failed += 1
                continue
            _print_report(path, report)
    finally:
        store.close()
    if failed:
        sys.exit(1)


def _print_report(path: Path, report: IngestReport) -> None:
    if report.already_ingested:
        console.print(f"{path}: already in the store (sha256 {report.sha256[:12]}), nothing added")
        return
    console.print(
        f"{path}: {report.format}: {report.records_read:,} records read, "
        f"{report.points_written:,} signal points, {report.measurements_written:,} measurements, "
        f"{report.entities_written:,} entities"
        + (
            f", {report.external_events_written:,} external events"
            if report.external_events_written
            else ""
        )
        + f"; {len(report.skipped):,} skipped",
        highlight=False,
        soft_wrap=True,
    )
    for reason, count in sorted(report.skip_reasons().items(), key=lambda kv: -kv[1]):
        first = next(s for s in report.skipped if s.reason == reason)
        console.print(f"  skipped {count:,}: {reason} (first at {first.position})", highlight=False)
    for note in report.notes:
        console.print(f"  note: {note}", highlight=False)


@click.command()
@click.option("--kind", type=click.Choice([k.value for k in EntityKind]), default=None)
@click.option("--country", default=None, help="ISO 3166-1 code (alpha-2 or alpha-3).")
@db_option
def entities(kind: str | None, country: str | None, db: StoreLocation | None) -> None:
    """List stored countries, regions, counties and networks."""
    store = open_db(db)
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


@click.command()
@click.argument("entity", required=False)
@click.option("--country", default=None, help="Only series of entities in this country.")
@db_option
def signals(entity: str | None, country: str | None, db: StoreLocation | None) -> None:
    """List stored signal series: entity, signal, source, bin size, span."""
    store = open_db(db)
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
    if not summaries:
        return None

    def richness(s: SeriesSummary) -> tuple[int, int, int]:
        # the most recent data first (by day), then the most points, then the preferred signal
        pref = SIGNAL_PREFERENCE.index(s.key.signal) if s.key.signal in SIGNAL_PREFERENCE else 99
        return (-int(s.end.timestamp() // 86_400), -s.points, pref)

    return min(summaries, key=richness)


@click.command()
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
    entity: str,
    signal: str | None,
    since: str | None,
    until: str | None,
    chart: Path | None,
    db: StoreLocation | None,
) -> None:
    """Show an entity's signal and, for each region/county/network inside it, where it fell."""
    start, end = parse_window(since, until)
    store = open_db(db)
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
        if chart.parent.exists() and not chart.parent.is_dir():
            raise UserError(f"{chart.parent}: not a directory")
        chart.parent.mkdir(parents=True, exist_ok=True)
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


def number(value: float) -> str:
    """A value as people read it: 3,490 and 0.25, never 3.49e+03."""
    if not np.isfinite(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _years(rows: list[tuple[Entity, TimeSeries]]) -> str:
    times = [int(t) for _, sr in rows for t in (sr.times_s[:1].tolist() + sr.times_s[-1:].tolist())]
    years = sorted({datetime.fromtimestamp(t, UTC).year for t in times})
    if len(years) > 1:
        return f"{years[0]}-{years[-1]}"
    return str(years[0]) if years else ""


def _day_time(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%m-%d %H:%M")


def pct_or_dash(value: float) -> str:
    """A whole percentage, or "-" where there is none (no ordinary level): never "nan%"."""
    return f"{value:.0f}%" if np.isfinite(value) else "-"


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
        f"bins of {key.bin_s} s, times in UTC ({_years(rows)})"
    )
    rises = key.signal in (SignalKind.LATENCY_INDEX, SignalKind.MEDIAN_RTT_MS)
    console.print(
        "ordinary = upper quartile of the window; fell = first bin below half of it"
        + ("; this is latency: up is worse, a fall is an improvement" if rises else ""),
        style="dim",
    )
    # At most 100 columns: the name (the id is in `lightsout entities`), a 24-column sparkline, levels.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("name", overflow="ellipsis", no_wrap=True, min_width=22, max_width=22)
    table.add_column("series (window)", no_wrap=True)
    for name in ("ordinary", "fell", "lowest", "lowest at", "latest"):
        table.add_column(name, no_wrap=True)
    for entity, series in rows:
        fall = describe(series)
        if fall is None:
            table.add_row(Text(entity.name), "no data", "-", "-", "-", "-", "-")
            continue
        table.add_row(
            Text(entity.name),
            sparkline(series.values[np.isfinite(series.values)], width=18, top=fall.ordinary),
            number(fall.ordinary),
            _day_time(fall.fell_at_s),
            f"{number(fall.minimum)} ({pct_or_dash(fall.minimum_pct)})",
            _day_time(fall.minimum_at_s),
            f"{number(fall.latest)} ({pct_or_dash(fall.latest_pct)})",
        )
    console.print(table)
    fell = [e for e, s in children if _fell(s) is not None]
    if children:
        console.print(f"{len(fell)} of {len(children)} sub-entities fell below half their ordinary level")


@click.command()
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
    db: StoreLocation | None,
) -> None:
    """List stored OONI measurements by country, network, test and time."""
    query = MeasurementFilter(
        parse_country(country), asn, test_name, *parse_window(since, until), limit
    )
    store = open_db(db)
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
