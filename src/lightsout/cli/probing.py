"""``lightsout probing``: our own Trinocular-style active probing (docs/probing.md).

    lightsout probing hitlist  --state DIR (--prefixes FILE | --db STORE) [--country CC] [--asn N]
    lightsout probing discover --state DIR            # E(b) by census of .1-.254, then A(b)
    lightsout probing show     --state DIR [--by country|region|network]
    lightsout probing run      --state DIR --db STORE [--round-s 660] [--rounds N]
    lightsout probing status   --state DIR            # the last rounds, gaps included

Everything the prober knows lives in ``--state DIR`` (hitlist, beliefs, rounds log); the signals go
into the store. ``--lab`` is for the test lab only: it allows the test ranges (198.18.0.0/15,
100.64.0.0/10) and nothing else, and rounds shorter than Trinocular's 11 minutes.
"""

from __future__ import annotations

import ipaddress
import signal
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from lightsout.cli.common import console
from lightsout.cli.params import db_option
from lightsout.errors import UserError

if TYPE_CHECKING:
    from lightsout.sources.probing.prober import ProbeParams, RoundResult
    from lightsout.sources.probing.safety import DoNotProbe
    from lightsout.store import StoreLocation

MAX_RATE_PPS = 10_000  # outside the lab: a prober faster than this is not a good citizen
DEFAULT_CONTROLS = ("1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222")  # four anycast networks


def _state_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--state",
        "state_dir",
        required=True,
        type=click.Path(path_type=Path, file_okay=False),
        help="The prober's directory: hitlist, beliefs, rounds log.",
    )(func)


def _lab_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--lab", is_flag=True, help="Test lab only: probe nothing but 198.18.0.0/15 and 100.64.0.0/10."
    )(func)


def _dnp(lab: bool, files: tuple[Path, ...]) -> DoNotProbe:
    from lightsout.sources.probing.safety import DoNotProbe, read_prefix_file

    extra = [p for f in files for p in read_prefix_file(f)]
    return DoNotProbe.build(extra, lab=lab)


def _params(
    rate: float, timeout: float, controls: tuple[str, ...], lab: bool, dnp: DoNotProbe, opt_out_url: str
) -> ProbeParams:
    from lightsout.sources.probing.prober import ProbeParams

    if rate <= 0 or (rate > MAX_RATE_PPS and not lab):
        raise UserError(f"--rate must be in (0, {MAX_RATE_PPS}] probes/s outside the lab, got {rate:g}")
    addresses = []
    for text in controls or (() if lab else DEFAULT_CONTROLS):
        try:
            address = int(ipaddress.IPv4Address(text))
        except ValueError:
            raise UserError(f"--control: not an IPv4 address: {text!r}") from None
        if lab and not dnp.allows_address(address):
            raise UserError(f"--control {text}: outside the lab's ranges (--lab probes nothing else)")
        addresses.append(address)
    return ProbeParams(rate_pps=rate, timeout_s=timeout, controls=tuple(addresses), opt_out_url=opt_out_url)


def _socket(kind: str) -> object:
    from lightsout.sources.probing.icmp import IcmpUnavailable, open_socket

    try:
        return open_socket(kind)
    except IcmpUnavailable as exc:
        raise UserError(str(exc)) from None


_rate = click.option(
    "--rate", type=float, default=2000.0, show_default=True, help="Global probes per second."
)
_timeout = click.option(
    "--timeout", type=float, default=3.0, show_default=True, help="Seconds a probe waits for its reply."
)
_socket_kind = click.option(
    "--socket",
    "socket_kind",
    type=click.Choice(["auto", "raw", "datagram"]),
    default="auto",
    show_default=True,
    help="raw needs root; datagram needs net.ipv4.ping_group_range to include your group.",
)
_opt_out = click.option(
    "--opt-out-url",
    default=None,
    help="The URL every probe's payload names for opting out (default: the project's docs).",
)


_dnp_files = click.option(
    "--do-not-probe",
    "dnp_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="File of prefixes never to probe (repeatable); bogons are always left out.",
)


@click.group("probing")
def probing() -> None:
    """Active probing of /24 blocks, Trinocular-style: hitlist, discovery, rounds, status."""


@probing.command("hitlist")
@_state_option
@click.option("--prefixes", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="prefix[,asn[,country[,region]]] per line. Default: the store's BGP tables.")  # fmt: skip
@db_option
@click.option("--country", "countries", multiple=True, help="Keep blocks of this country (repeatable).")
@click.option("--asn", "asns", multiple=True, type=int, help="Keep blocks of this origin AS (repeatable).")
@click.option("--census", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Responsive addresses (ISI census), one a line: E(b) without discovery.")  # fmt: skip
@_dnp_files
@_lab_option
def hitlist_command(
    state_dir: Path,
    prefixes: Path | None,
    db: StoreLocation | None,
    countries: tuple[str, ...],
    asns: tuple[int, ...],
    census: Path | None,
    dnp_files: tuple[Path, ...],
    lab: bool,
) -> None:
    """Build the hitlist: the /24 blocks routed to a country, AS or prefix list."""
    from lightsout.cli.params import parse_country
    from lightsout.sources.probing.hitlist import (
        build_hitlist,
        read_address_file,
        read_prefix_rows,
        rows_from_store,
    )
    from lightsout.sources.probing.rounds import HITLIST_FILE
    from lightsout.store import open_store

    if prefixes is not None:
        rows = read_prefix_rows(prefixes)
    else:
        store = open_store(db, read_only=True)
        try:
            rows = rows_from_store(store)
        finally:
            store.close()
    wanted = {code for c in countries if (code := parse_country(c))} or None
    hitlist, excluded = build_hitlist(
        rows, _dnp(lab, dnp_files), wanted, set(asns) or None, geolocate=not lab
    )
    if not len(hitlist):
        raise UserError("no /24 block left: check --country / --asn and the do-not-probe list")
    if census is not None:
        hitlist = hitlist.with_census(read_address_file(census))
    hitlist.save(state_dir / HITLIST_FILE)
    console.print(f"{len(hitlist):,} /24 blocks in {state_dir / HITLIST_FILE} ({excluded:,} left out by the "
                  f"do-not-probe list); next: `lightsout probing discover --state {state_dir}`")  # fmt: skip


@probing.command("discover")
@_state_option
@_dnp_files
@click.option("--max-age-days", type=float, default=None,
              help="Discover again blocks older than this (default: new blocks only).")  # fmt: skip
@click.option("--survey-only", is_flag=True, help="Keep E(b) (e.g. from --census); measure A(b) only.")
@_rate
@_timeout
@_socket_kind
@_opt_out
@_lab_option
def discover_command(
    state_dir: Path, dnp_files: tuple[Path, ...], max_age_days: float | None, survey_only: bool,
    rate: float, timeout: float, socket_kind: str, opt_out_url: str | None, lab: bool,
) -> None:  # fmt: skip
    """Find each block's responsive addresses E(b) and availability A(b); keeps the hitlist current."""
    from lightsout.sources.probing.hitlist import Hitlist
    from lightsout.sources.probing.icmp import IcmpSocket
    from lightsout.sources.probing.prober import DEFAULT_OPT_OUT_URL, discover, survey
    from lightsout.sources.probing.rounds import HITLIST_FILE

    hitlist = Hitlist.load(state_dir / HITLIST_FILE)
    _check_lab(hitlist.lab, lab)
    dnp = _dnp(lab, dnp_files)
    params = _params(rate, timeout, (), lab, dnp, opt_out_url or DEFAULT_OPT_OUT_URL)
    now_s = int(time.time())
    stale = (hitlist.discovered_s == 0) & dnp.allowed(hitlist.blocks)
    if max_age_days is not None:
        stale |= (hitlist.discovered_s < now_s - max_age_days * 86_400) & dnp.allowed(hitlist.blocks)
    indices = np.flatnonzero(stale).tolist()
    sock = _socket(socket_kind)
    assert isinstance(sock, IcmpSocket)
    try:
        if survey_only:
            hitlist = survey(sock, hitlist, indices, params, now_s)
        else:
            hitlist = discover(sock, hitlist, indices, params, now_s)
    finally:
        sock.close()
    hitlist.save(state_dir / HITLIST_FILE)
    probeable = int(hitlist.probeable().sum())
    console.print(f"{len(indices):,} blocks surveyed; {probeable:,} of {len(hitlist):,} probeable")


def _check_lab(hitlist_lab: bool, lab: bool) -> None:
    if hitlist_lab != lab:
        which = "the lab's" if hitlist_lab else "a real"
        raise UserError(f"this is {which} hitlist: {'pass' if hitlist_lab else 'drop'} --lab")


@probing.command("show")
@_state_option
@click.option(
    "--by", type=click.Choice(["country", "region", "network"]), default="country", show_default=True
)
def show_command(state_dir: Path, by: str) -> None:
    """Blocks per country, region or AS: how many, how many probeable, how many up in the last round."""
    from rich.table import Table

    from lightsout.sources.probing.belief import UP
    from lightsout.sources.probing.hitlist import Hitlist
    from lightsout.sources.probing.rounds import HITLIST_FILE, Attribution, load_state

    hitlist = Hitlist.load(state_dir / HITLIST_FILE)
    state = load_state(state_dir, hitlist)
    attribution = Attribution.of(hitlist)
    level = attribution.levels[("country", "region", "network").index(by)]
    probeable = hitlist.probeable()
    table = Table("entity", "name", "/24 blocks", "discovered", "probeable", "up (last round)")
    counts = [
        np.bincount(
            level[level >= 0], weights=w[level >= 0].astype(float), minlength=len(attribution.entities)
        )
        for w in (np.ones(len(hitlist)), hitlist.discovered_s > 0, probeable, probeable & (state.state == UP))
    ]
    for k in np.argsort(-counts[0]).tolist():
        if counts[0][k] == 0:
            continue
        entity = attribution.entities[k]
        table.add_row(entity.entity_id, entity.name, *(f"{int(c[k]):,}" for c in counts))
    console.print(table)


@probing.command("run")
@_state_option
@_dnp_files
@db_option
@click.option("--round-s", type=int, default=660, show_default=True, help="Round length in seconds.")
@click.option("--rounds", type=int, default=None, help="Stop after this many rounds (default: run on).")
@click.option("--control", "controls", multiple=True,
              help="Control target outside the probed networks (repeatable).")  # fmt: skip
@click.option(
    "--vantage", default="local", show_default=True, help="Names this vantage point (source probing-NAME)."
)
@_rate
@_timeout
@_socket_kind
@_opt_out
@_lab_option
def run_command(
    state_dir: Path, dnp_files: tuple[Path, ...], db: StoreLocation | None, round_s: int,
    rounds: int | None, controls: tuple[str, ...], vantage: str, rate: float, timeout: float,
    socket_kind: str, opt_out_url: str | None, lab: bool,
) -> None:  # fmt: skip
    """Probe in rounds; each round's signals go into the store (a round cut off from us is a gap)."""
    from lightsout.sources.probing.icmp import IcmpSocket
    from lightsout.sources.probing.prober import DEFAULT_OPT_OUT_URL, TRINOCULAR_ROUND_S
    from lightsout.sources.probing.rounds import Prober
    from lightsout.store import open_store

    if round_s < TRINOCULAR_ROUND_S and not lab:
        raise UserError(f"--round-s below Trinocular's {TRINOCULAR_ROUND_S} s is for the lab only (--lab)")
    if timeout * 2 >= round_s:
        raise UserError("--timeout must be well under --round-s")
    dnp = _dnp(lab, dnp_files)
    params = _params(rate, timeout, controls, lab, dnp, opt_out_url or DEFAULT_OPT_OUT_URL)
    params = replace(params, spread_s=round_s / 2)  # the first probes spread over the round's first half
    sock = _socket(socket_kind)
    assert isinstance(sock, IcmpSocket)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda number, frame: stopping.append(number))
    try:
        prober = Prober(state_dir, sock, params, vantage, dnp)
        _check_lab(prober.hitlist.lab, lab)
        console.print(f"probing {int(prober.probeable.sum()):,} blocks every {round_s} s through a "
                      f"{sock.kind} socket at up to {rate:g} probes/s")  # fmt: skip
        prober.run(lambda: open_store(db), round_s, rounds, _report_round, lambda: bool(stopping))
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        sock.close()


def _report_round(result: RoundResult) -> None:
    when = datetime.fromtimestamp(result.start_s, UTC).strftime("%Y-%m-%d %H:%M:%S")
    if result.gap:
        console.print(f"{when} gap: {result.reason}")
        return
    console.print(
        f"{when} up {int(result.up.sum()):,} / judged {int(result.judged.sum()):,} / probed "
        f"{int(result.probed.sum()):,} blocks; {int(result.sent.sum()):,} probes, "
        f"{int(result.answered.sum()):,} answered; {result.duration_s:.1f} s"
    )


@probing.command("status")
@_state_option
@click.option("--last", type=int, default=20, show_default=True)
def status_command(state_dir: Path, last: int) -> None:
    """The last rounds: blocks up, judged and uncertain, probes, gaps and their reason."""
    from rich.table import Table

    from lightsout.sources.probing.rounds import read_log

    entries = read_log(state_dir, last)
    if not entries:
        raise UserError(f"{state_dir}: no round yet")
    table = Table("round (UTC)", "up", "judged", "uncertain", "probes", "answered", "controls", "note")
    for e in entries:
        note = f"GAP: {e['reason']}" if e["gap"] else ""
        table.add_row(str(e["start"])[:19], *(f"{e[k]:,}" if not e["gap"] else "-" for k in
                      ("blocks_up", "blocks_judged", "blocks_uncertain", "probes_sent", "probes_answered")),
                      str(e["controls"]), note)  # fmt: skip
    console.print(table)
