"""The prober's parts without a network or root: the belief, the do-not-probe list, the hitlist,
rounds against a simulated network (tests/probing_sim.py), the signals and the state on disk.
The same engine against real ICMP in network namespaces is tests/test_probing_lab.py."""

from __future__ import annotations

import socket
import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from lightsout.errors import InputError
from lightsout.model import SignalKind, SourceFile
from lightsout.sources import CarryState
from lightsout.sources.mrt import RouteTables, key_of_text
from lightsout.sources.probing import belief as bl
from lightsout.sources.probing.hitlist import (
    Hitlist,
    PrefixRow,
    build_hitlist,
    read_address_file,
    read_prefix_rows,
    rows_from_store,
)
from lightsout.sources.probing.icmp import checksum, payload
from lightsout.sources.probing.prober import HOURLY_BUDGET, ProbeParams, ProbeState, run_round
from lightsout.sources.probing.rounds import Attribution, load_state, round_batch, save_state
from lightsout.sources.probing.safety import DoNotProbe, read_prefix_file
from lightsout.store import IngestBatch, Store
from probing_sim import SimulatedNetwork


def _block(text: str) -> int:
    return int.from_bytes(socket.inet_aton(text), "big") >> 8


# -- belief --------------------------------------------------------------------------------------


def test_silence_takes_an_up_block_down_within_a_round_when_a_is_high() -> None:
    belief, probes = bl.BELIEF_MAX, 0
    while belief > bl.DOWN_THRESHOLD:
        belief = bl.update(belief, 0.9, answered=False)
        probes += 1
    assert probes == 3  # odds 99 x (0.1 / 0.99)^3 < 1/9
    belief, probes = bl.BELIEF_MAX, 0
    while belief > bl.DOWN_THRESHOLD:
        belief = bl.update(belief, 0.2, answered=False)
        probes += 1
    assert probes > bl.MAX_PROBES  # a sparse block needs more than one round: Trinocular's trade-off


def test_one_reply_from_a_down_block_is_not_enough_two_are() -> None:
    once = bl.update(bl.BELIEF_MIN, 0.9, answered=True)
    assert bl.DOWN_THRESHOLD < once < bl.UP_THRESHOLD
    assert bl.next_state(bl.DOWN, once) == bl.DOWN  # hysteresis: uncertain keeps the state
    assert bl.update(once, 0.9, answered=True) >= bl.UP_THRESHOLD


def test_stopping_rule() -> None:
    assert bl.decided(0.99, answered=True, probes=1)  # an up block that answered: one probe
    assert not bl.decided(0.95, answered=False, probes=1)  # silence from an up block: confirm
    assert bl.decided(0.01, answered=False, probes=1)  # a down block that stays silent
    assert not bl.decided(0.5, answered=True, probes=14)
    assert bl.decided(0.5, answered=True, probes=15)  # never more than 15 in a round


# -- safety and the payload ----------------------------------------------------------------------


def test_bogons_are_never_probed_and_the_lab_probes_only_its_ranges(tmp_path: Path) -> None:
    blocks = np.array([_block(a) for a in ("10.1.2.3", "192.168.1.1", "100.64.1.1", "198.18.0.1",
                                           "8.8.8.8", "193.0.0.1")], dtype=np.uint32)  # fmt: skip
    assert DoNotProbe.build().allowed(blocks).tolist() == [False, False, False, False, True, True]
    assert DoNotProbe.build(lab=True).allowed(blocks).tolist() == [False, False, True, True, False, False]
    opt_out = tmp_path / "dnp.txt"
    opt_out.write_text("# asked on 2026-01-02\n193.0.0.0/21  RIPE NCC\n")
    dnp = DoNotProbe.build(read_prefix_file(opt_out))
    assert dnp.allowed(blocks).tolist() == [False, False, False, False, True, False]
    opt_out.write_text("193.0.0.0/21\nnot-a-prefix\n")
    with pytest.raises(InputError, match=r"dnp\.txt: line 2: not a prefix"):
        read_prefix_file(opt_out)


def test_every_probe_names_the_project_and_the_opt_out_url() -> None:
    data = payload(0xDEADBEEF, "https://example.org/opt-out")
    assert data[:4] == b"LSO1" and struct.unpack("!I", data[4:8])[0] == 0xDEADBEEF
    assert b"Lightsout" in data and b"Opt out: https://example.org/opt-out" in data
    header = struct.pack("!BBHHH", 8, 0, 0, 1234, 1)
    packet = struct.pack("!BBHHH", 8, 0, checksum(header + data), 1234, 1) + data
    assert checksum(packet) == 0  # RFC 1071: a correct checksum sums to zero


# -- the hitlist ---------------------------------------------------------------------------------


def test_prefix_file_blocks_belong_to_the_most_specific_prefix(tmp_path: Path) -> None:
    path = tmp_path / "kz.csv"
    path.write_text("# prefix,asn,country,region\n2.72.0.0/22,AS9198,KZ,Almaty\n2.72.1.0/24,48503,KZ\n"
                    "2001:db8::/32,AS1,KZ\n2.72.8.7/32,AS9198,KZ\n10.0.0.0/24,AS1,KZ\n")  # fmt: skip
    rows = read_prefix_rows(path)
    hitlist, excluded = build_hitlist(rows, DoNotProbe.build(), geolocate=False)
    assert excluded == 1  # 10.0.0.0/24
    assert [b for b in hitlist.blocks.tolist()] == [_block(f"2.72.{c}.0") for c in (0, 1, 2, 3, 8)]
    assert hitlist.asn.tolist() == [9198, 48503, 9198, 9198, 9198]
    assert hitlist.countries == ["KZ"] and hitlist.regions == [("KZ", "Almaty")]
    assert hitlist.region.tolist() == [0, -1, 0, 0, -1]
    only_as = build_hitlist(rows, DoNotProbe.build(), asns={48503}, geolocate=False)[0]
    assert only_as.blocks.tolist() == [_block("2.72.1.0")]
    path.write_text("2.72.0.0/22,AS9198,KZ\n2.72.0.0/22,ASX\n")
    with pytest.raises(InputError, match=r"kz\.csv: line 2"):
        read_prefix_rows(path)


def test_census_then_save_and_load(tmp_path: Path) -> None:
    rows = [PrefixRow("2.72.0.0/23", 9198, "KZ")]
    hitlist, _ = build_hitlist(rows, DoNotProbe.build(), geolocate=False)
    census = tmp_path / "census.txt"
    census.write_text("2.72.0.9\n02480105  # ISI's hex form of 2.72.1.5\n2.72.0.1\n9.9.9.9\n")
    hitlist = hitlist.with_census(read_address_file(census))
    assert [hitlist.addresses_of(i) for i in range(2)] == [
        [_block("2.72.0.0") * 256 + 1, _block("2.72.0.0") * 256 + 9], [_block("2.72.1.0") * 256 + 5]
    ]  # fmt: skip
    hitlist.save(tmp_path / "h.npz")
    again = Hitlist.load(tmp_path / "h.npz")
    assert again.e_octets.tolist() == hitlist.e_octets.tolist() and again.countries == ["KZ"]


def test_hitlist_from_the_stores_bgp_tables(store: Store) -> None:
    """Full-feed peers' prefixes only (a customer feed's are left out), IPv6 left out, origin AS kept."""
    full = {"193.0.0.0/21": (3333,), "2.72.0.0/16": (9198,), "8.8.8.0/24": (15169,), "2001:db8::/32": (1,)}
    tables = RouteTables()
    for peer, routes in (("peer-a", full), ("peer-b", full), ("customer", {"5.1.0.0/24": (64500,)})):
        table = tables.table(peer)
        for prefix, origins in routes.items():
            table[tables.prefix_id(key_of_text(prefix))] = tables.origin_id(origins)
            tables.sizes[peer] += 1
    tables.note_peaks()
    source = SourceFile("ab" * 32, "/data/rrc00/bview.20000111.0032.gz", "mrt", datetime.now(UTC), 1, 0, 0)
    carry = CarryState("mrt/rrc00", datetime(2000, 1, 11, tzinfo=UTC), tables.dump())
    store.write_batch(IngestBatch(source, carry=carry))
    rows = rows_from_store(store)
    # the customer feed's 1 IPv4 prefix is under 50 % of the full feeds' 3
    assert sorted((r.prefix, r.asn) for r in rows) == [
        ("193.0.0.0/21", 3333), ("2.72.0.0/16", 9198), ("8.8.8.0/24", 15169)
    ]  # fmt: skip
    hitlist, _ = build_hitlist(rows, DoNotProbe.build(), asns={3333}, geolocate=False)
    assert len(hitlist) == 8


# -- rounds against a simulated network ----------------------------------------------------------


def _simulated(n: int, e: int = 20, a: float = 0.8) -> Hitlist:
    rows = [PrefixRow(f"20.{i // 256}.{i % 256}.0/24", 64500 + i % 2, "KZ") for i in range(n)]
    hitlist, _ = build_hitlist(rows, DoNotProbe.build(), geolocate=False)
    found = {i: list(range(1, e + 1)) for i in range(n)}
    return hitlist.with_discovery(range(n), found, {i: a for i in range(n)}, 1)


def test_rounds_judge_up_blocks_with_one_probe_and_cut_blocks_down_within_two_rounds() -> None:
    hitlist = _simulated(400)
    answer = {int(b): 0.8 for b in hitlist.blocks}
    net = SimulatedNetwork(answer)
    state = ProbeState.fresh(hitlist)
    params = ProbeParams(rate_pps=1e9, timeout_s=0.0, burst=1 << 20)
    for r in range(3):
        result = run_round(net, hitlist, state, params, 660 * r)  # type: ignore[arg-type]
    assert result.up.sum() >= 398 and result.sent.sum() < 1.4 * 400
    cut = hitlist.asn == 64501
    for b in hitlist.blocks[cut]:
        answer[int(b)] = 0.0
    downs = []
    for r in range(3, 5):
        result = run_round(net, hitlist, state, params, 660 * r)  # type: ignore[arg-type]
        downs.append(int((~result.up & cut).sum()))
        assert result.sent.max() <= bl.MAX_PROBES
    assert downs[0] >= 0.9 * cut.sum() and downs[1] == cut.sum()  # within two rounds
    assert result.up[~cut].sum() >= 0.98 * (~cut).sum()


def test_a_block_never_gets_more_than_trinoculars_hourly_budget() -> None:
    """Rounds every 10 seconds (as a careless loop would run them) against blocks that never answer."""
    hitlist = _simulated(50)
    net = SimulatedNetwork({})
    state = ProbeState.fresh(hitlist)
    params = ProbeParams(rate_pps=1e9, timeout_s=0.0, burst=1 << 20)
    sent = np.zeros(50, dtype=np.int64)
    for tick in range(360):
        result = run_round(net, hitlist, state, params, 3600 * 100 + 10 * tick)  # type: ignore[arg-type]
        sent += result.sent
    assert sent.max() == HOURLY_BUDGET == 82
    assert result.over_budget == 50  # by the end of the hour every block is over its budget
    result = run_round(net, hitlist, state, params, 3600 * 101)  # type: ignore[arg-type]
    assert result.probed.all()  # a new hour, a new budget


def test_probes_go_only_to_ever_responsive_addresses_cycling() -> None:
    hitlist = _simulated(3, e=16)
    net = SimulatedNetwork({})
    net.record = True
    state = ProbeState.fresh(hitlist)
    run_round(net, hitlist, state, ProbeParams(rate_pps=1e9, timeout_s=0.0, burst=1 << 20), 0)  # type: ignore[arg-type]
    for i in range(3):
        mine = [a for a in net.sent if a >> 8 == int(hitlist.blocks[i])]
        assert len(mine) >= 3 and {a & 255 for a in mine} <= set(range(1, 17))
        assert all((mine[k + 1] - mine[k]) % 16 == 1 for k in range(len(mine) - 1))  # cycling through E(b)


def test_a_vantage_point_cut_off_is_a_gap_and_changes_nothing() -> None:
    hitlist = _simulated(10)
    net = SimulatedNetwork({})  # the controls do not answer either
    state = ProbeState.fresh(hitlist)
    params = ProbeParams(rate_pps=1e9, timeout_s=0.0, controls=(_block("9.9.9.0") << 8 | 9,), burst=1000)
    before = state.copy()
    result = run_round(net, hitlist, state, params, 0)  # type: ignore[arg-type]
    assert result.gap and result.reason.startswith("own connectivity: 0/1")
    assert np.array_equal(state.belief, before.belief) and state.window_probes.sum() == 0


# -- signals and state ---------------------------------------------------------------------------


def test_round_signals_per_country_region_and_network_and_state_on_disk(tmp_path: Path, store: Store) -> None:
    hitlist = _simulated(40)
    hitlist.region[:20] = 0
    hitlist.regions = [("KZ", "Almaty")]
    answer = {int(b): (0.9 if i % 4 else 0.0) for i, b in enumerate(hitlist.blocks)}
    net = SimulatedNetwork(answer)
    state = ProbeState.fresh(hitlist)
    params = ProbeParams(rate_pps=1e9, timeout_s=0.0, burst=1 << 20)
    for r in range(3):
        result = run_round(net, hitlist, state, params, 6600 + 660 * r)  # type: ignore[arg-type]
    attribution = Attribution.of(hitlist)
    batch = round_batch(attribution, hitlist.probeable(), result, "probing-test", 660)
    values = {(p.entity_id, p.signal): (p.value, p.samples) for p in batch.points}
    assert values[("country/KZ", SignalKind.PROBING_UP_SLASH24S)] == (30.0, 40)
    assert values[("network/AS64500", SignalKind.PROBING_UP_SLASH24S)] == (10.0, 20)  # every 4th is silent
    assert values[("network/AS64501", SignalKind.PROBING_UP_SLASH24S)] == (20.0, 20)
    almaty = next(e.entity_id for e in attribution.entities if e.name == "Almaty")
    assert values[(almaty, SignalKind.PROBING_UP_SLASH24S)][0] == float(result.up[:20].sum())
    assert values[("country/KZ", SignalKind.PROBING_PROBES_SENT)][0] == float(result.sent.sum())
    assert values[("country/KZ", SignalKind.PROBING_PROBES_ANSWERED)][0] == float(result.answered.sum())
    store.write_batch(batch)
    assert store.has_source(batch.source.sha256)  # the same round again is recognised, never doubled
    save_state(tmp_path, hitlist, state)
    bigger = _simulated(41)  # one block more: it starts fresh, the others keep their state
    again = load_state(tmp_path, bigger)
    assert np.array_equal(again.belief[:40], state.belief) and again.state[40] == bl.UNKNOWN


def test_a_cut_seen_by_probing_becomes_an_event_and_a_statement(tmp_path: Path, store: Store) -> None:
    """Simulated rounds -> store -> detector -> event -> statement naming our probing and its rounds."""
    from lightsout.detect.run import detect_batch
    from lightsout.detect.seasonal import BaselineParams
    from lightsout.detect.service import list_events
    from lightsout.report.context import event_files
    from lightsout.report.statement import make_statement
    from lightsout.sources.probing.rounds import HITLIST_FILE, Prober

    hitlist = _simulated(60)
    hitlist.save(tmp_path / HITLIST_FILE)
    answer = {int(b): 0.9 for b in hitlist.blocks}
    params = ProbeParams(rate_pps=1e9, timeout_s=0.0, burst=1 << 20)
    prober = Prober(tmp_path, SimulatedNetwork(answer), params, "sim")  # type: ignore[arg-type]
    t0 = 1_767_225_600 // 660 * 660
    for r in range(16):
        if r == 12:
            answer.update({int(b): 0.0 for b in hitlist.blocks})  # the whole country goes dark
        prober.round(store, t0 + 660 * r, 660)
    detect_batch(store, params=BaselineParams(days=2, min_days=1, day_s=8 * 660))
    events = [e for e in list_events(store) if e.entity_id == "country/KZ"]
    assert len(events) == 1 and events[0].start == datetime.fromtimestamp(t0 + 12 * 660, UTC)
    entities = {e.entity_id: e for e in store.entities()}
    files = event_files(store, events[0], True)
    text = make_statement(events[0], entities, files).text()
    assert "Lightsout active probing from sim" in text
    assert "Probing rounds: 16 rounds" in text and "Data file" not in text
