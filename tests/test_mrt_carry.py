"""A collector's MRT files as one replay, on the real route-views.jinx and rrc15 files.

Scenario (module fixture ``jinx``), in one store, in time order:

1. the real jinx RIB dump of 2014-05-30 22:00 UTC (one full IPv4 feed, 497k prefixes);
2. the real jinx update file of 23:45: the seven files between are not in the data, so this is a gap;
3. a copy of the RIB re-dated to 00:00 with every route of AS8402 removed (written by
   :func:`_rib_without`, which walks the TABLE_DUMP_V2 records by hand, drops the RIB entries
   whose AS path ends in AS8402, and adds 7,200 s to every header time);
4. the 23:45 update file re-dated to 00:00 (+900 s) with the UPDATEs whose AS path ends in
   AS8402 removed, so that it continues the 00:00 RIB as the next file of the sequence.
"""

from __future__ import annotations

import bz2
import gzip
import ipaddress
import shutil
import socket
import struct
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lightsout.ingest import ingest_file
from lightsout.model import IngestReport, SeriesKey, SignalKind
from lightsout.sources.mrt import read_mrt
from lightsout.store import Store, open_store

JINX = Path("mrt") / "collectors" / "route-views.jinx"
RIB = JINX / "routeviews.route-views.jinx.ribs.1401487200.bz2"
UPDATES = JINX / "routeviews.route-views.jinx.updates.1401493500.bz2"
RRC15 = Path("mrt") / "ripe-ris" / "rrc15" / "2010.02"
LONG = Path("mrt") / "collectors" / "bgpdump-test_data" / "updates.long_withdrawal.gz"
MASKED = Path("mrt") / "collectors" / "bgpdump-test_data" / "updates.nlri_mask_trailing_bits.gz"
FULL_PEER = "196.223.14.55"
REMOVED_AS = 8402


def _hm(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M")


def _series(store: Store, entity: str, signal: SignalKind, source: str) -> list[tuple[str, float]]:
    series = store.points(SeriesKey(entity, signal, source, 300))
    return [(_hm(int(t)), float(v)) for t, v in zip(series.times_s, series.values, strict=True)]


def _origin(attrs: bytes, width: int) -> int | None:
    """Last AS of the last AS_SEQUENCE of the AS_PATH in a block of path attributes."""
    pos, last = 0, None
    while pos < len(attrs):
        flags, code = attrs[pos], attrs[pos + 1]
        head = 4 if flags & 0x10 else 3
        length = struct.unpack_from(">H", attrs, pos + 2)[0] if flags & 0x10 else attrs[pos + 2]
        if code == 2:
            seg, s = attrs[pos + head : pos + head + length], 0
            while s < len(seg):
                kind, count = seg[s], seg[s + 1]
                if kind == 2 and count:
                    last = int.from_bytes(seg[s + 2 + width * (count - 1) : s + 2 + width * count], "big")
                s += 2 + width * count
        pos += head + length
    return last


def _records(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    off = 0
    while off < len(data):
        ts, kind, sub, length = struct.unpack_from(">IHHI", data, off)
        yield ts, kind, sub, data[off + 12 : off + 12 + length]
        off += 12 + length


def _rib_without(src: Path, asn: int, shift_s: int) -> tuple[bytes, set[str]]:
    """The TABLE_DUMP_V2 RIB with the entries whose path ends in ``asn`` dropped and every header
    time moved by ``shift_s``; also the prefixes the full-feed peer had from ``asn``."""
    out, removed = [], set()
    for ts, kind, sub, body in _records(bz2.decompress(src.read_bytes())):
        if kind == 13 and sub in (2, 4):
            plen = body[4]
            at = 5 + (plen + 7) // 8
            (count,) = struct.unpack_from(">H", body, at)
            pos, kept = at + 2, []
            for _ in range(count):
                (alen,) = struct.unpack_from(">H", body, pos + 6)
                entry = body[pos : pos + 8 + alen]
                pos += 8 + alen
                if _origin(entry[8:], 4) == asn:
                    if sub == 2:
                        removed.add(f"{socket.inet_ntoa(body[5:at].ljust(4, bytes(1)))}/{plen}")
                    continue
                kept.append(entry)
            if not kept:
                continue
            body = body[:at] + struct.pack(">H", len(kept)) + b"".join(kept)
        out.append(struct.pack(">IHHI", ts + shift_s, kind, sub, len(body)) + body)
    return b"".join(out), removed


def _updates_without(src: Path, asn: int, shift_s: int) -> bytes:
    """The BGP4MP update file with the UPDATEs whose path ends in ``asn`` dropped, re-dated."""
    out = []
    for ts, kind, sub, body in _records(bz2.decompress(src.read_bytes())):
        if kind == 16 and sub in (1, 4):
            width = 4 if sub == 4 else 2
            afi = struct.unpack_from(">H", body, 2 * width + 2)[0]
            msg = body[2 * width + 4 + (8 if afi == 1 else 32) :]
            if msg[18] == 2:
                (wlen,) = struct.unpack_from(">H", msg, 19)
                (alen,) = struct.unpack_from(">H", msg, 21 + wlen)
                if _origin(msg[23 + wlen : 23 + wlen + alen], width) == asn:
                    continue
        out.append(struct.pack(">IHHI", ts + shift_s, kind, sub, len(body)) + body)
    return b"".join(out)


@dataclass
class Jinx:
    store: Store
    reports: list[IngestReport]
    removed: set[str]


@pytest.fixture(scope="module")
def jinx(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jinx]:
    tmp = tmp_path_factory.mktemp("jinx")
    folder = tmp / "route-views.jinx"
    folder.mkdir()
    rib2, removed = _rib_without(shared_data / RIB, REMOVED_AS, 7200)
    (folder / "routeviews.route-views.jinx.ribs.1401494400").write_bytes(rib2)
    updates2 = _updates_without(shared_data / UPDATES, REMOVED_AS, 900)
    (folder / "routeviews.route-views.jinx.updates.1401494400").write_bytes(updates2)
    store = open_store(tmp / "jinx.duckdb")
    reports = [
        ingest_file(store, shared_data / RIB),
        ingest_file(store, shared_data / UPDATES),
        ingest_file(store, folder / "routeviews.route-views.jinx.ribs.1401494400"),
        ingest_file(store, folder / "routeviews.route-views.jinx.updates.1401494400"),
    ]
    yield Jinx(store, reports, removed)
    store.close()


def test_a_rib_dump_replaces_the_tables(jinx: Jinx) -> None:
    """Defect 1: AS8402 is gone from the second RIB dump, so it must fall to 0 there."""
    assert len(jinx.removed) == 1430  # AS8402's prefixes in the RIB (all from the full-feed peer)
    prefixes = _series(jinx.store, f"network/AS{REMOVED_AS}", SignalKind.BGP_PREFIXES, "route-views.jinx")
    slash24s = _series(jinx.store, f"network/AS{REMOVED_AS}", SignalKind.BGP_SLASH24S, "route-views.jinx")
    union = ipaddress.collapse_addresses(ipaddress.IPv4Network(p) for p in jinx.removed)
    expected_24s = sum(n.num_addresses for n in union) // 256  # type: ignore[misc]
    assert expected_24s == 8705
    assert prefixes[:2] == [("22:00", 1430.0), ("00:00", 0.0)]
    assert slash24s[:2] == [("22:00", 8705.0), ("00:00", 0.0)]
    assert any("RIB dump: replaces every peer's table; the gap is over" in n for n in jinx.reports[2].notes)
    # an AS that the copy keeps is unchanged
    kept = _series(jinx.store, "network/AS30844", SignalKind.BGP_PREFIXES, "route-views.jinx")
    assert kept[:2] == [("22:00", 381.0), ("00:00", 381.0)]  # 378 IPv4 + 3 IPv6 (recounted below)


def test_an_update_file_after_a_gap_gives_no_values(jinx: Jinx) -> None:
    """Defect 3: the 22:00 RIB is followed by the 23:45 update file; the seven files between are
    missing, so their withdrawals were never applied: no values until the next RIB dump."""
    gap = jinx.reports[1]
    assert gap.points_written == 0
    assert any(
        n.startswith(
            "gap: 7 update file(s) of route-views.jinx missing from 2014-05-30 22:00 UTC to 2014-05-30 23:45"
        )
        for n in gap.notes
    )
    times = [t for t, _ in _series(jinx.store, "country/ZA", SignalKind.BGP_PREFIXES, "route-views.jinx")]
    assert not [t for t in times if "22:05" <= t <= "23:55"]  # no point in the gap


def test_zero_is_a_value_in_later_files(jinx: Jinx) -> None:
    """Defect 4: the update file continuing the 00:00 RIB gives AS8402 an explicit 0 in every bin."""
    report = jinx.reports[3]
    assert any("continues the collector's tables as of 2014-05-31 00:00 UTC" in n for n in report.notes)
    prefixes = _series(jinx.store, f"network/AS{REMOVED_AS}", SignalKind.BGP_PREFIXES, "route-views.jinx")
    assert prefixes[1:] == [("00:00", 0.0), ("00:05", 0.0), ("00:10", 0.0)]  # records 00:00:11-00:14:42
    # the update file's own changes are applied on top of the RIB: AS30844 carried, still there
    kept = _series(jinx.store, "network/AS30844", SignalKind.BGP_PREFIXES, "route-views.jinx")
    assert [t for t, _ in kept] == ["22:00", "00:00", "00:05", "00:10"]
    assert all(v > 370 for _, v in kept)


def test_default_route_counts_toward_nothing(jinx: Jinx, shared_data: Path) -> None:
    """Defect 2: AS30844 announces 0.0.0.0/0 in the jinx RIB; it must not count 16,777,216 /24s.
    Checked against bgpdump's own reading of the file: the routes from AS30844 of the full feeds
    of each address family (the one IPv4 full feed, and the IPv6 sessions whose table holds >= 50 %
    of the largest IPv6 table: 70 and 61 of 70 prefixes), prefixes shorter than /8 (IPv4) or /12
    (IPv6) left out, /24 union with ipaddress."""
    bgpdump = shutil.which("bgpdump")
    if bgpdump is None:
        pytest.skip("bgpdump is not installed (scripts/ci-system-deps.sh installs it)")
    lines = subprocess.run(
        [bgpdump, "-m", str(shared_data / RIB)], capture_output=True, text=True, check=True
    )
    sizes: Counter[tuple[str, int]] = Counter()
    routes = []
    for line in lines.stdout.splitlines():
        f = line.split("|")
        sizes[f[3], 6 if ":" in f[5] else 4] += 1
        if f[6].split()[-1] == "30844":
            routes.append((f[3], ipaddress.ip_network(f[5])))
    full = {
        (peer, version)
        for (peer, version), n in sizes.items()
        if n >= 0.5 * max(m for (_, v), m in sizes.items() if v == version)
    }
    assert {peer for peer, version in full if version == 4} == {FULL_PEER}
    assert len({peer for peer, version in full if version == 6}) == 2
    nets = {net for peer, net in routes if (peer, net.version) in full}
    assert ipaddress.ip_network("0.0.0.0/0") in nets
    counted = [n for n in nets if n.prefixlen >= (8 if n.version == 4 else 12)]
    v4 = [n for n in counted if n.version == 4 and n.prefixlen <= 24]
    union = sum(n.num_addresses for n in ipaddress.collapse_addresses(v4)) // 256  # type: ignore[misc]
    assert (len(counted), sum(n.version == 4 for n in counted), union) == (381, 378, 167)
    slash24s = _series(jinx.store, "network/AS30844", SignalKind.BGP_SLASH24S, "route-views.jinx")
    assert slash24s[0] == ("22:00", 167.0)
    prefixes = _series(jinx.store, "network/AS30844", SignalKind.BGP_PREFIXES, "route-views.jinx")
    assert prefixes[0] == ("22:00", float(len(counted)))
    assert any("2 prefixes shorter than /8, /12" in n for n in jinx.reports[0].notes)


# -- rrc15: the next file in sequence continues; a missing one is a gap ---------------------------------


def _redated(src: Path, dst: Path, shift_s: int) -> Path:
    data = gzip.decompress(src.read_bytes())
    out = [struct.pack(">IHHI", ts + shift_s, k, s, len(b)) + b for ts, k, s, b in _records(data)]
    dst.write_bytes(b"".join(out))
    return dst


def test_update_file_continues_the_next_one(shared_data: Path, store: Store, tmp_path: Path) -> None:
    """rrc15's 16:10 file re-dated to 16:05 (-300 s) is the next file after 16:00: it continues the
    tables, and AS4766 (no route of its own in that file) stays at 1,430 prefixes."""
    ingest_file(store, shared_data / RRC15 / "updates.20100227.1600.gz")
    folder = tmp_path / "rrc15"
    folder.mkdir()
    nxt = _redated(shared_data / RRC15 / "updates.20100227.1610.gz", folder / "updates.20100227.1605", -300)
    second = ingest_file(store, nxt)
    assert any("continues the collector's tables as of 2010-02-27 16:05 UTC" in n for n in second.notes)
    series = _series(store, "network/AS4766", SignalKind.BGP_PREFIXES, "rrc15")
    assert series == [("16:00", 1430.0), ("16:05", 1430.0), ("16:10", 1430.0)]
    alone = read_mrt(nxt)
    assert not [p for p in alone.points if p.entity_id == "network/AS4766"]


def test_a_missing_update_file_is_a_gap(shared_data: Path, store: Store) -> None:
    """rrc15's 16:05 file is not in the data: the 16:10 file must not continue the 16:00 tables."""
    ingest_file(store, shared_data / RRC15 / "updates.20100227.1600.gz")
    later = ingest_file(store, shared_data / RRC15 / "updates.20100227.1610.gz")
    assert later.points_written == 0
    assert any(
        n.startswith("gap: 1 update file(s) of rrc15 missing from 2010-02-27 16:05 UTC") for n in later.notes
    )
    series = _series(store, "network/AS4766", SignalKind.BGP_PREFIXES, "rrc15")
    assert series == [("16:00", 1430.0), ("16:05", 1430.0)]


def test_out_of_order_file_is_replayed_on_its_own(shared_data: Path, store: Store) -> None:
    ingest_file(store, shared_data / RRC15 / "updates.20100227.1610.gz")
    earlier = ingest_file(store, shared_data / RRC15 / "updates.20100227.1600.gz")
    assert any("replayed on its own" in note for note in earlier.notes)
    series = _series(store, "network/AS4766", SignalKind.BGP_PREFIXES, "rrc15")
    assert series == [("16:00", 1430.0), ("16:05", 1430.0)]  # only the 16:00 file's own bins


# -- UPDATEs bgpdump reads and the library skipped ---------------------------------------------------------


def test_long_updates_are_read(shared_data: Path) -> None:
    """Defect 5: RFC 8654 extended messages (UPDATEs over 4,096 bytes): 4,096 withdrawals, as
    bgpdump -m prints them."""
    parsed = read_mrt(shared_data / LONG)
    assert parsed.skipped == []
    assert any(n.startswith("read 4096 routes (0 announcements, 4096 withdrawals)") for n in parsed.notes)
    bgpdump = shutil.which("bgpdump")
    if bgpdump:
        out = subprocess.run(
            [bgpdump, "-m", str(shared_data / LONG)], capture_output=True, text=True, check=True
        )
        assert sum(1 for line in out.stdout.splitlines() if line.split("|")[2] == "W") == 4096


def test_nlri_with_host_bits_is_read(shared_data: Path) -> None:
    """Defect 5: 11.13.0.0/13 has host bits set; bgpdump prints it, we read it as 11.8.0.0/13."""
    parsed = read_mrt(shared_data / MASKED)
    assert parsed.skipped == []
    assert any(n.startswith("read 1 routes (1 announcements, 0 withdrawals)") for n in parsed.notes)
    assert any(n.startswith("1 prefixes had host bits set") for n in parsed.notes)
    values = {(p.entity_id, p.signal): p.value for p in parsed.points}
    assert values[("network/AS51044", SignalKind.BGP_PREFIXES)] == 1
    assert values[("network/AS51044", SignalKind.BGP_SLASH24S)] == 2048  # a /13
