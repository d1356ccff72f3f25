"""``lightsout probe``: measure websites and apps from this network, OONI-style, and store the result.

Registered in the CLI group by ``cli.add_command(probe)``; also runs alone as
``python -m lightsout.probe``. What each measurement says is printed as Lightsout's verdict
(:func:`lightsout.apps.verdict.analyse`); text that comes from the network (page titles in a
reason) is cleaned of control characters and never read as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from lightsout.errors import UserError
from lightsout.probe.archival import JsonObject, as_measurement
from lightsout.probe.config import load_config, parse_endpoint
from lightsout.probe.netcheck import NetworkCheck
from lightsout.probe.runner import default_out, parse_apps, read_urls, run_probe
from lightsout.probe.whoami import PublicAddresses

if TYPE_CHECKING:
    from lightsout.store import StoreLocation


def _describe(measurement: JsonObject) -> str:
    from lightsout.apps.finding import clean
    from lightsout.apps.verdict import analyse

    verdict = analyse(as_measurement(measurement))
    how = f" ({verdict.method.value})" if verdict.method is not None else ""
    target = clean(verdict.target, 100)
    return f"{measurement['test_name']} {target}: {verdict.status.value}{how}: {clean(verdict.reason, 300)}"


def _say_network(check: NetworkCheck) -> None:
    if check.ok:
        click.echo(f"network check: ok: {check.reason}")
    else:
        click.echo(f"network check: {check.reason}; a failure below is inconclusive, not blocking")


def _say_public(public: PublicAddresses) -> None:
    click.echo(f"public address: {public.reason}")


@click.command("probe")
@click.option(
    "--apps",
    "apps_text",
    default=None,
    metavar="LIST",
    help="Apps to test, comma-separated: whatsapp, telegram, signal.",
)
@click.option(
    "--urls",
    "urls_file",
    type=click.Path(path_type=Path),
    default=None,
    help="File of URLs to test with Web Connectivity, one a line (# comments).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="JSONL file for the measurements (default: probe/probe-<UTC time>.jsonl in the user data dir).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML configuration: resolver, timeouts, country/network, endpoints, controls (docs/probe.md).",
)
@click.option(
    "--resolver", default=None, metavar="IP[:PORT]", help="DNS resolver (overrides the configuration)."
)
@click.option("--no-store", is_flag=True, help="Only write the JSONL file; do not ingest it into the store.")
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=None,
    envvar="LIGHTSOUT_DB",
    help="Store file (default: lightsout.duckdb in the user data directory; env LIGHTSOUT_DB).",
)
def probe(
    apps_text: str | None,
    urls_file: Path | None,
    out: Path | None,
    config_file: Path | None,
    resolver: str | None,
    no_store: bool,
    db: StoreLocation | None,
) -> None:
    """Test websites (Web Connectivity) and apps (WhatsApp, Telegram, Signal) from this network.

    Writes OONI-format measurements to a JSONL file and ingests it into the store. The probe's
    own IP address is never recorded (probe_ip is 127.0.0.1); country and network come only from
    the configuration (default ZZ / AS0).
    """
    from dataclasses import replace

    config = load_config(config_file)
    if resolver is not None:
        try:
            config = replace(config, resolver=parse_endpoint(resolver))
        except ValueError as exc:
            raise UserError(f"--resolver: {exc}") from None
    apps = parse_apps(apps_text)
    urls = read_urls(urls_file) if urls_file is not None else []
    if not apps and not urls:
        raise UserError("nothing to test: give --urls FILE and/or --apps whatsapp,telegram,signal")
    target = out or default_out()
    store = None
    if not no_store:
        from lightsout.store import open_store

        store = open_store(db, read_only=False)
    try:
        measurements, report = run_probe(
            config,
            urls,
            apps,
            target,
            store,
            on_measurement=lambda m: click.echo(_describe(m)),
            on_network=_say_network,
            on_public=_say_public,
        )
    finally:
        if store is not None:
            store.close()
    click.echo(f"{target}: {len(measurements)} measurement(s) written")
    if report is not None:
        click.echo(f"stored: {report.measurements_written} measurement(s) ({report.path})")
