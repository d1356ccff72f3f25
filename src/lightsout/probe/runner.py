"""Run the chosen tests, write their measurements as JSONL, and hand that file to the ingest.

The JSONL file is the evidence and the one way into the store: it goes through
:func:`lightsout.ingest.ingest_file` like any OONI file, so a probe run is stored atomically and
re-ingesting the same file adds nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from lightsout.errors import UserError
from lightsout.ingest import InputFormat, ingest_file
from lightsout.model import IngestReport
from lightsout.probe.archival import JsonObject
from lightsout.probe.config import Endpoint, ProbeConfig
from lightsout.probe.im import App, run_app
from lightsout.probe.netcheck import NetworkCheck, NetworkState, check_network
from lightsout.probe.steps import system_resolver
from lightsout.probe.web import run_web_connectivity
from lightsout.probe.whoami import PublicAddresses, discover_public_addresses
from lightsout.store import Store


def parse_apps(text: str | None) -> list[App]:
    """``"whatsapp,telegram"`` -> [App.WHATSAPP, App.TELEGRAM]; UserError for an unknown name."""
    if not text:
        return []
    apps: list[App] = []
    for name in (part.strip().lower() for part in text.split(",")):
        if not name:
            continue
        try:
            app = App(name)
        except ValueError:
            known = ", ".join(a.value for a in App)
            raise UserError(f"unknown app {name!r} (known: {known})") from None
        if app not in apps:
            apps.append(app)
    return apps


def read_urls(path: Path) -> list[str]:
    """URLs, one a line; blank lines and ``#`` comments ignored. UserError names a bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    urls: list[str] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"{path}: line {number}: not an http(s) URL: {text!r}")
        if text not in urls:
            urls.append(text)
    if not urls:
        raise UserError(f"{path}: no URL in the file")
    return urls


def iter_measurements(
    config: ProbeConfig,
    urls: list[str],
    apps: list[App],
    resolver: Endpoint | None = None,
    network: NetworkCheck | None = None,
    public: PublicAddresses | None = None,
) -> Iterator[JsonObject]:
    """One measurement per URL, then one per app, in order; each annotated with the network check
    (``network``, run here when not given: see :mod:`lightsout.probe.netcheck`) and with what the
    echoes said of the public address (``public``, asked here when not given; the addresses learnt
    are scrubbed: :mod:`lightsout.probe.whoami`)."""
    where = resolver or config.resolver or system_resolver()
    checked = network or check_network(config, where)
    learnt = public or learn_public_addresses(config, checked)
    config = with_public_addresses(config, learnt)
    notes = {**checked.annotations(), **learnt.annotations()}
    for url in urls:
        yield _annotated(run_web_connectivity(config, where, url), notes)
    for app in apps:
        yield _annotated(run_app(app, config, where), notes)


def learn_public_addresses(config: ProbeConfig, network: NetworkCheck) -> PublicAddresses:
    """Ask the echoes, unless the network is down (then every echo would only time out)."""
    if network.state is NetworkState.NETWORK_DOWN:
        return PublicAddresses((), skipped="the network is down")
    return discover_public_addresses(config)


def with_public_addresses(config: ProbeConfig, public: PublicAddresses) -> ProbeConfig:
    """``config`` whose known public addresses include the learnt ones (the scrubber reads them)."""
    known = tuple(dict.fromkeys((*config.public_address.addresses, *sorted(public.addresses))))
    return replace(config, public_address=replace(config.public_address, addresses=known))


def _annotated(measurement: JsonObject, notes: dict[str, str]) -> JsonObject:
    annotations = measurement.setdefault("annotations", {})
    annotations.update(notes)
    return measurement


def default_out() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(platformdirs.user_data_dir("lightsout")) / "probe" / f"probe-{stamp}.jsonl"


def write_jsonl(measurements: list[JsonObject], out: Path) -> None:
    """Write atomically: the file appears complete or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for measurement in measurements:
                stream.write(json.dumps(measurement, ensure_ascii=False, separators=(",", ":")) + "\n")
        os.replace(name, out)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def run_probe(
    config: ProbeConfig,
    urls: list[str],
    apps: list[App],
    out: Path,
    store: Store | None,
    on_measurement: Callable[[JsonObject], None] | None = None,
    on_network: Callable[[NetworkCheck], None] | None = None,
    on_public: Callable[[PublicAddresses], None] | None = None,
) -> tuple[list[JsonObject], IngestReport | None]:
    """Check the network, learn the public address, measure, write ``out`` and ingest it into
    ``store`` (when given)."""
    measurements: list[JsonObject] = []
    resolver = config.resolver or system_resolver()
    network = check_network(config, resolver)
    if on_network is not None:
        on_network(network)
    public = learn_public_addresses(config, network)
    if on_public is not None:
        on_public(public)
    for measurement in iter_measurements(config, urls, apps, resolver, network, public):
        measurements.append(measurement)
        if on_measurement is not None:
            on_measurement(measurement)
    write_jsonl(measurements, out)
    report = ingest_file(store, out, InputFormat.OONI) if store is not None else None
    return measurements, report
