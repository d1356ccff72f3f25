"""``lightsout feed`` and ``lightsout webhooks add|list|remove|deliver|log``.

The command objects are registered on the main group by ``lightsout.cli``; user mistakes are
:class:`~lightsout.errors.UserError`, which the CLI prints as one line with exit status 1.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lightsout.cli.params import db_option, parse_country, parse_time
from lightsout.detect.service import EventFilter, data_ends, list_events
from lightsout.errors import UserError
from lightsout.notify.atom import make_atom_feed
from lightsout.notify.webhooks import RetryPolicy, WebhookRegistry, default_registry_path, deliver_new_events
from lightsout.report.context import events_with_own_alerts
from lightsout.store import StoreLocation, default_location, open_store, sidecar_base

F = TypeVar("F", bound=Callable[..., Any])




def _registry_option(func: F) -> F:
    return click.option(
        "--registry",
        type=click.Path(path_type=Path),
        default=None,
        envvar="LIGHTSOUT_WEBHOOKS",
        help="Webhook registry file (default: the store's path + .webhooks.sqlite3; env LIGHTSOUT_WEBHOOKS).",
    )(func)






def _open_registry(registry: Path | None, db: StoreLocation | None) -> WebhookRegistry:
    return WebhookRegistry(registry or default_registry_path(sidecar_base(db or default_location())))


@click.command()
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, allow_dash=True),
    default=Path("-"),
    show_default=True,
    help="File to write, or - for standard output.",
)
@click.option(
    "--base-url",
    default="http://127.0.0.1:8000",
    envvar="LIGHTSOUT_BASE_URL",
    show_default=True,
    help="Where the dashboard is served: entry links are BASE_URL/event/ID (env LIGHTSOUT_BASE_URL).",
)
@click.option("--country", default=None, help="Only events in this country (ISO 3166-1).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@db_option
def feed(out: Path, base_url: str, country: str | None, limit: int, db: StoreLocation | None) -> None:
    """Write an Atom feed of events (newest first)."""
    store = open_store(db, read_only=True)
    try:
        events = list_events(store, EventFilter(country=parse_country(country)))
        entities = {e.entity_id: e for e in store.entities()}
        own = events_with_own_alerts(store, events)
        ends = data_ends(store.series(entity_ids={e.entity_id for e in events if e.end is None}))
    finally:
        store.close()
    body = make_atom_feed(events, base_url, entities, limit=limit, own_alerts=own, data_until=ends)
    if str(out) == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return
    if out.is_dir():
        raise UserError(f"{out}: is a directory")
    out.write_bytes(body)
    click.echo(f"{min(len(events), limit)} events written to {out}")


@click.group()
def webhooks() -> None:
    """Configure webhook endpoints and deliver new events to them (signed, retried, logged)."""


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--secret",
    default=None,
    envvar="LIGHTSOUT_WEBHOOK_SECRET",
    help="Shared secret for the signature (default: a random one, printed once).",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow a loopback, link-local, private or reserved target (refused by default: a webhook "
    "must not be a way into the observatory's own network).",
)
@_registry_option
@db_option
def add(
    url: str, secret: str | None, allow_private: bool, registry: Path | None, db: StoreLocation | None
) -> None:
    """Add an endpoint: every event not yet delivered to it will be POSTed there, signed
    (docs/security.md says how a receiver verifies a delivery)."""
    generated = secret is None
    secret = secret or secrets.token_hex(32)
    reg = _open_registry(registry, db)
    try:
        hook = reg.add(url, secret, allow_private=allow_private)
    finally:
        reg.close()
    click.echo(f"webhook {hook.webhook_id} added: {hook.url}")
    if generated:
        click.echo(f"secret (shown once): {secret}")


@webhooks.command("list")
@_registry_option
@db_option
def list_(registry: Path | None, db: StoreLocation | None) -> None:
    """List endpoints with their deliveries so far (secrets are not shown)."""
    reg = _open_registry(registry, db)
    try:
        hooks = reg.webhooks()
        rows = []
        for hook in hooks:
            deliveries = reg.deliveries(hook.webhook_id)
            done = sum(d.status == "delivered" for d in deliveries)
            failed = sum(d.status == "failed" for d in deliveries)
            attempts = reg.attempts(hook.webhook_id)
            last = f"{attempts[-1].at:%Y-%m-%d %H:%M:%S}" if attempts else "-"
            rows.append(
                f"{hook.webhook_id}\t{hook.url}\t{done} delivered\t{failed} failed\tlast attempt {last}"
            )
    finally:
        reg.close()
    for row in rows:
        click.echo(row)
    click.echo(f"{len(rows)} webhooks")


@webhooks.command("remove")
@click.argument("webhook")
@_registry_option
@db_option
def remove(webhook: str, registry: Path | None, db: StoreLocation | None) -> None:
    """Remove an endpoint (by id or URL) with its delivery log."""
    reg = _open_registry(registry, db)
    try:
        hook = reg.remove(webhook)
    finally:
        reg.close()
    click.echo(f"webhook {hook.webhook_id} removed: {hook.url}")


@webhooks.command("deliver")
@click.option("--since", default=None, help="Only events going on at or after this time (ISO 8601).")
@click.option("--country", default=None, help="Only events in this country (ISO 3166-1).")
@click.option("--max-attempts", type=click.IntRange(1, 10), default=5, show_default=True)
@click.option(
    "--base-delay",
    type=click.FloatRange(0, 600),
    default=1.0,
    show_default=True,
    help="Seconds before the first retry; doubled after each failure.",
)
@click.option(
    "--max-delay",
    type=click.FloatRange(0, 600),
    default=60.0,
    show_default=True,
    help="Longest wait between two attempts, in seconds.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 300),
    default=10.0,
    show_default=True,
    help="Seconds one attempt may take in all (connect, send, answer).",
)
@_registry_option
@db_option
def deliver(
    since: str | None,
    country: str | None,
    max_attempts: int,
    base_delay: float,
    max_delay: float,
    timeout: float,
    registry: Path | None,
    db: StoreLocation | None,
) -> None:
    """POST every event not yet delivered to each endpoint; exit status 1 if any delivery failed."""
    policy = RetryPolicy(max_attempts, base_delay, 2.0, max(base_delay, max_delay), timeout)
    store = open_store(db, read_only=True)
    try:
        events = list_events(store, EventFilter(country=parse_country(country), since=parse_time(since)))
    finally:
        store.close()
    reg = _open_registry(registry, db)
    try:
        report = deliver_new_events(events, reg, policy)
    finally:
        reg.close()
    click.echo(
        f"{len(report.delivered)} delivered, {len(report.failed)} failed ({report.attempts} attempts); "
        f"{report.already} already delivered"
    )
    for webhook_id, event_id in report.failed:
        click.echo(
            f"  webhook {webhook_id}: {event_id} failed; it and the endpoint's later events wait for "
            "the next run"
        )
    if report.failed:
        sys.exit(1)


@webhooks.command("log")
@click.option("--webhook", "webhook_id", type=int, default=None, help="Only this endpoint (id).")
@click.option("--event", "event_id", default=None, help="Only this event id.")
@_registry_option
@db_option
def log(
    webhook_id: int | None, event_id: str | None, registry: Path | None, db: StoreLocation | None
) -> None:
    """Show the delivery log: every attempt with its time, HTTP status or error, and duration."""
    reg = _open_registry(registry, db)
    try:
        attempts = reg.attempts(webhook_id, event_id)
    finally:
        reg.close()
    for a in attempts:
        outcome = str(a.http_status) if a.http_status is not None else f"error {a.error}"
        click.echo(
            f"{a.at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f"\twebhook {a.webhook_id}\t{a.event_id}\t"
            f"attempt {a.attempt}\t{outcome}\t{a.duration_ms} ms"
        )
    click.echo(f"{len(attempts)} attempts")
