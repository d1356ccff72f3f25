"""Probing as a live source of ``lightsout run`` (the contract of :mod:`lightsout.sources.connector`).

    [sources.probing]
    kind = "probing"
    every = "1m"            # how often the service asks; a round runs once per round slot
    state = "/var/lib/lightsout/probing"   # made by `lightsout probing hitlist` + `discover`
    round = "11m"
    rate = 2000
    controls = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222"]
    do_not_probe = ["/etc/lightsout/opt-out.txt"]
    opt_out_url = "https://example.org/lightsout-opt-out"
    vantage = "fra1"

* **discover** names one item: the current round slot (rounds start on multiples of ``round``,
  UTC), unless the checkpoint says it is done. The past cannot be probed: a backfill window names
  nothing. With ``every`` well under ``round`` each slot is caught near its start.
* **fetch** runs the round (the ``client`` is not used: the answer is the network's, through the
  prober's own ICMP socket, opened on first use).
* **parse** gives the round's points per country, region and AS; a round whose own-connectivity
  check failed gives none (a gap), and its item stays in the ledger so it is never run again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lightsout.model import Checkpoint
from lightsout.sources import Parsed
from lightsout.sources.connector import Fetched, SourceUnavailable, Window, WorkItem
from lightsout.sources.probing.rounds import FORMAT, Prober, log_round, round_batch

if TYPE_CHECKING:
    import httpx

    from lightsout.service.config import ServiceConfig, SourceConfig


@dataclass
class ProbingConnector:
    name: str
    make_prober: Callable[[], Prober]
    round_s: int
    format: str = FORMAT
    clock: Callable[[], float] = time.time
    _prober: Prober | None = None
    _parsed: dict[str, Parsed] = field(default_factory=dict)

    @property
    def prober(self) -> Prober:
        if self._prober is None:
            self._prober = self.make_prober()
        return self._prober

    def discover(
        self, client: httpx.Client, checkpoint: Checkpoint | None, window: Window
    ) -> Iterable[WorkItem]:
        if window.until is not None:
            return []  # a backfill: the past cannot be probed
        slot = int(self.clock() // self.round_s) * self.round_s
        done = json.loads(checkpoint.cursor).get("round_start") if checkpoint is not None else None
        if done is not None and done >= slot:
            return []
        start = datetime.fromtimestamp(slot, UTC)
        end = datetime.fromtimestamp(slot + self.round_s, UTC)
        cursor = json.dumps({"round_start": slot})
        point = Checkpoint(self.name, window.stream, cursor, end, datetime.now(UTC))
        label = f"probing round {start:%Y-%m-%d %H:%M}"
        return [WorkItem(f"round/{slot}/{self.round_s}", "icmp://probing", point, data_time=end, label=label)]

    def fetch(self, client: httpx.Client, item: WorkItem) -> Fetched:
        slot = int(item.key.split("/")[1])
        prober = self.prober
        try:
            result = prober.run_once(slot)
        except OSError as exc:
            raise SourceUnavailable(f"probing: the ICMP socket failed: {exc}") from None
        log = log_round(prober.directory, result, prober.source)
        parsed = Parsed(format=FORMAT, records_read=int(result.probed.sum()))
        if result.gap:
            parsed.notes.append(f"gap: {result.reason}")
        else:
            batch = round_batch(prober.attribution, prober.probeable, result, prober.source, self.round_s)
            parsed.entities, parsed.points = batch.entities, batch.points
        self._parsed[item.key] = parsed
        return Fetched(item, 200, json.dumps(log).encode(), "application/json", datetime.now(UTC))

    def parse(self, fetched: Fetched) -> Parsed:
        return self._parsed.pop(fetched.item.key)

    def idle_checkpoint(
        self, checkpoint: Checkpoint | None, window: Window, now: datetime
    ) -> Checkpoint | None:
        return None


def from_config(source: SourceConfig, service: ServiceConfig) -> ProbingConnector:
    """``[sources.NAME] kind = "probing"``: state, round, rate, timeout, controls, do_not_probe,
    opt_out_url, vantage, socket, lab (module docstring)."""
    import ipaddress

    from lightsout.service.config import ConfigError
    from lightsout.sources.probing.icmp import IcmpUnavailable, open_socket
    from lightsout.sources.probing.prober import DEFAULT_OPT_OUT_URL, TRINOCULAR_ROUND_S, ProbeParams
    from lightsout.sources.probing.safety import DoNotProbe, read_prefix_file

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(source.config_path, source.key(key), message)

    state = source.option("state", str)
    if not state:
        raise fail("state", "the prober's directory (made by `lightsout probing hitlist`) is required")
    lab = bool(source.option("lab", bool, False))
    round_s = int(source.duration("round", "11m").total_seconds())
    if round_s < TRINOCULAR_ROUND_S and not lab:
        raise fail("round", f"below Trinocular's {TRINOCULAR_ROUND_S} s is for the lab only")
    rate = float(source.option("rate", float, 2000.0))
    if not 0 < rate <= 10_000 and not lab:
        raise fail("rate", f"expected (0, 10000] probes/s, got {rate:g}")
    extra = [p for f in source.strings("do_not_probe") for p in read_prefix_file(Path(f))]
    dnp = DoNotProbe.build(extra, lab=lab)
    controls = []
    for text in source.strings(
        "controls", () if lab else ("1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222")
    ):
        try:
            controls.append(int(ipaddress.IPv4Address(text)))
        except ValueError:
            raise fail("controls", f"not an IPv4 address: {text!r}") from None
    params = ProbeParams(
        rate_pps=rate,
        timeout_s=float(source.option("timeout", float, 3.0)),
        controls=tuple(controls),
        opt_out_url=source.option("opt_out_url", str, DEFAULT_OPT_OUT_URL),
        spread_s=round_s / 4,
    )
    kind = source.option("socket", str, "auto")
    vantage = source.option("vantage", str, "local")

    def make_prober() -> Prober:
        try:
            sock = open_socket(kind)
        except IcmpUnavailable as exc:
            raise SourceUnavailable(str(exc)) from None
        return Prober(Path(state), sock, params, vantage, dnp)

    return ProbingConnector(source.name, make_prober, round_s)
