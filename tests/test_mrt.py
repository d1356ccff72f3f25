"""The BGP MRT reader on the real RIPE RIS archives in ../shared/data/mrt.

Expected numbers were checked against bgpdump 1.6.2 (Debian) by hand:
* rrc15/2010.02/updates.20100227.1600.gz: ``bgpdump -m`` prints 53,806 lines = 52,468 A + 1,318 W +
  20 STATE; replaying the A/W lines of the one full-feed peer (200.219.130.4) up to 16:05:00 with
  awk leaves 1,430 prefixes whose path ends in AS4766, covering 110,173 /24s (collapsed with
  Python's ipaddress), and 2,769 of AS6389 (3,350 including the records at 16:05:00).
* rrc00/2000.03/updates.20000325.0345.gz (damaged): ``bgpdump -m`` on the raw file prints 2,046
  lines, of which 2,042 are garbage withdrawals decoded from the damaged record at byte 188
  (``0.5.0.3/117`` ...) and bgpdump stops at the next broken header; on the records this reader
  frames (rewritten to a plain file) it prints 5,685 lines = 4,660 A + 718 W + 307 STATE, the
  announcements identical (peer, prefix, origin) to ours.
* the type-5 files: bgpdump prints 65,315 lines (65,311 routes + 4 STATE) for 1999.09 and 6,359
  (6,343 + 16 STATE) for 2000.01; pybgpkit-parser alone yields 0 elements for either.
* rrc01/2000.11: bgpdump prints 378 A + 141 W; pybgpkit-parser alone yields 21 elements.
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
import struct
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pybgpkit_parser
import pytest

from lightsout.attribution.geo import GeoLocator, default_locator, read_metadata
from lightsout.errors import InputError
from lightsout.model import EntityKind, SignalKind, SignalPoint
from lightsout.sources import Parsed, mrt
from lightsout.sources.mrt import collector_name, read_mrt, replay_routes, slash24_union
from lightsout.sources.mrt.replay import FullFeed

RIS = Path("mrt") / "ripe-ris"
RRC15_1600 = RIS / "rrc15" / "2010.02" / "updates.20100227.1600.gz"
DAMAGED = RIS / "rrc00" / "2000.03" / "updates.20000325.0345.gz"
BVIEW = RIS / "rrc00" / "2000.01" / "bview.20000111.0032.gz"
TYPE5_1999 = RIS / "rrc00" / "1999.09" / "updates.19990903.1041.gz"
TYPE5_2000 = RIS / "rrc00" / "2000.01" / "updates.20000102.2014.gz"
ZEBRA_RRC01 = RIS / "rrc01" / "2000.11" / "updates.20001104.0124.gz"
T_1600 = datetime(2010, 2, 27, 16, 0, tzinfo=UTC)
T_1605 = datetime(2010, 2, 27, 16, 5, tzinfo=UTC)


def _value(parsed: Parsed, entity_id: str, signal: SignalKind, bin_start: datetime) -> float | None:
    for p in parsed.points:
        if p.entity_id == entity_id and p.signal == signal and p.bin_start == bin_start:
            return p.value
    return None


def _routes_note(parsed: Parsed) -> str:
    return next(n for n in parsed.notes if n.startswith("read "))


@pytest.fixture(scope="module")
def rrc15(shared_data: Path) -> Parsed:
    return read_mrt(shared_data / RRC15_1600)


@pytest.fixture(scope="module")
def damaged(shared_data: Path) -> Parsed:
    return read_mrt(shared_data / DAMAGED)


@pytest.fixture(scope="module")
def bview(shared_data: Path) -> Parsed:
    return read_mrt(shared_data / BVIEW)


# -- rrc15, an ordinary BGP4MP update file ---------------------------------------------------------


def test_rrc15_counts(rrc15: Parsed) -> None:
    assert rrc15.format == "mrt"
    assert rrc15.records_read == 6615
    assert rrc15.skipped == []
    note = _routes_note(rrc15)
    assert "read 53786 routes (52468 announcements, 1318 withdrawals)" in note
    assert "from 6546 route records" in note
    assert "6615 MRT records framed (BGP4MP/1 x542, BGP4MP/4 x6053, BGP4MP/5 x20)" in rrc15.notes[0]
    assert any(n.startswith("full-feed peers: 1 of 5") for n in rrc15.notes)


def test_rrc15_points_shape(rrc15: Parsed) -> None:
    assert {p.source for p in rrc15.points} == {"rrc15"}
    assert {p.bin_start for p in rrc15.points} == {T_1600, T_1605}
    assert all(p.bin_s == 300 and p.bin_start.tzinfo is UTC for p in rrc15.points)
    assert all(p.samples == 1 for p in rrc15.points)  # one full-feed peer
    networks = {p.entity_id for p in rrc15.points if p.entity_id.startswith("network/")}
    countries = {p.entity_id for p in rrc15.points if p.entity_id.startswith("country/")}
    assert len(networks) == 2725
    assert len(countries) == 144
    assert {e.entity_id for e in rrc15.entities} == networks | countries
    kinds = Counter(e.kind for e in rrc15.entities)
    assert kinds == {EntityKind.NETWORK: 2725, EntityKind.COUNTRY: 144}
    # every entity has both signals in every bin from its first one on
    per_bin = Counter((p.entity_id, p.bin_start) for p in rrc15.points)
    assert set(per_bin.values()) == {2}


def test_rrc15_values_checked_with_bgpdump(rrc15: Parsed) -> None:
    prefixes, slash24s = SignalKind.BGP_PREFIXES, SignalKind.BGP_SLASH24S
    assert _value(rrc15, "network/AS4766", prefixes, T_1600) == 1430
    assert _value(rrc15, "network/AS4766", slash24s, T_1600) == 110173
    assert _value(rrc15, "network/AS6389", prefixes, T_1600) == 2769
    assert _value(rrc15, "network/AS6389", prefixes, T_1605) == 3350
    assert _value(rrc15, "country/KR", prefixes, T_1600) == 1610


def test_rrc15_recount_with_bare_parser(shared_data: Path, rrc15: Parsed) -> None:
    """A straightforward recount from pybgpkit-parser alone, with its own element times and
    ipaddress.collapse_addresses for the /24 union, must give the same first bin."""
    tables: dict[str, dict[str, tuple[int, ...]]] = {}
    peaks: Counter[tuple[str, int]] = Counter()  # per (peer, address family), at each bin's close
    elems = []
    for e in pybgpkit_parser.Parser(url=str(shared_data / RRC15_1600)):
        elems.append((int(e.timestamp), e.elem_type, e.peer_ip, e.prefix, tuple(e.origin_asns or ())))

    def note_peaks() -> None:
        for peer, table in tables.items():
            for version in (4, 6):
                held = sum(1 for p in table if (":" in p) == (version == 6))
                peaks[peer, version] = max(peaks[peer, version], held)

    bin_end = None
    for ts, kind, peer, prefix, origins in elems:
        if bin_end is not None and ts >= bin_end:
            note_peaks()
        bin_end = ts - ts % 300 + 300
        table = tables.setdefault(peer, {})
        if kind == "A":
            table[prefix] = origins
        else:
            table.pop(prefix, None)
    note_peaks()
    full = set()
    for version in (4, 6):
        largest = max(n for (_, v), n in peaks.items() if v == version)
        full |= {(peer, v) for (peer, v), n in peaks.items() if v == version and n and n >= 0.5 * largest}
    tables = {}
    for ts, kind, peer, prefix, origins in elems:
        if ts >= T_1605.timestamp():
            continue
        if kind == "A":
            tables.setdefault(peer, {})[prefix] = origins
        else:
            tables.setdefault(peer, {}).pop(prefix, None)
    by_asn: dict[int, set[str]] = {}
    for peer, table in tables.items():
        for prefix, origins in table.items():
            if (peer, 6 if ":" in prefix else 4) not in full:
                continue
            for asn in origins:
                by_asn.setdefault(asn, set()).add(prefix)
    ours = {
        int(p.entity_id.removeprefix("network/AS")): p.value
        for p in rrc15.points
        if p.entity_id.startswith("network/")
        and p.bin_start == T_1600
        and p.signal is SignalKind.BGP_PREFIXES
    }
    assert ours == {asn: float(len(prefixes)) for asn, prefixes in by_asn.items()}
    for asn in (4766, 6389, 7018, 3356, 174):
        nets = [ipaddress.ip_network(p) for p in by_asn[asn]]
        v4 = [n for n in nets if n.version == 4 and n.prefixlen <= 24]
        union = sum(n.num_addresses for n in ipaddress.collapse_addresses(v4)) // 256  # type: ignore[misc]
        assert _value(rrc15, f"network/AS{asn}", SignalKind.BGP_SLASH24S, T_1600) == union


# -- damaged and deprecated input --------------------------------------------------------------------


def test_damaged_file_recovers_records_around_damage(damaged: Parsed) -> None:
    # pybgpkit-parser alone yields 0 elements here; bgpdump 2,046 lines, 2,042 of them garbage.
    assert damaged.records_read == 2580
    assert [(s.position, s.reason.split(";")[0]) for s in damaged.skipped] == [
        ("byte 188", "damaged MRT framing: BGP record of length 14556 is not followed by a valid header"),
        ("byte 4554", "damaged MRT framing: unknown MRT type 772"),
    ]
    assert "10 bytes skipped" in damaged.skipped[0].reason
    assert "14 bytes skipped" in damaged.skipped[1].reason
    assert "read 5378 routes (4660 announcements, 718 withdrawals)" in _routes_note(damaged)
    assert "307 state changes" in damaged.notes[0]
    assert any("2239 deprecated MRT type 5 (BGP) updates read as BGP4MP" in n for n in damaged.notes)
    assert damaged.points and {p.source for p in damaged.points} == {"rrc00"}


def test_bare_parser_still_loses_these_files(shared_data: Path) -> None:
    """Documents why the framing pass exists; if a newer pybgpkit-parser reads these files,
    the workaround can be reconsidered."""
    assert sum(1 for _ in pybgpkit_parser.Parser(url=str(shared_data / DAMAGED))) == 0
    assert sum(1 for _ in pybgpkit_parser.Parser(url=str(shared_data / TYPE5_2000))) == 0
    assert sum(1 for _ in pybgpkit_parser.Parser(url=str(shared_data / ZEBRA_RRC01))) == 21


@pytest.mark.parametrize(
    ("relative", "records", "announcements", "withdrawals"),
    [(TYPE5_1999, 24242, 65286, 25), (TYPE5_2000, 3957, 5668, 675)],
)
def test_type5_files_match_bgpdump(
    shared_data: Path, relative: Path, records: int, announcements: int, withdrawals: int
) -> None:
    parsed = read_mrt(shared_data / relative)
    assert parsed.records_read == records
    assert parsed.skipped == []
    total = announcements + withdrawals
    assert f"read {total} routes ({announcements} announcements, {withdrawals} withdrawals)" in (
        _routes_note(parsed)
    )


def test_shortened_zebra_records_are_skipped_with_reasons(shared_data: Path) -> None:
    parsed = read_mrt(shared_data / ZEBRA_RRC01)
    assert parsed.records_read == 1286 - 63
    reasons = Counter(s.reason for s in parsed.skipped)
    assert reasons == {
        "shortened BGP4MP state change of 8 bytes: no peer header (address family 4)": 21,
        "shortened BGP4MP message of 33 bytes: no peer header (address family 65535)": 21,
        "shortened BGP4MP state change: 8 bytes, 20 expected": 21,
    }
    assert parsed.skipped[0].position == "byte 1893"
    assert "read 519 routes (378 announcements, 141 withdrawals)" in _routes_note(parsed)


def _independent_bview_count(path: Path, asn: int, skip_peer: str) -> tuple[set[str], int]:
    """Walk the early TABLE_DUMP records by hand (entries batched, 4 bytes past the declared
    length) and collect the prefixes whose AS path ends in ``asn``, from all peers but one."""
    data = gzip.decompress(path.read_bytes())
    found: set[str] = set()
    entries, off = 0, 0
    while off + 12 <= len(data):
        _, _, _, length = struct.unpack_from(">IHHI", data, off)
        body = data[off + 12 : off + 16 + length]
        pos = 4
        while pos < len(body):
            prefix = f"{socket.inet_ntoa(body[pos : pos + 4])}/{body[pos + 4]}"
            peer = socket.inet_ntoa(body[pos + 10 : pos + 14])
            (alen,) = struct.unpack_from(">H", body, pos + 16)
            attrs, a = body[pos + 18 : pos + 18 + alen], 0
            last = None
            while a < len(attrs):
                flags, code = attrs[a], attrs[a + 1]
                hl = 4 if flags & 0x10 else 3
                ln = struct.unpack_from(">H", attrs, a + 2)[0] if flags & 0x10 else attrs[a + 2]
                if code == 2 and ln:
                    seg, s = attrs[a + hl : a + hl + ln], 0
                    while s < len(seg):
                        count = seg[s + 1]
                        last = struct.unpack_from(">H", seg, s + 2 + 2 * (count - 1))[0]
                        s += 2 + 2 * count
                a += hl + ln
            if last == asn and peer != skip_peer:
                found.add(prefix)
            entries += 1
            pos += 18 + alen
        off += 16 + length
    return found, entries


def test_bview_early_table_dump(shared_data: Path, bview: Parsed) -> None:
    assert bview.records_read == 2490
    assert bview.skipped == []
    assert "read 452018 routes (452018 announcements, 0 withdrawals)" in _routes_note(bview)
    assert any(n.startswith("2490 TABLE_DUMP records were 4 bytes longer") for n in bview.notes)
    peers_note = next(n for n in bview.notes if n.startswith("full-feed peers: 6 of 7"))
    # per-peer entry counts of the independent walk below: 76575 76435 71665 71363 70698 69964 | 15318
    for peer, size in [("206.251.0.85", 76575), ("195.8.100.22", 69964), ("192.65.184.1", 15318)]:
        assert f"{peer} {size}" in peers_note
    assert "largest other peer: 192.65.184.1 15318 (20%)" in peers_note
    assert {p.bin_start for p in bview.points} == {datetime(2000, 1, 11, 0, 30, tzinfo=UTC)}
    assert {p.samples for p in bview.points} == {6}
    # 192.65.184.1 (15,318 prefixes, 20 % of the largest table) is the one peer that is not full-feed
    expected, entries = _independent_bview_count(shared_data / BVIEW, 701, "192.65.184.1")
    assert entries == 452018
    start = datetime(2000, 1, 11, 0, 30, tzinfo=UTC)
    assert _value(bview, "network/AS701", SignalKind.BGP_PREFIXES, start) == len(expected) == 1674
    nets = ipaddress.collapse_addresses(n for n in map(ipaddress.IPv4Network, expected) if n.prefixlen <= 24)
    assert (
        _value(bview, "network/AS701", SignalKind.BGP_SLASH24S, start)
        == sum(n.num_addresses for n in nets) // 256
    )


# -- replay semantics on hand-made routes ------------------------------------------------------------


class _FixedLocator(GeoLocator):
    def country(self, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        return {"193.0.0.0": "NL", "193.0.8.0": "NL", "8.8.8.0": "US"}.get(str(address))

    def country_indexes_v6(self, addresses: Any, codes: list[str], index: dict[str, int]) -> Any:
        """The fixed answers for IPv6 too (the bulk walk would read the real database)."""
        import numpy as np

        found = []
        for row in addresses:
            cc = self.country(ipaddress.IPv6Address(bytes(row)))
            if cc is not None and cc not in index:
                index[cc] = len(codes)
                codes.append(cc)
            found.append(-1 if cc is None else index[cc])
        return np.array(found, dtype=np.int32)


def test_replay_counts_full_feed_union_withdrawal_and_session_down() -> None:
    t0, t1, t2 = 1_000_000_200, 1_000_000_400, 1_000_000_700  # bins 1_000_000_200, _500 (t1 in first)
    a, b, c, d = "192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::4"
    routes: list[tuple[int, str, str, tuple[int, ...] | None] | tuple[int, str]] = [
        (t0, a, "193.0.0.0/21", (3333,)),
        (t0, a, "193.0.0.0/22", (3333,)),  # nested: no extra /24s
        (t0, a, "193.0.8.0/25", (3333,)),  # longer than /24: a prefix, no /24s
        (t0, a, "2001:67c::/32", (3333,)),  # IPv6: a prefix, no /24s
        (t0, a, "8.8.8.0/24", (15169,)),
        (t0, b, "193.0.0.0/21", (3333,)),
        (t0, b, "193.0.0.0/22", (3333,)),
        (t0, b, "2001:67c::/32", (3333,)),
        (t0, b, "8.8.8.0/24", (64500,)),  # another origin for the same prefix
        (t0, c, "1.1.1.0/24", (13335,)),  # peer c: 1 of 5 prefixes, not full-feed
        # peer d: an IPv6 session of 2 prefixes (40 % of a's whole table, full-feed among IPv6 tables)
        (t0, d, "2001:db8:1::/48", (64501,)),
        (t0, d, "2001:67c::/32", (3333,)),
        (t1, a, "193.0.0.0/22", None),  # withdrawn by a, still held by b
        (t2, b, "193.0.0.0/22", None),
        (t2, b),  # b's session goes down
        (t2 + 300, c, "1.1.1.0/24", None),  # only a partial peer speaks: the bin still gets values
    ]
    replay = replay_routes(routes, _FixedLocator())
    # per address family: IPv4 tables a 3 (after t1), b 3, c 1; IPv6 tables a, b 1, d 2
    assert replay.full_feed == FullFeed(v4=(a, b), v6=(a, b, d))
    assert replay.peer_peaks == {a: 5, b: 4, d: 2, c: 1}
    assert replay.family_peaks == ({a: 3, b: 3, c: 1}, {d: 2, a: 1, b: 1})
    assert {b.full_feed for b in replay.bins} == {3}  # samples: the peers full-feed in either family
    first, second, third = 1_000_000_200, 1_000_000_500, 1_000_000_800
    assert [b.start_s for b in replay.bins] == [first, second, third]
    v = replay.value
    assert (v(first, "network/AS3333").prefixes, v(first, "network/AS3333").slash24s) == (4, 8)  # type: ignore[union-attr]
    assert (v(first, "network/AS15169").prefixes, v(first, "network/AS64500").prefixes) == (1, 1)  # type: ignore[union-attr]
    assert (v(first, "country/NL").prefixes, v(first, "country/NL").slash24s) == (3, 8)  # type: ignore[union-attr]
    assert v(first, "country/US").prefixes == 1  # type: ignore[union-attr]
    assert v(first, "network/AS13335") is None
    assert v(first, "network/AS64501") == (1, 0)  # only d routes it: an IPv6 full feed
    # second bin: /22 gone everywhere; b's session is down, so AS64500 drops to 0 but stays listed
    assert (v(second, "network/AS3333").prefixes, v(second, "network/AS3333").slash24s) == (3, 8)  # type: ignore[union-attr]
    assert v(second, "network/AS64500").prefixes == 0  # type: ignore[union-attr]
    assert v(second, "country/US").prefixes == 1  # type: ignore[union-attr]
    assert v(third, "network/AS3333") == v(second, "network/AS3333")
    points = replay.points("rrc99")
    assert all(isinstance(p, SignalPoint) and p.samples == 3 for p in points)
    assert {e.entity_id for e in replay.entities()} == {
        "network/AS3333", "network/AS15169", "network/AS64500", "network/AS64501", "country/NL",
        "country/US",
    }  # fmt: skip


def test_slash24_union() -> None:
    assert slash24_union([]) == 0
    assert slash24_union([(0, 256), (0, 4), (10, 1), (256, 1)]) == 257
    assert slash24_union([(5, 10), (0, 8), (20, 2)]) == 17  # overlaps that are not nested


def test_prefix_keys_clear_host_bits() -> None:
    assert mrt.key_text(mrt.key_of_text("203.37.255.126/24")) == "203.37.255.0/24"
    assert mrt.key_text(mrt.key_of_text("11.13.0.0/13")) == "11.8.0.0/13"
    assert mrt.key_text(mrt.key_of_text("2001:db8::1/32")) == "2001:db8::/32"
    assert mrt.key_of_text("0.0.0.0/6") != mrt.key_of_text("::/0")  # IPv4 and IPv6 keys never meet


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("data/ripe-ris/rrc15/2010.02/updates.20100227.1600.gz", "rrc15"),
        ("route-views2/bgpdata/2019.11/UPDATES/updates.20191116.0000.bz2", "route-views2"),
        ("route-views.sg/bgpdata/2019.11/RIBS/rib.20191116.0000.bz2", "route-views.sg"),
        ("downloads/rrc00.bview.20000111.0032.gz", "rrc00"),
        ("downloads/route-views.sg.updates.20191116.0000.bz2", "route-views.sg"),
        ("downloads/bgpkit-example-updates.bz2", "mrt"),
    ],
)
def test_collector_name(path: str, name: str) -> None:
    assert collector_name(Path(path)) == name


# -- TABLE_DUMP_V2, built by hand ---------------------------------------------------------------------


def _mrt(ts: int, mrt_type: int, subtype: int, body: bytes) -> bytes:
    return struct.pack(">IHHI", ts, mrt_type, subtype, len(body)) + body


def _td2_rib(ts: int, seq: int, prefix: str, entries: list[tuple[int, list[int]]]) -> bytes:
    net, plen_text = prefix.split("/")
    plen = int(plen_text)
    body = struct.pack(">IB", seq, plen) + socket.inet_aton(net)[: (plen + 7) // 8]
    body += struct.pack(">H", len(entries))
    for index, path in entries:
        segment = bytes([2, len(path)]) + b"".join(struct.pack(">I", asn) for asn in path)
        attrs = b"\x40\x01\x01\x00" + b"\x40\x02" + bytes([len(segment)]) + segment
        attrs += b"\x40\x03\x04" + socket.inet_aton("10.0.0.1")
        body += struct.pack(">HIH", index, ts - 100, len(attrs)) + attrs
    return _mrt(ts, 13, 2, body)


def test_table_dump_v2_by_hand(tmp_path: Path) -> None:
    ts = 1_600_000_000
    peers = [("10.0.0.1", 65001), ("10.0.0.2", 65002)]
    index = socket.inet_aton("192.0.2.1") + struct.pack(">HH", 0, len(peers))
    for ip, asn in peers:
        index += b"\x02" + socket.inet_aton(ip) + socket.inet_aton(ip) + struct.pack(">I", asn)
    data = _mrt(ts, 13, 1, index)
    data += _td2_rib(ts, 0, "193.0.0.0/21", [(0, [65001, 3333]), (1, [65002, 3333])])
    data += _td2_rib(ts, 1, "193.0.0.0/24", [(0, [65001, 3333])])
    data += _td2_rib(ts, 2, "8.8.8.0/24", [(1, [65002, 15169])])
    path = tmp_path / "rrc99.bview.20200913.1226"
    path.write_bytes(gzip.compress(data))
    parsed = read_mrt(path)
    assert parsed.skipped == []
    assert "read 4 routes" in _routes_note(parsed)
    start = datetime.fromtimestamp(ts - ts % 300, UTC)
    assert {p.source for p in parsed.points} == {"rrc99"}
    assert _value(parsed, "network/AS3333", SignalKind.BGP_PREFIXES, start) == 2
    assert _value(parsed, "network/AS3333", SignalKind.BGP_SLASH24S, start) == 8
    assert _value(parsed, "network/AS15169", SignalKind.BGP_SLASH24S, start) == 1
    assert _value(parsed, "country/NL", SignalKind.BGP_PREFIXES, start) == 2
    assert _value(parsed, "country/US", SignalKind.BGP_PREFIXES, start) == 1


# -- framing damage made on purpose -------------------------------------------------------------------


def _rrc15_plain(shared_data: Path) -> bytes:
    return gzip.decompress((shared_data / RRC15_1600).read_bytes())


def _record_offsets(data: bytes) -> list[int]:
    offsets, off = [], 0
    while off < len(data):
        offsets.append(off)
        off += 12 + struct.unpack_from(">I", data, off + 8)[0]
    return offsets


def test_junk_between_records_costs_no_record(shared_data: Path, tmp_path: Path) -> None:
    data = _rrc15_plain(shared_data)
    at = _record_offsets(data)[3000]
    junk = bytes(range(200, 237))  # 37 bytes, no plausible header among them
    path = tmp_path / "rrc15-junk.mrt"
    path.write_bytes(data[:at] + junk + data[at:])
    parsed = read_mrt(path)
    assert parsed.records_read == 6615
    assert [s.position for s in parsed.skipped] == [f"byte {at}"]
    assert "37 bytes skipped" in parsed.skipped[0].reason
    assert "read 53786 routes" in _routes_note(parsed)


def test_junk_inside_a_record_costs_that_record_only(shared_data: Path, tmp_path: Path) -> None:
    data = _rrc15_plain(shared_data)
    offsets = _record_offsets(data)
    at = offsets[3000] + 40  # inside record 3000, after its BGP marker
    path = tmp_path / "rrc15-junk.mrt"
    path.write_bytes(data[:at] + b"\x00" * 25 + data[at:])
    parsed = read_mrt(path)
    # record 3000 now ends 25 bytes early and is followed by junk: framing keeps the chain, the
    # layout check or the parser rejects the record; every other record is read
    assert parsed.records_read == 6614
    positions = {s.position for s in parsed.skipped}
    assert f"byte {offsets[3000]}" in positions
    assert len(parsed.skipped) == 2


def test_truncated_gzip_keeps_what_was_read(shared_data: Path, tmp_path: Path) -> None:
    raw = (shared_data / RRC15_1600).read_bytes()
    path = tmp_path / "updates.20100227.1600.gz"
    path.write_bytes(raw[: len(raw) // 2])
    parsed = read_mrt(path)
    assert 2000 < parsed.records_read < 6615
    assert any("gzip stream ends early" in s.reason for s in parsed.skipped)
    assert parsed.points


def test_gzip_members_padding_and_damage() -> None:
    """ISA-L inflates as zlib does: members end to end, trailing zero padding, and at a damaged
    member the members before it are kept and the damage is one skip at its compressed offset."""
    text = b"".join(i.to_bytes(4, "big") for i in range(100_000))
    one, two = gzip.compress(text, 6, mtime=0), gzip.compress(text[::-1], 1, mtime=0)
    data, skip = mrt.decompress(one + two + bytes(700), "two.gz")
    assert data == text + text[::-1] and skip is None
    damaged = bytearray(two)
    damaged[-8] ^= 0xFF  # the second member's CRC-32
    data, skip = mrt.decompress(one + bytes(damaged), "crc.gz")
    assert data[: len(text)] == text and skip is not None
    assert skip.position == f"compressed byte {len(one)}" and "corrupt gzip data" in skip.reason


def test_progress_reaches_the_total(shared_data: Path) -> None:
    calls: list[tuple[int, int]] = []
    path = shared_data / RIS / "rrc15" / "2010.02" / "updates.20100227.1610.gz"
    read_mrt(path, lambda done, total: calls.append((done, total)))
    total = path.stat().st_size
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_bzip2_input(shared_data: Path) -> None:
    parsed = read_mrt(shared_data / "mrt" / "bgpkit-example-updates.bz2")
    assert parsed.records_read == 85
    assert "read 268 routes (159 announcements, 109 withdrawals)" in _routes_note(parsed)
    assert {p.source for p in parsed.points} == {"mrt"}


# -- input that is no MRT at all ----------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty file") as err:
        read_mrt(path)
    assert err.value.path == str(path)
    assert "\n" not in str(err.value)


def test_empty_gzip(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(InputError, match="no data after decompression"):
        read_mrt(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        read_mrt(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_mrt(tmp_path / "nothing.gz")


def test_csv_is_not_mrt(shared_data: Path) -> None:
    path = shared_data / "monash-ip-observatory" / "ven-2019-07-22_gif.csv"
    with pytest.raises(InputError, match="not an MRT file") as err:
        read_mrt(path)
    assert err.value.position == "byte 0"
    assert "\n" not in str(err.value)


def test_gzipped_text_is_not_mrt(tmp_path: Path) -> None:
    path = tmp_path / "notes.gz"
    path.write_bytes(gzip.compress(b"time,country,value\n1,IR,3\n" * 10))
    with pytest.raises(InputError, match="not an MRT file"):
        read_mrt(path)


# -- geolocation ------------------------------------------------------------------------------------------


def test_geolocation() -> None:
    geo = default_locator()
    assert geo.country("193.0.0.1") == "NL"  # RIPE NCC, Amsterdam
    assert geo.country("8.8.8.0") == "US"
    assert geo.country("10.0.0.1") is None  # private space
    assert geo.country(ipaddress.ip_address("2001:67c:2e8::1")) == "NL"
    assert geo.database_date().date().isoformat() == "2018-07-03"
    assert geo.database_type() == "GeoLite2-City"


def test_metadata_read_without_maxminddb() -> None:
    """The database's metadata, read from the file by geo.read_metadata, is maxminddb's; the bulk
    IPv4 walk and the metadata need no maxminddb import (~35 ms a process), a single lookup does."""
    geo = GeoLocator()
    ours, theirs = geo.metadata(), geo._open().metadata()
    assert (ours.node_count, ours.record_size, ours.ip_version, ours.build_epoch, ours.database_type) == (
        theirs.node_count, theirs.record_size, theirs.ip_version, theirs.build_epoch, theirs.database_type,
    )  # fmt: skip
    with pytest.raises(ValueError, match="metadata"):
        read_metadata(b"\0" * 1000)
    code = (
        "import sys, numpy as np; from lightsout.attribution.geo import GeoLocator; g = GeoLocator(); "
        "got = g.countries_v4(np.array([0xC1000001], dtype=np.uint32)), g.database_type(); "
        "print(got, 'maxminddb' in sys.modules, g.country('2001:67c:2e8::1'), 'maxminddb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["(['NL'],", "'GeoLite2-City')", "False", "NL", "True"]


def test_batch_geolocation_equals_the_readers_lookups() -> None:
    """countries_v4 walks the database's tree with numpy and reads only the country of each record;
    it must answer exactly what the maxminddb reader's full lookup answers."""
    import random

    import numpy as np

    rng = random.Random(20261203)
    values = [rng.randrange(0, 2**32) for _ in range(3000)]
    values += [int(ipaddress.IPv4Address(a)) for a in ("193.0.0.1", "8.8.8.0", "10.0.0.1", "196.223.14.55")]
    batch = GeoLocator().countries_v4(np.array(values, dtype=np.uint32))
    one_by_one = GeoLocator()
    assert batch == [one_by_one.country(str(ipaddress.IPv4Address(v))) for v in values]
    assert batch[-4:-1] == ["NL", "US", None]
    assert sum(1 for c in batch if c is not None) > 1500
