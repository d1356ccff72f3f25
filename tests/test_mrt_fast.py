"""The MRT reader's C fast path (``_fastmrt``) and C geolocation walk (``_fastgeo``) against the
pure-Python code they replace, on real files: the same points, notes, skips and stored tables.

The files cover what the fast path decodes itself (TABLE_DUMP_V2 RIB entries with and without
ADD-PATH, BGP4MP and BGP4MP_ET updates of 2- and 4-byte AS sessions, IPv4 and IPv6 peers) and what it
leaves to the Python decoder one record at a time (damaged framing, sessions going down, NLRI with
host bits set, over-long UPDATEs, deprecated MRT types, a peer index table). The counts per origin
AS themselves are checked against bgpdump in test_mrt.py and test_mrt_carry.py, which run on
whichever path is built.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from lightsout.attribution.geo import RANGES_FILE, GeoLocator, read_ranges
from lightsout.sources import CarryState, Parsed, mrt
from lightsout.sources.mrt import read_mrt
from lightsout.sources.mrt.tables import RouteTables, key_of_text

BUILT = importlib.util.find_spec("lightsout.sources.mrt._fastmrt") is not None
GEO_BUILT = importlib.util.find_spec("lightsout.attribution._fastgeo") is not None
pytestmark = pytest.mark.skipif(not BUILT, reason="the C extension is not built (pip install -e . builds it)")

COLLECTORS = Path("mrt") / "collectors"
FILES = [
    Path("mrt") / "ripe-ris" / "rrc15" / "2010.02" / "updates.20100227.1600.gz",  # BGP4MP AS4, state changes
    Path("mrt") / "ripe-ris" / "rrc00" / "2000.03" / "updates.20000325.0345.gz",  # damaged framing
    Path("mrt") / "ripe-ris" / "rrc00" / "1999.12" / "updates.19991214.1621.gz",  # deprecated type 5
    Path("mrt") / "bgpkit-example-updates.bz2",  # BGP4MP_ET, IPv6 peers
    COLLECTORS / "rrc23" / "rrc23.updates.20220421.0200.gz",  # 2022, 30 peers
    COLLECTORS / "bgpdump-test_data" / "updates.long_withdrawal.gz",  # RFC 8654 extended messages
    COLLECTORS / "bgpdump-test_data" / "updates.nlri_mask_trailing_bits.gz",  # host bits set
    COLLECTORS / "bgpdump-test_data" / "bview.ipv4_unicast_add_path.gz",  # TABLE_DUMP_V2 ADD-PATH
    COLLECTORS / "bgpdump-test_data" / "bview.ipv6_unicast_add_path.gz",
    COLLECTORS / "pyasn-truncated" / "rib.20140523.0600_firstMB.bz2",  # TABLE_DUMP_V2, many peers, cut
]


def _same(fast: Parsed, pure: Parsed) -> None:
    assert fast.records_read == pure.records_read
    assert fast.skipped == pure.skipped
    assert fast.notes == pure.notes
    assert sorted(fast.points, key=repr) == sorted(pure.points, key=repr)
    assert fast.entities == pure.entities
    assert fast.carry is not None and pure.carry is not None
    assert _contents(fast.carry.payload) == _contents(pure.carry.payload)


def _contents(payload: bytes) -> dict[str, object]:
    """What stored tables hold: prefix and origin-set ids, every peer's table, peaks, entities
    seen, and each prefix's country as a code (the codes' numbering follows lookup order)."""
    state = RouteTables.load(payload)
    n = len(state.keys)
    countries = [] if state.country_of is None else state.country_of[:n].tolist()
    return {
        "keys": state.keys,
        "origin_sets": state.origin_sets,
        "tables": {peer: bytes(table)[: 4 * n] for peer, table in state.tables.items()},
        "sizes": state.sizes,
        "peaks": state.peaks,
        "known": (state.known_asns, state.known_countries, state.next_file_s, state.synced),
        "countries": [state.country_codes[i] if i >= 0 else i for i in countries],
    }


@pytest.mark.parametrize("name", FILES, ids=lambda p: p.name)
def test_fast_path_reads_as_the_python_decoder(shared_data: Path, name: Path) -> None:
    path = shared_data / name
    fast, pure = read_mrt(path), read_mrt(path, fast=False)
    _same(fast, pure)
    assert fast.records_read > 0


def test_fast_path_continues_carried_tables(shared_data: Path, tmp_path: Path) -> None:
    """A RIB dump, then an update file continuing its tables (re-dated to be the next file: the
    routes of rrc23 in 2022 on the tables of a 2014 RIB), each read both ways."""
    rib = shared_data / COLLECTORS / "pyasn-truncated" / "rib.20140523.0600_firstMB.bz2"
    updates = tmp_path / "updates.20140523.0600.gz"  # the RIB's collector ("mrt"), its next file
    shutil.copy(shared_data / COLLECTORS / "rrc23" / "rrc23.updates.20220421.0200.gz", updates)
    first = read_mrt(rib, hand_over=True)  # the tables stay in memory for the next file
    carried = first.carry
    assert carried is not None
    assert RouteTables.load(carried.payload).routes() > 10_000

    def load(_key: str) -> CarryState | None:
        return carried

    held = mrt._HANDED._held
    assert held is not None and held[0] is carried.payload
    fast = read_mrt(updates, load_carry=load)  # continues the tables handed over
    assert mrt._HANDED._held is None  # taken once
    pure = read_mrt(updates, load_carry=load, fast=False)  # rebuilt from the stored bytes
    assert any(n.startswith("continues the collector's tables") for n in fast.notes)
    _same(fast, pure)
    _same(fast, read_mrt(updates, load_carry=load))  # the C path on the rebuilt tables


@pytest.mark.skipif(not GEO_BUILT, reason="the C geolocation extension is not built")
def test_c_geolocation_walk_equals_numpy_walk() -> None:
    rng = np.random.default_rng(7)
    anywhere = rng.integers(0, 2**32, 20_000, dtype=np.uint64).astype(np.uint32)
    network_addresses = (rng.integers(1 << 24, 224 << 24, 20_000, dtype=np.uint64) & 0xFFFFFF00).astype(
        np.uint32
    )
    addresses = np.concatenate([anywhere, network_addresses, anywhere[:100]])  # repeats, unsorted
    fast, slow, ranges = GeoLocator(), GeoLocator(), GeoLocator()
    fast.use_ranges = False
    slow.use_fast = False
    codes_fast: list[str] = []
    codes_slow: list[str] = []
    got_fast = fast.country_indexes_v4(addresses, codes_fast, {})
    got_slow = slow.country_indexes_v4(addresses, codes_slow, {})
    assert fast._walker() is not None and slow._walker() is None
    as_codes = [codes_fast[i] if i >= 0 else None for i in got_fast.tolist()]
    assert as_codes == [codes_slow[i] if i >= 0 else None for i in got_slow.tolist()]
    assert sum(c is not None for c in as_codes) > 20_000
    assert ranges.countries_v4(addresses) == as_codes and ranges._ranges() is not None


@pytest.mark.skipif(not GEO_BUILT, reason="the C geolocation extension is not built")
def test_ipv6_walk_equals_the_readers_lookups(shared_data: Path) -> None:
    """IPv6 prefixes are placed in bulk (C walk, numpy walk) as the maxminddb reader places each:
    the network addresses of a 2015 route-views6 RIB's prefixes, IPv4-mapped and 6to4 space."""
    rib6 = shared_data / COLLECTORS / "pyasn-truncated" / "rib6.20151101.0600_firstMB.bz2"
    carried = read_mrt(rib6).carry
    assert carried is not None
    state = RouteTables.load(carried.payload)
    rows = [key[2:].ljust(16, b"\0") for key in state.keys if key[0] == 0x80]
    rows += [bytes(10) + b"\xff\xff" + bytes((193, 0, 0, i)) for i in range(4)]  # ::ffff:193.0.0.i
    rows.append(b"\x20\x02\x08\x08\x08\x08" + bytes(10))  # 6to4 of 8.8.8.8
    addresses = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, 16)
    reader = GeoLocator()
    want = [reader.country(str(ipaddress.IPv6Address(row))) for row in rows]
    for fast in (True, False):
        locator = GeoLocator()
        locator.use_fast = fast
        codes: list[str] = []
        got = locator.country_indexes_v6(addresses, codes, {})
        assert [codes[i] if i >= 0 else None for i in got.tolist()] == want
    assert len(rows) > 6000 and sum(c is not None for c in want) > 6000
    assert want[-5:] == ["NL", "NL", "NL", "NL", "US"]


@pytest.mark.skipif(not GEO_BUILT, reason="the C geolocation extension is not built")
def test_country_ranges_are_the_databases() -> None:
    """The packaged country ranges (scripts/build-geo-ranges.py) answer as the tree walk does on
    both sides of every range boundary, and are used only for the database they were derived
    from: another database's metadata, or a damaged file, and the tree is walked."""
    ranges, walk = GeoLocator(), GeoLocator()
    walk.use_ranges = False
    table = ranges._ranges()
    assert table is not None, "the country ranges do not fit the installed GeoLite2 database"
    starts = table[0]
    probe = np.concatenate([starts, starts[1:] - 1, np.array([0xFFFFFFFF], dtype=np.uint32)])
    assert ranges.countries_v4(probe) == walk.countries_v4(probe)
    packed, meta = RANGES_FILE.read_bytes(), ranges.metadata()
    assert read_ranges(packed, meta._replace(build_epoch=meta.build_epoch + 1)) is None
    with pytest.raises(ValueError, match="damaged"):
        read_ranges(packed[:-100], meta)


def test_without_the_extensions(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without a C compiler: every import of the extensions fails, and the reader
    (decoder, table keys, stored tables, geolocation) gives the same result."""
    path = shared_data / FILES[0]
    built = read_mrt(path)
    monkeypatch.setitem(sys.modules, "lightsout.sources.mrt._fastmrt", None)
    monkeypatch.setitem(sys.modules, "lightsout.attribution._fastgeo", None)
    locator = GeoLocator()
    bare = read_mrt(path, locator=locator)
    assert locator._walker() is None
    _same(built, bare)
    assert built.carry is not None
    again = RouteTables.load(built.carry.payload)  # the keys split in Python
    assert again.dump() == built.carry.payload  # and joined in Python


V1_TABLES = Path(__file__).parent / "fixtures" / "tables-v1.updates.20100722.2015.bin"


def test_stored_tables_of_format_1_still_load(shared_data: Path) -> None:
    """Tables a store saved in format 1 (zlib) load as the same tables the reader makes now,
    and are saved again in format 3; a damaged or unknown payload is a ValueError."""
    old = V1_TABLES.read_bytes()
    assert old[:6] == b"LOTAB1"
    parsed = read_mrt(shared_data / COLLECTORS / "bgpdump-test_data" / "updates.20100722.2015.gz")
    assert parsed.carry is not None and parsed.carry.payload[:6] == b"LOTAB3"
    was, now = _contents(old), _contents(parsed.carry.payload)
    # the entities shown and the prefixes geolocated grew when the full-feed test was made per
    # address family (this file's IPv6 sessions became full feeds of their family): IPv6 only
    known_was, known_now = was.pop("known"), now.pop("known")
    assert known_was[0] < known_now[0] and known_was[1] <= known_now[1] and known_was[2:] == known_now[2:]
    countries_was, countries_now = was.pop("countries"), now.pop("countries")
    assert isinstance(countries_was, list) and isinstance(countries_now, list)
    state = RouteTables.load(old)
    v6 = state.v6_mask()[: len(state.keys)].tolist()
    pairs = list(zip(countries_was, countries_now, strict=True))
    assert all(a == b or (a == -2 and v6[i]) for i, (a, b) in enumerate(pairs))
    assert was == now
    # tables of format 1 carry no per-family peaks: they start from the per-family sizes as loaded
    assert (state.peaks_v4, state.peaks_v6) == state.family_sizes()
    assert sum(state.peaks_v6.values()) > 0 and sum(state.peaks_v4.values()) > 0
    again = RouteTables.load(old).dump()  # saved again in format 3, the same tables
    assert again[:6] == b"LOTAB3" and _contents(again) == _contents(old)
    loaded = RouteTables.load(again)
    assert (loaded.peaks_v4, loaded.peaks_v6) == (state.peaks_v4, state.peaks_v6)
    for bad in (b"", old[:20], parsed.carry.payload[:-9], b"LOTAB2" + parsed.carry.payload[6:]):
        with pytest.raises(ValueError):
            RouteTables.load(bad)


def test_stored_tables_round_trip() -> None:
    """Format 3 keeps AS_SETs, dense and sparse peer tables, IPv6 keys and no-country prefixes."""
    state = RouteTables()
    keys = [key_of_text(f"10.{i >> 8}.{i & 255}.0/24") for i in range(3000)] + [key_of_text("2001:db8::/32")]
    for key in keys:
        state.prefix_id(key)
    single, as_set = state.origin_id((64500,)), state.origin_id((65003, 65001, 65002))
    full, sparse = state.table("192.0.2.1"), state.table("2001:db8::1")
    for pid in range(len(keys)):
        full[pid] = as_set if pid % 7 == 0 else single
    sparse[5] = sparse[3000] = single
    state.sizes.update({"192.0.2.1": len(keys), "2001:db8::1": 2})
    state.peaks.update(state.sizes)
    # per-family peaks above the tables now (since the last RIB dump): kept as they are
    state.peaks_v4.update({"192.0.2.1": 3500, "2001:db8::1": 1})
    state.peaks_v6.update({"192.0.2.1": 1, "2001:db8::1": 40})
    state.known_asns = {64500, 65001, 65002, 65003, 4_200_000_000}
    state.country_codes = ["US", "NL"]
    state.country_of = np.array([i % 3 - 1 for i in range(len(keys))], dtype=np.int32)
    again = RouteTables.load(state.dump())
    assert again.origin_sets == [(), (64500,), (65001, 65002, 65003)]
    assert again.origin_id((65002, 65001, 65003)) == as_set
    assert again.keys == keys and again.ids == state.ids
    assert {p: bytes(t)[: 4 * len(keys)] for p, t in again.tables.items()} == {
        p: bytes(t)[: 4 * len(keys)] for p, t in state.tables.items()
    }
    assert again.sizes == state.sizes and again.known_asns == state.known_asns
    assert again.country_of.tolist() == state.country_of.tolist()
    assert (again.peaks_v4, again.peaks_v6) == (state.peaks_v4, state.peaks_v6)
    # 192.0.2.1 routes the 3,000 IPv4 keys and the IPv6 one; 2001:db8::1 one of each
    assert again.family_sizes() == ({"192.0.2.1": 3000, "2001:db8::1": 1}, {"192.0.2.1": 1, "2001:db8::1": 1})
    assert again.dump() == state.dump()


def test_stored_tables_of_format_3_without_family_peaks_still_load() -> None:
    """Format 3 tables saved before the full-feed test was made per address family have no
    ``peaks_v4`` / ``peaks_v6`` in their head: they load with the per-family sizes as peaks."""
    import json
    import struct

    from isal import isal_zlib

    state = RouteTables()
    table = state.table("2001:db8::1")
    for pid, text in enumerate(["10.0.0.0/24", "10.0.1.0/24", "2001:db8::/32"]):
        table[state.prefix_id(key_of_text(text))] = state.origin_id((64500 + pid,))
    state.sizes["2001:db8::1"] = 3
    state.peaks_v4["2001:db8::1"], state.peaks_v6["2001:db8::1"] = 9, 4
    payload = state.dump()
    body = isal_zlib.decompress(payload[10:])
    (size,) = struct.unpack_from(">Q", body)
    head = json.loads(body[8 : 8 + size])
    del head["peaks_v4"], head["peaks_v6"]
    old_head = json.dumps(head).encode()
    old = payload[:10] + isal_zlib.compress(struct.pack(">Q", len(old_head)) + old_head + body[8 + size :], 1)
    loaded = RouteTables.load(old)
    assert (loaded.peaks_v4, loaded.peaks_v6) == ({"2001:db8::1": 2}, {"2001:db8::1": 1})
    assert (RouteTables.load(payload).peaks_v4, RouteTables.load(payload).peaks_v6) == (
        {"2001:db8::1": 9},
        {"2001:db8::1": 4},
    )
