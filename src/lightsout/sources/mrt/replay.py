"""Replay of the routes into routing visibility per origin AS and country, per 5-minute bin.

Output, in 5-minute bins: for every origin AS (``network/AS<n>``) and every country the prefix's
network address geolocates to (:mod:`lightsout.attribution.geo`), ``bgp_prefixes`` (prefixes
visible) and ``bgp_slash24s`` (the union of the IPv4 space they cover, in /24 units: nested or
overlapping prefixes are counted once, prefixes longer than /24 are left out, IPv6 prefixes count
toward ``bgp_prefixes`` only). A value is the state at the end of each bin in which the file has
records; ``samples`` is the number of full-feed peers behind it.

Method. The file is replayed as one routing table per peer: RIB dump entries (TABLE_DUMP,
TABLE_DUMP_V2) fill it, announcements replace a peer's route for a prefix, withdrawals remove it,
and a peer whose BGP session leaves the Established state (a state-change record) loses its whole
table, as the BGP session reset implies. Record times come from the MRT headers.

Full-feed peers. A peer is full-feed when its table, at its largest during the file, holds at least
``FULL_FEED_FRACTION`` (50 %) of the prefixes of the largest peer table in the file. Absolute
thresholds such as IODA's 400k prefixes only fit today's table size (the whole table was ~75k
prefixes in 2000 and ~320k in 2010); a threshold relative to the file's largest peer works in
every era. 50 % separates the two kinds of peer that collectors have: on the January 2000 RIS
bview in the test data the six full-feed peers hold 91-100 % of the largest table and the only
other peer (a customer feed) holds 20 %, so any cut between ~25 % and ~90 % gives the same set,
and 50 % sits in the middle of that gap. A prefix is visible when at least ``MIN_FULL_FEED_PEERS``
(one) full-feed peer has a route to it: a shutdown withdraws the prefix at its origin, so it leaves
every peer's table; requiring a share of the peers instead would make the count jump whenever one
of the few full-feed peers (six in 2000) resets its session, and in an update file, whose tables
hold only what each peer (re)announced in its few minutes, it would count almost nothing.
Routes from peers that are not full-feed are left out. A route whose AS path ends in an AS_SET
counts for every AS of the set (an aggregate covers space of each of them).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lightsout.attribution.entities import make_asn_network, make_country
from lightsout.attribution.geo import GeoLocator
from lightsout.model import Entity, SignalKind, SignalPoint
from lightsout.sources.mrt.decode import PeerDown
from lightsout.sources.mrt.parser import Route

BIN_S = 300
FULL_FEED_FRACTION = 0.5  # of the largest peer table in the file; see the module docstring
MIN_FULL_FEED_PEERS = 1  # full-feed peers that must see a prefix for it to count as visible


@dataclass(frozen=True, slots=True)
class PrefixInfo:
    """A prefix seen in the file: its /24 interval (IPv4 up to /24 only) and its network address."""

    text: str  # normalised, host bits cleared
    address: str  # the network address, which geolocation places
    slash24_start: int
    slash24_size: int  # 0: not counted in bgp_slash24s (IPv6, or longer than /24)


Origins = tuple[int, ...]


@dataclass(slots=True)
class _Value:
    prefixes: int
    slash24s: int


@dataclass(slots=True)
class RoutingTables:
    """Every peer's routes (prefix -> origin ASes) and its largest table so far: what a collector's
    next file continues (``lightsout.sources.CarryState``, key ``mrt/<collector>``)."""

    tables: dict[str, dict[str, Origins]]
    peaks: dict[str, int]

    def dump(self) -> bytes:
        payload = {"tables": {p: [[t, list(o)] for t, o in r.items()] for p, r in self.tables.items()},
                   "peaks": self.peaks}  # fmt: skip
        return zlib.compress(json.dumps(payload, separators=(",", ":")).encode(), 6)

    @classmethod
    def load(cls, payload: bytes) -> RoutingTables:
        data = json.loads(zlib.decompress(payload))
        tables = {p: {t: tuple(o) for t, o in r} for p, r in data["tables"].items()}
        return cls(tables, {p: int(n) for p, n in data["peaks"].items()})


@dataclass(slots=True)
class Replay:
    """The visibility counts per bin, after replaying the routes of full-feed peers."""

    full_feed: list[str] = field(default_factory=list)
    peer_peaks: dict[str, int] = field(default_factory=dict)
    bins: list[tuple[int, dict[int, _Value], dict[str, _Value]]] = field(default_factory=list)
    prefixes: list[PrefixInfo] = field(default_factory=list)
    asns: set[int] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    located: int = 0  # prefixes geolocated (those full-feed peers saw)
    unlocated: int = 0  # of which the database knows no country
    final: RoutingTables | None = None  # every peer's table at the end, for the next file

    def points(self, source: str) -> list[SignalPoint]:
        out: list[SignalPoint] = []
        samples = len(self.full_feed)
        for bin_start, by_asn, by_country in self.bins:
            start = datetime.fromtimestamp(bin_start, UTC)
            for entity_id, value in _entity_values(by_asn, by_country):
                out.append(SignalPoint(entity_id, SignalKind.BGP_PREFIXES, source, start, BIN_S,
                                       float(value.prefixes), samples))  # fmt: skip
                out.append(SignalPoint(entity_id, SignalKind.BGP_SLASH24S, source, start, BIN_S,
                                       float(value.slash24s), samples))  # fmt: skip
        return out

    def entities(self) -> list[Entity]:
        return [make_asn_network(asn) for asn in sorted(self.asns)] + [
            make_country(cc) for cc in sorted(self.countries)
        ]

    def value(self, bin_start: int, entity_id: str) -> _Value | None:
        """The value of one entity in one bin (for tests and tools)."""
        for start, by_asn, by_country in self.bins:
            if start == bin_start:
                for eid, value in _entity_values(by_asn, by_country):
                    if eid == entity_id:
                        return value
        return None


def _entity_values(by_asn: dict[int, _Value], by_country: dict[str, _Value]) -> Iterator[tuple[str, _Value]]:
    for asn, value in by_asn.items():
        yield f"network/AS{asn}", value
    for cc, value in by_country.items():
        yield f"country/{cc}", value


def slash24_union(intervals: list[tuple[int, int]]) -> int:
    """Size of the union of ``(start, size)`` intervals, in the intervals' unit."""
    total, covered_to = 0, -1
    for start, size in sorted(intervals):
        end = start + size
        if end <= covered_to:
            continue
        total += end - max(start, covered_to)
        covered_to = end
    return total


class _Counter:
    """Visible prefixes per origin AS and per country, kept up to date route by route.

    A (prefix, origin) pair is visible while at least one full-feed peer has it; a prefix counts
    for its country while any full-feed peer has a route to it. The sets change only on those
    0 <-> 1 transitions, and a prefix is geolocated the first time it becomes visible. /24 unions
    are recomputed at the end of a bin, and only for the entities whose sets changed in it.
    """

    def __init__(self, prefixes: list[PrefixInfo], locator: GeoLocator) -> None:
        self.prefixes = prefixes
        self.locator = locator
        self.country: dict[int, str | None] = {}
        self.pair_peers: dict[tuple[int, int], int] = {}
        self.prefix_peers: dict[int, int] = {}
        self.by_asn: dict[int, set[int]] = {}
        self.by_country: dict[str, set[int]] = {}
        self.dirty_asn: set[int] = set()
        self.dirty_country: set[str] = set()
        self.values_asn: dict[int, _Value] = {}
        self.values_country: dict[str, _Value] = {}

    def _country(self, pid: int) -> str | None:
        cc = self.country.get(pid, "")
        if cc == "":
            cc = self.country[pid] = self.locator.country(self.prefixes[pid].address)
        return cc

    def add(self, pid: int, origins: Origins) -> None:
        n = self.prefix_peers.get(pid, 0)
        self.prefix_peers[pid] = n + 1
        if n == 0:
            cc = self._country(pid)
            if cc is not None:
                self.by_country.setdefault(cc, set()).add(pid)
                self.dirty_country.add(cc)
        for asn in origins:
            key = (pid, asn)
            m = self.pair_peers.get(key, 0)
            self.pair_peers[key] = m + 1
            if m == 0:
                self.by_asn.setdefault(asn, set()).add(pid)
                self.dirty_asn.add(asn)

    def remove(self, pid: int, origins: Origins) -> None:
        n = self.prefix_peers[pid] - 1
        if n:
            self.prefix_peers[pid] = n
        else:
            del self.prefix_peers[pid]
            cc = self.country[pid]
            if cc is not None:
                self.by_country[cc].discard(pid)
                self.dirty_country.add(cc)
        for asn in origins:
            key = (pid, asn)
            m = self.pair_peers[key] - 1
            if m:
                self.pair_peers[key] = m
            else:
                del self.pair_peers[key]
                self.by_asn[asn].discard(pid)
                self.dirty_asn.add(asn)

    def _value(self, pids: set[int]) -> _Value:
        prefixes = self.prefixes
        intervals = [(p.slash24_start, p.slash24_size) for p in (prefixes[i] for i in pids) if p.slash24_size]
        return _Value(len(pids), slash24_union(intervals))

    def snapshot(self) -> tuple[dict[int, _Value], dict[str, _Value]]:
        for asn in self.dirty_asn:
            self.values_asn[asn] = self._value(self.by_asn[asn])
        for cc in self.dirty_country:
            self.values_country[cc] = self._value(self.by_country[cc])
        self.dirty_asn.clear()
        self.dirty_country.clear()
        return dict(self.values_asn), dict(self.values_country)


def parse_prefix(text: str) -> tuple[int, int, int]:
    """``(version, network as int, length)`` of a prefix in text; host bits are cleared."""
    addr, _, length_text = text.partition("/")
    if ":" in addr:
        net = ipaddress.IPv6Network(text, strict=False)
        return 6, int(net.network_address), net.prefixlen
    length = int(length_text) if length_text else 32
    if not 0 <= length <= 32:
        raise ValueError(f"prefix length {length}")
    value = int.from_bytes(socket.inet_aton(addr), "big")
    return 4, value & ~((1 << (32 - length)) - 1) & 0xFFFFFFFF, length


def _prefix_info(key: tuple[int, int, int]) -> PrefixInfo:
    version, value, length = key
    if version == 4:
        address = socket.inet_ntoa(value.to_bytes(4, "big"))
        start, size = (value >> 8, 1 << (24 - length)) if length <= 24 else (0, 0)
        return PrefixInfo(f"{address}/{length}", address, start, size)
    address = str(ipaddress.IPv6Address(value))
    return PrefixInfo(f"{address}/{length}", address, 0, 0)


def replay_routes(
    routes: list[Route | PeerDown], locator: GeoLocator, prior: RoutingTables | None = None
) -> Replay:
    """Two passes over the routes: find the full-feed peers, then count what they see per bin.

    ``prior``: the collector's tables at the end of its previous file; the routes continue them."""
    replay = Replay()
    ids_by_text: dict[str, int] = {}
    ids_by_key: dict[tuple[int, int, int], int] = {}

    def prefix_id(text: str) -> int:
        pid = ids_by_text.get(text)
        if pid is None:
            key = parse_prefix(text)
            pid = ids_by_key.get(key)
            if pid is None:
                pid = ids_by_key[key] = len(replay.prefixes)
                replay.prefixes.append(_prefix_info(key))
            ids_by_text[text] = pid
        return pid

    # Pass 1: per-peer tables, to find each peer's largest table; prefixes get small integer ids.
    events: list[tuple[int, str, int, Origins | None]] = []  # (time, peer, prefix id or -1, origins)
    tables: dict[str, dict[int, Origins]] = {}
    peaks: dict[str, int] = {}
    seeded: dict[str, dict[int, Origins]] = {}
    if prior is not None:
        for peer, routes_of_peer in prior.tables.items():
            seeded[peer] = {prefix_id(text): origins for text, origins in routes_of_peer.items()}
            tables[peer] = dict(seeded[peer])
        peaks.update(prior.peaks)
    for route in routes:
        if isinstance(route, PeerDown):
            tables.pop(route.peer, None)
            events.append((route.timestamp, route.peer, -1, None))
            continue
        pid = prefix_id(route.prefix)
        events.append((route.timestamp, route.peer, pid, route.origins))
        table = tables.setdefault(route.peer, {})
        if route.origins is None:
            table.pop(pid, None)
        else:
            table[pid] = route.origins
            if len(table) > peaks.get(route.peer, 0):
                peaks[route.peer] = len(table)
    replay.peer_peaks = dict(sorted(peaks.items(), key=lambda kv: -kv[1]))
    largest = max(peaks.values(), default=0)
    full = {peer for peer, peak in peaks.items() if largest and peak >= FULL_FEED_FRACTION * largest}
    replay.full_feed = sorted(full)

    replay.final = RoutingTables(
        {peer: {replay.prefixes[pid].text: o for pid, o in table.items()} for peer, table in tables.items()},
        dict(peaks),
    )

    # Pass 2: the full-feed peers' tables, counted per bin.
    counter = _Counter(replay.prefixes, locator)
    tables = {}
    for peer in full & seeded.keys():
        tables[peer] = dict(seeded[peer])
        for seeded_pid, seeded_origins in tables[peer].items():
            counter.add(seeded_pid, seeded_origins)
    current_bin: int | None = None
    for ts, peer, pid, origins in events:
        bin_start = ts - ts % BIN_S  # a bin with routes from any peer gets a value
        if current_bin is None:
            current_bin = bin_start
        elif bin_start > current_bin:
            replay.bins.append((current_bin, *counter.snapshot()))
            current_bin = bin_start
        if peer not in full:
            continue
        table = tables.setdefault(peer, {})
        if pid < 0:  # session down: every route of the peer is gone
            for gone_pid, gone in table.items():
                counter.remove(gone_pid, gone)
            table.clear()
        elif origins is None:
            prev = table.pop(pid, None)
            if prev is not None:
                counter.remove(pid, prev)
        else:
            if len(origins) > 1:
                origins = tuple(sorted(set(origins)))
            prev = table.get(pid)
            if prev != origins:
                if prev is not None:
                    counter.remove(pid, prev)
                table[pid] = origins
                counter.add(pid, origins)
    if current_bin is not None:
        replay.bins.append((current_bin, *counter.snapshot()))
    replay.asns = set(counter.values_asn)
    replay.countries = set(counter.values_country)
    replay.unlocated = sum(1 for cc in counter.country.values() if cc is None)
    replay.located = len(counter.country)
    return replay
