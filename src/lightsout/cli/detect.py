"""Commands that judge and score: detect, watch, events, evaluate."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.table import Table
from rich.text import Text

from lightsout.cli.common import console, err_console, open_db
from lightsout.cli.params import db_option, parse_country, parse_window
from lightsout.model import Event, EventKind, ExternalEvent, Scope

if TYPE_CHECKING:
    from datetime import datetime

    from lightsout.apps.aggregate import BlockingEvent
    from lightsout.detect.evaluate import CaseResult
    from lightsout.inbox import InboxResult
    from lightsout.notify.webhooks import DeliveryReport
    from lightsout.store import StoreLocation


@click.command()
@click.option(
    "--since", default=None, help="Judge bins from this time (ISO 8601, UTC); earlier data warms up."
)
@click.option("--until", default=None, help="Judge bins before this time.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar of the series judged, on stderr (default: when stderr is a terminal).",
)
@db_option
def detect(since: str | None, until: str | None, progress: bool | None, db: StoreLocation | None) -> None:
    """Judge every stored signal over a time range (batch) and store its alerts."""
    from lightsout.detect.run import detect_batch

    start, end = parse_window(since, until)
    store = open_db(db, read_only=False)
    try:
        show = err_console.is_terminal if progress is None else progress
        with _series_progress(show) as advance:
            summary = detect_batch(store, start, end, progress=advance)
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


@contextmanager
def _series_progress(show: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar of series judged on stderr, or nothing (stdout stays the summary alone)."""
    if not show:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("judging series"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=err_console.is_terminal) as bar:
        task = bar.add_task("detect", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


@click.command()
@click.option(
    "--inbox",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory to ingest new files from before each round; files that cannot be read are moved "
    "to INBOX/quarantine/ with a .reason file and reported once.",
)
@click.option("--interval", type=click.FloatRange(0.1), default=60.0, help="Seconds between rounds.")
@click.option("--once", is_flag=True, help="Run one round and exit.")
@db_option
def watch(inbox: Path | None, interval: float, once: bool, db: StoreLocation | None) -> None:
    """Online detection: judge each new bin as it arrives, resuming from the state in the store.

    SIGTERM or Ctrl-C stop it after the file or round under way (each is one transaction, so a
    harder kill loses nothing either). Webhooks are delivered in the background: a slow or dead
    endpoint never delays judging.
    """
    import signal
    import threading

    from lightsout.detect.run import detect_online
    from lightsout.detect.service import data_ends, list_events
    from lightsout.inbox import Inbox

    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        err_console.print(f"{signal.Signals(signum).name}: stopping after the current step", highlight=False)
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    box = Inbox(inbox) if inbox is not None else None
    store = open_db(db, read_only=False)
    notifier = _Notifier(db)
    try:
        if box is not None:
            for result in box.recover():
                _print_inbox(result)
        seen = {e.event_id for e in list_events(store)}
        while not stopping.is_set():
            if box is not None:
                for result in box.round(store, stopping.is_set):
                    _print_inbox(result)
            if stopping.is_set():
                break
            summary = detect_online(store)
            events = list_events(store)
            new = [e for e in events if e.event_id not in seen]
            ends = data_ends(store.series(entity_ids={e.entity_id for e in new if e.end is None}))
            for event in new:
                console.print(f"new event: {_event_line(event, ends.get(event.entity_id))}", highlight=False)
            seen |= {e.event_id for e in events}
            notifier.submit(events)
            console.print(f"round: {summary.bins:,} new bins, {summary.alerts:,} alerted", style="dim")
            if once:
                break
            stopping.wait(interval)
    finally:
        # Stopping on a signal: deliveries under way get one attempt's time; after --once or an
        # error, what was handed over is delivered first (bounded by the retry policy).
        notifier.close(10.0 if stopping.is_set() else None)
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_inbox(result: InboxResult) -> None:
    if result.quarantined:
        where = f" (moved to {result.moved_to})" if result.moved_to else " (left in place: cannot move it)"
        err_console.print(
            f"[red]quarantined[/] {result.path.name}: {result.error}{where}", highlight=False, soft_wrap=True
        )
    elif result.report is not None and not result.report.already_ingested:
        report = result.report
        skipped = f"; {len(report.skipped):,} skipped" if report.skipped else ""
        line = f"ingested {result.path.name}: {report.points_written:,} points{skipped}"
        console.print(line, highlight=False)


class _Notifier:
    """Webhook delivery for `watch`, on its own thread (`lightsout webhooks` configures it)."""

    def __init__(self, db: StoreLocation | None) -> None:
        from lightsout.notify.webhooks import BackgroundDelivery, default_registry_path
        from lightsout.store import default_location, sidecar_base

        self._delivery: BackgroundDelivery | None = None
        path = default_registry_path(sidecar_base(db or default_location()))
        if path.exists():
            self._delivery = BackgroundDelivery(path, on_report=self._report)

    @staticmethod
    def _report(report: DeliveryReport) -> None:
        if report.delivered or report.failed:
            console.print(
                f"webhooks: {len(report.delivered)} delivered, {len(report.failed)} failed", style="dim"
            )

    def submit(self, events: list[Event]) -> None:
        if self._delivery is not None:
            self._delivery.submit(events)

    def close(self, wait_s: float | None = None) -> None:
        if self._delivery is not None:
            self._delivery.close(wait_s)


def _event_line(event: Event, data_end: datetime | None) -> str:
    """``watch``'s line for a new event; an open end is "ongoing" only when the entity's data
    (ending at ``data_end``) are live, as in the events table, the feed and the dashboard."""
    from lightsout.report.words import open_end

    end = f"{event.end:%Y-%m-%d %H:%M} UTC" if event.end else open_end(data_end)
    return (
        f"{event.scope.value} {event.kind.value} in {event.entity_name} ({event.entity_id}) "
        f"{event.start:%Y-%m-%d %H:%M} UTC - {end}, level {event.mean_level_pct:.0f}% of ordinary "
        f"(lowest {event.min_level_pct:.0f}%)"
    )


@click.command()
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
@click.option(
    "--external",
    is_flag=True,
    help="Only the outages other observatories reported (IODA, Cloudflare Radar; `lightsout ingest` of "
    "their answers or the live connectors), in table, json or csv. They are never mixed into "
    "Lightsout's events; the table view lists them in a section of their own after them.",
)
@db_option
def events(
    country: str | None,
    scope: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
    with_blocking: bool,
    external: bool,
    db: StoreLocation | None,
) -> None:
    """List outage events: scope, start/end, depth, signals, affected sub-entities, confidence;
    then app and website blocking events (network scope: measured per AS) with their statements.

    Without --with-blocking, json prints only the list of outage events and csv only their rows.
    --since/--until/--country select blocking events as they select outages.
    """
    from lightsout.api.blocking import select_blocking
    from lightsout.apps.aggregate import blocking_events
    from lightsout.detect.service import EventFilter, data_ends, list_events
    from lightsout.report.external import select_external

    query = EventFilter(
        parse_country(country), Scope(scope) if scope else None, *parse_window(since, until)
    )
    store = open_db(db)
    try:
        others = select_external(store, query.country, query.scope, query.since, query.until)
        if external:
            _print_external(others, fmt)
            return
        rows = list_events(store, query)
        ends = data_ends(store.series(entity_ids={e.entity_id for e in rows if e.end is None}))
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
    if fmt == "table":
        _print_events(rows, fmt, ends)
        _print_blocking(blocked or [])
        _print_external(others, fmt, section=True)
    elif blocked is None:
        _print_events(rows, fmt, ends)
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


def _print_blocking(blocked: list[BlockingEvent]) -> None:
    if not blocked:
        return
    from lightsout.cli.blocking import safe_text
    from lightsout.report.words import open_end

    table = Table("since (UTC)", "until (UTC)", "network", "statement (quoting an untrusted target)")
    for b in blocked:
        until = f"{b.end:%Y-%m-%d %H:%M}" if b.end else open_end(b.data_end)
        where = (f"AS{b.asn}" if b.asn else "AS?") + (f" {b.country}" if b.country else "")
        table.add_row(
            f"{b.start:%Y-%m-%d %H:%M}", until, where, safe_text(b.statement(), 400)
        )
    console.print(table)
    console.print(f"{len(blocked)} blocking events (`lightsout blocking` for every verdict)")


def _print_external(rows: list[ExternalEvent], fmt: str, section: bool = False) -> None:
    """Other observatories' events, apart from Lightsout's (``section``: after them, only if any)."""
    from lightsout.report.external import EXTERNAL_CSV_COLUMNS, external_csv_row, external_line

    if fmt == "json":
        import json

        from lightsout.report.serialize import to_jsonable

        # ASCII-escaped: names, descriptions and links come from another service.
        click.echo(json.dumps(to_jsonable(rows), indent=2, ensure_ascii=True))
        return
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(EXTERNAL_CSV_COLUMNS)
        for event in rows:
            writer.writerow(external_csv_row(event))
        return
    if section and not rows:
        return
    from lightsout.apps.finding import clean

    # One line per event, then what the source says of it: a table of eight columns wraps every
    # cell to nothing in a terminal; lines stay readable and greppable.
    console.print("[bold]Reported by other observatories[/] (their judgement, not Lightsout's measurement)")
    for e in rows:
        console.print(clean(external_line(e), 400), highlight=False, soft_wrap=True, markup=False)
        parts = (e.scope.value if e.scope else "", e.description or "", e.link or "")
        said = " · ".join(clean(t, 300) for t in parts if t)
        if said:
            console.print(f"    {said}", highlight=False, soft_wrap=True, markup=False, style="dim")
    console.print(f"{len(rows)} external events")


def _print_events(rows: list[Event], fmt: str, data_until: dict[str, datetime]) -> None:
    """``data_until``: where the data of each open event's entity end (an open end is "ongoing"
    only when they are live)."""
    from lightsout.report.words import open_end

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
    # At most 100 columns: the id (what `lightsout report` takes), time, place, depth; the signals and
    # schedules are in --format csv/json.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("event id", no_wrap=True, min_width=16)
    for name in ("start (UTC)", "end (UTC)", "entity", "kind", "level", "aff.", "conf."):
        table.add_column(name, no_wrap=name != "entity", overflow="ellipsis")
    for e in rows:
        kind = "outage" if e.kind == EventKind.OUTAGE else "degr."
        if e.within_noise and e.not_counted and not e.affected:  # every sub-entity within its own swing
            kind = "dip"
        kind += f" x{e.schedule.days}" if e.schedule is not None else ""
        table.add_row(
            e.event_id,
            f"{e.start:%Y-%m-%d %H:%M}",
            (f"{e.end:%m-%d %H:%M}" if e.end.year == e.start.year else f"{e.end:%Y-%m-%d %H:%M}")
            if e.end
            else open_end(data_until.get(e.entity_id)),
            Text(_short(e.entity_name, 15) + f" ({e.scope.value[:3]})"),
            kind,
            f"{e.mean_level_pct:.0f}/{e.min_level_pct:.0f}%",
            f"{e.affected_children}/{e.affected_of}" if e.affected_of else str(len(e.affected)),
            f"{e.confidence:.2f}",
        )
    console.print(table)
    console.print(
        f"{len(rows)} events; level = mean/lowest % of ordinary; `lightsout report EVENT_ID` writes one's "
        "statement and chart; --format csv for signals and schedules",
        highlight=False,
    )


REPO = Path(__file__).resolve().parents[3]
BUILT_IN_TRUTH = REPO / "tests" / "ground_truth"


def _default_data() -> Path:
    import os

    env = os.environ.get("LIGHTSOUT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@click.command()
@click.option(
    "--truth",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="A directory of ground-truth cases (*.yaml; default: the built-in cases, tests/ground_truth) "
    "or a CSV of labelled windows: entity,start,end[,scope][,recurring] (docs/detection.md).",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory the cases' data_file paths are relative to (default: $LIGHTSOUT_DATA or the "
    "repository's ../shared/data).",
)
@click.option(
    "--input",
    "inputs",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    multiple=True,
    help="With a CSV: data files to ingest into a scratch store and judge (repeatable); without "
    "it, the CSV is scored against the store (--db), which is only read.",
)
@click.option(
    "--onset-tolerance",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="With a CSV: minutes a detected onset may be from a labelled start.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@db_option
def evaluate(
    truth: Path | None,
    data: Path | None,
    inputs: tuple[Path, ...],
    onset_tolerance: float,
    fmt: str,
    db: StoreLocation | None,
) -> None:
    """Score the detector against ground truth: the built-in cases from published reports, or a
    CSV of labelled windows. Prints every check, and per signal and method (IODA's thresholds,
    Cloudflare Radar's forecast, Lightsout's seasonal CUSUM) the windows detected and missed, the
    events outside them and the onset errors. Exit status 1 when a check fails."""
    from lightsout.detect.evaluate import evaluate_all, evaluate_truth_file

    truth = truth or BUILT_IN_TRUTH
    if truth.is_dir():
        results = evaluate_all(truth, data or _default_data())
    else:
        import tempfile

        from lightsout.detect.run import detect_batch
        from lightsout.ingest import ingest_file
        from lightsout.store import open_store

        if inputs:
            with tempfile.TemporaryDirectory(prefix="lightsout-eval-") as tmp:
                store = open_store(Path(tmp) / "eval.duckdb")
                try:
                    for path in inputs:
                        ingest_file(store, path)
                    detect_batch(store)
                    results = [evaluate_truth_file(truth, store, onset_tolerance)]
                finally:
                    store.close()
        else:
            store = open_db(db)
            try:
                results = [evaluate_truth_file(truth, store, onset_tolerance)]
            finally:
                store.close()
    _print_evaluation(results, fmt)
    if not all(r.passed for r in results):
        sys.exit(1)


def _print_evaluation(results: list[CaseResult], fmt: str) -> None:
    if fmt == "json":
        import json

        from lightsout.report.serialize import to_jsonable

        payload = [
            {
                "case": r.case,
                "passed": r.passed,
                "checks": to_jsonable(r.checks),
                "methods": to_jsonable(r.method_scores),
            }
            for r in results
        ]
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
                Text(c.detail),
            )
    console.print(table)
    scores = [m for r in results for m in r.method_scores]
    if scores:
        methods = Table(
            "case", "entity", "signal", "method", "detected", "missed", "false events",
            "onset err (min): median", "max |err|", title="per signal and method",
        )  # fmt: skip
        for m in scores:
            errors = sorted(m.score.onset_errors_min)
            methods.add_row(
                m.case,
                m.entity_id,
                m.series,
                m.method,
                f"{m.score.detected}/{m.score.windows}",
                str(m.score.missed),
                str(m.score.false_events),
                f"{errors[len(errors) // 2]:+g}" if errors else "-",
                f"{m.score.max_abs_onset_error_min:g}" if errors else "-",
            )
        console.print(methods)
    checks = [c for r in results for c in r.checks]
    console.print(
        f"{sum(c.passed for c in checks)}/{len(checks)} checks passed; "
        f"{sum(c.false_alarms for c in checks)} false alarms"
    )


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "\u2026"
