"""Probing as a source of ``lightsout run``: the connector driven by the service's own runner
(``sources.pump.run_round``) against a simulated network, and its configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lightsout.errors import UserError
from lightsout.model import SeriesKey, SignalKind
from lightsout.service.config import load_config
from lightsout.service.run import build_connector
from lightsout.sources.connector import Window
from lightsout.sources.probing.connector import ProbingConnector
from lightsout.sources.probing.hitlist import PrefixRow, build_hitlist
from lightsout.sources.probing.prober import ProbeParams
from lightsout.sources.probing.rounds import HITLIST_FILE, Prober, read_log
from lightsout.sources.probing.safety import DoNotProbe
from lightsout.sources.pump import direct_writer, run_round
from lightsout.store import Store
from probing_sim import SimulatedNetwork

CONTROL = (9 << 24) + 9  # 9.0.0.9, answered or not as the test says
SLOT = 1_767_225_600 // 660 * 660  # a round slot on 2025-12-31 (UTC)


def _state(directory: Path) -> list[int]:
    rows = [PrefixRow(f"20.0.{i}.0/24", 64500 + i % 2, "KZ") for i in range(40)]
    hitlist, _ = build_hitlist(rows, DoNotProbe.build(), geolocate=False)
    hitlist = hitlist.with_discovery(
        range(40), {i: list(range(1, 21)) for i in range(40)}, {i: 0.9 for i in range(40)}, 1
    )
    hitlist.save(directory / HITLIST_FILE)
    return [int(b) for b in hitlist.blocks]


def test_the_service_runs_one_round_per_slot_and_a_cut_off_round_is_a_gap(
    tmp_path: Path, store: Store
) -> None:
    blocks = _state(tmp_path)
    answer = {b: 0.9 for b in blocks} | {CONTROL >> 8: 1.0}
    net = SimulatedNetwork(answer)
    params = ProbeParams(rate_pps=1e9, timeout_s=0.0, burst=1 << 20, controls=(CONTROL,))
    now = [SLOT + 30.0]
    connector = ProbingConnector(
        "probing", lambda: Prober(tmp_path, net, params, "test"), 660, clock=lambda: now[0]
    )  # type: ignore[arg-type]
    window = Window("follow", datetime(2025, 12, 31, tzinfo=UTC))
    write = direct_writer(store)
    first = run_round(connector, None, write, window)  # type: ignore[arg-type]
    assert (first.items_stored, first.error) == (1, None) and first.points > 0
    again = run_round(connector, None, write, window)  # type: ignore[arg-type]
    assert again.items_stored == 0  # the slot is done
    now[0] += 660
    answer[CONTROL >> 8] = 0.0  # our uplink is cut: the controls stop answering
    gap = run_round(connector, None, write, window)  # type: ignore[arg-type]
    assert gap.items_stored == 1 and gap.points == 0  # in the ledger, nothing stored
    key = SeriesKey("country/KZ", SignalKind.PROBING_UP_SLASH24S, "probing-test", 660)
    series = store.points(key)
    assert series.times_s.tolist() == [SLOT] and series.values.tolist() == [40.0]
    assert [entry["gap"] for entry in read_log(tmp_path)] == [False, True]
    backfill = Window(
        "backfill/2025-12-01/2025-12-02", datetime(2025, 12, 1, tzinfo=UTC), datetime(2025, 12, 2, tzinfo=UTC)
    )
    assert run_round(connector, None, write, backfill).items_stored == 0  # type: ignore[arg-type]


def test_configuration(tmp_path: Path) -> None:
    config = tmp_path / "lightsout.toml"
    config.write_text('[sources.probing]\nkind = "probing"\nevery = "1m"\nstate = "/var/lib/probing"\n'
                      'rate = 1500\nvantage = "fra1"\n')  # fmt: skip
    service = load_config(config)
    connector = build_connector(service.sources["probing"], service)
    assert isinstance(connector, ProbingConnector) and connector.round_s == 660  # no socket opened yet
    config.write_text('[sources.probing]\nkind = "probing"\nstate = "/x"\nround = "1m"\n')
    service = load_config(config)
    with pytest.raises(UserError, match=r"sources\.probing\.round: below Trinocular's 660 s"):
        build_connector(service.sources["probing"], service)
