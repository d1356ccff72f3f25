"""Routing visibility per origin AS and country, per 5-minute bin, from a collector's tables.

Output, in 5-minute bins: for every origin AS (``network/AS<n>``) and every country the prefix's
network address geolocates to (:mod:`lightsout.attribution.geo`), ``bgp_prefixes`` (prefixes
visible) and ``bgp_slash24s`` (the union of the IPv4 space they cover, in /24 units: nested or
overlapping prefixes are counted once, prefixes longer than /24 are left out, IPv6 prefixes count
toward ``bgp_prefixes`` only). Prefixes shorter than /8 (IPv4) or /12 (IPv6), the default route
above all, count toward nothing (:data:`~lightsout.sources.mrt.tables.MIN_COUNTED_LEN`).

Method. The collector's routes are replayed as one routing table per peer
(:class:`~lightsout.sources.mrt.tables.RouteTables`): a RIB dump replaces every table, an
announcement replaces a peer's route for a prefix, a withdrawal removes it, and a peer whose BGP
session leaves the Established state loses its whole table. The value of a bin is the state of the
tables at its end, computed at once for every entity with numpy (:func:`snapshot`).

Full-feed peers. A peer is full-feed when its table, at its largest since the last RIB dump (the
carried peaks plus this file so far), holds at least ``FULL_FEED_FRACTION`` (50 %) of the prefixes
of the largest peer table. Absolute thresholds such as IODA's 400k prefixes only fit today's table
size (the whole table was ~75k prefixes in 2000 and ~320k in 2010); a threshold relative to the
largest peer works in every era. 50 % separates the two kinds of peer that collectors have: on the
January 2000 RIS bview in the test data the six full-feed peers hold 91-100 % of the largest table
and the only other peer (a customer feed) holds 20 %. A prefix is visible when at least one
full-feed peer has a route to it: a shutdown withdraws the prefix at its origin, so it leaves every
peer's table. Routes from peers that are not full-feed are left out. A route whose AS path ends in
an AS_SET counts for every AS of the set.

Zero is a value. Every entity the collector has shown since its first file gets a point in every bin
that data covers, 0 once all its prefixes are gone (the signal of a shutdown); a bin that no file
covers (a missing file, a collector down) gets no point at all: a gap, never an outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

from lightsout.attribution.entities import make_asn_networks, make_country
from lightsout.attribution.geo import GeoLocator
from lightsout.model import Entity, SignalKind, SignalPoint
from lightsout.sources.columns import PointColumns
from lightsout.sources.mrt.tables import AFI_V4, RouteTables, key_text

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BIN_S = 300
FULL_FEED_FRACTION = 0.5  # of the largest peer table; see the module docstring
MIN_FULL_FEED_PEERS = 1  # full-feed peers that must see a prefix for it to count as visible
_GROUP_SPAN = 1 << 26  # > 2**24 /24s of IPv4: groups laid end to end for one cumulative max


class Value(NamedTuple):
    """An entity's visible prefixes and /24s (a tuple: one is made per entity and bin)."""

    prefixes: int
    slash24s: int


@dataclass(slots=True)
class Bin:
    """The values of every entity at the end of one bin, and the full-feed peers behind them."""

    start_s: int
    by_asn: dict[int, tuple[int, int]]  # (prefixes, /24s): plain tuples, one per entity and bin
    by_country: dict[str, tuple[int, int]]
    full_feed: int


def full_feed_peers(state: RouteTables) -> list[str]:
    """Peers whose largest table holds >= FULL_FEED_FRACTION of the largest one."""
    largest = max(state.peaks.values(), default=0)
    if not largest:
        return []
    return sorted(
        p for p, n in state.peaks.items() if n >= FULL_FEED_FRACTION * largest and p in state.tables
    )


def full_feed_routes(state: RouteTables) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Every prefix a full-feed peer routes, once, with its origin set (the first such peer's)."""
    import numpy as np

    n = len(state.keys)
    seen = np.zeros(n, dtype=bool)
    for peer in full_feed_peers(state):
        table = np.frombuffer(state.tables[peer], dtype=np.uint32)[:n]
        fresh = np.flatnonzero((table != 0) & ~seen)
        seen[fresh] = True
        origins = table[fresh].tolist()
        del table
        for pid, oid in zip(fresh.tolist(), origins, strict=True):
            yield key_text(state.keys[pid]), state.origin_sets[oid]


def grouped_union(
    group: npt.NDArray[np.int64], start: npt.NDArray[np.int64], size: npt.NDArray[np.int64], groups: int
) -> npt.NDArray[np.int64]:
    """Per group, the size of the union of the intervals ``[start, start + size)`` (in /24s).

    Sorted by (group, start), the groups are laid end to end (``group * 2**26 + x``) so that one
    running maximum of the interval ends gives, for every interval, how far the earlier ones of its
    group already cover; what sticks out beyond that is new space."""
    import numpy as np

    if not len(group):
        return np.zeros(groups, dtype=np.int64)
    size_bits = int(size.max()).bit_length()
    end_bits = int((start + size).max()).bit_length()
    if int(size.min()) < 0 or int(start.min()) < 0 or groups.bit_length() + end_bits + size_bits > 62:
        key = group * _GROUP_SPAN + start
        order = np.argsort(key)  # ties (same group and start) in any order: the union is the same
        g = group[order]
        lo = key[order]
        hi = lo + size[order]
        covered = np.maximum.accumulate(hi)
        before = np.empty_like(covered)
        before[0] = -1
        before[1:] = covered[:-1]
        new = np.maximum(0, hi - np.maximum(lo, before))
        return np.bincount(g, weights=new, minlength=groups).astype(np.int64)
    # (group, start, size) packed in one int64 and sorted by value: 2-3x faster than an argsort of
    # the keys and three gathers, for the same order (ties aside, which change nothing). Groups lie
    # ``2**end_bits`` apart, beyond every interval's end, and the arithmetic is done in place: each
    # fresh array of a full table's pairs is megabytes of pages the kernel zeroes (perf).
    packed = np.left_shift(group, end_bits + size_bits)
    lo = np.left_shift(start, size_bits)
    packed |= lo
    packed |= size
    packed.sort()
    g = np.right_shift(packed, end_bits + size_bits)
    np.right_shift(packed, size_bits, out=lo)  # the group's base + start
    hi = np.bitwise_and(packed, (1 << size_bits) - 1, out=packed)
    hi += lo
    covered = np.maximum.accumulate(hi)
    np.maximum(lo[1:], covered[:-1], out=lo[1:])  # where the earlier intervals of the group reach
    hi -= lo
    np.maximum(hi, 0, out=hi)
    return np.bincount(g, weights=hi, minlength=groups).astype(np.int64)


class CountryCache:
    """Country index per prefix id, looked up once per prefix (its network address) and kept in the
    collector's tables (``RouteTables.country_of``), so later files only look up new prefixes."""

    def __init__(self, locator: GeoLocator, state: RouteTables) -> None:
        self.locator = locator
        self.state = state
        self.index = {cc: i for i, cc in enumerate(state.country_codes)}
        self.located = 0  # of the visible prefixes at the last snapshot
        self.unlocated = 0

    @property
    def codes(self) -> list[str]:
        return self.state.country_codes

    def countries(self, pids: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        import numpy as np

        state = self.state
        n = len(state.keys)
        known = state.country_of
        if known is None or len(known) < n:
            grown = np.full(max(n, 1024), -2, dtype=np.int32)
            if known is not None:
                grown[: len(known)] = known
            state.country_of = known = grown
        todo = pids[known[pids] == -2]
        if len(todo):
            address = state.prefix_info()[3][todo]
            v4, v6 = todo[address >= 0], todo[address < 0]
            codes, index = state.country_codes, self.index
            known[v4] = self.locator.country_indexes_v4(address[address >= 0].astype(np.uint32), codes, index)
            for pid in v6.tolist():
                cc = self.locator.country(key_text(state.keys[pid]).partition("/")[0])
                if cc is not None and cc not in index:
                    index[cc] = len(codes)
                    codes.append(cc)
                known[pid] = -1 if cc is None else index[cc]
        result: npt.NDArray[np.int32] = known[pids]
        self.unlocated = int((result == -1).sum())
        self.located = len(result) - self.unlocated
        return result


def snapshot(
    state: RouteTables, full: list[str], countries: CountryCache
) -> tuple[dict[int, tuple[int, int]], dict[str, tuple[int, int]]]:
    """Visible prefixes and /24s of every origin AS and country, from the full-feed peers' tables."""
    import numpy as np

    n = len(state.keys)
    if not full or not n:
        return {}, {}
    start_all, size_all, counted, _ = state.prefix_info()
    columns = [np.frombuffer(state.tables[p], dtype=np.uint32)[:n] for p in full]
    if len(columns) == 1:
        held = columns[0]
        pids = np.flatnonzero((held != 0) & counted)
        oids = held[pids].astype(np.int64)
        visible = pids
    else:
        stacked = np.sort(np.stack(columns), axis=0)
        keep = stacked != 0
        keep[1:] &= stacked[1:] != stacked[:-1]
        keep &= counted[None, :]
        rows, pids = np.nonzero(keep)
        oids = stacked[rows, pids].astype(np.int64)
        visible = np.flatnonzero(keep.any(axis=0))
        del stacked, keep
    del columns

    # (prefix, AS) pairs: an origin set of one AS maps straight; AS_SETs add a pair per member.
    sets = state.origin_sets
    single = state.single_origins()
    asns = single[oids]
    plain = asns >= 0
    pair_pid, pair_asn, pair_oid = pids[plain].astype(np.int64), asns[plain], oids[plain]
    extra_asns = asns[:0]  # the AS of each pair after pair_oid's, for pairs from AS_SETs
    multi = oids[~plain]
    # the ASes with a pair, sorted: from the origin sets in use (a few thousand), not the pairs
    used = np.flatnonzero(np.bincount(oids, minlength=len(sets)))
    asn_values = single[used]
    asn_values = asn_values[asn_values >= 0]
    if len(multi):
        # A single-AS origin set is one per AS, so plain pairs are distinct; only pairs of prefixes
        # that also have an AS_SET route can repeat.
        multi_pids = pids[~plain].astype(np.int64)
        extra_pid, extra_asn, members_all = [], [], [asn_values]
        for oid in _unique(multi).tolist():
            members = sets[oid]
            holders = multi_pids[multi == oid]
            members_all.append(np.array(members, dtype=np.int64))
            for asn in members:
                extra_pid.append(holders)
                extra_asn.append(np.full(len(holders), asn, dtype=np.int64))
        shared = np.zeros(n, dtype=bool)
        shared[multi_pids] = True
        repeat = shared[pair_pid]
        both = _unique(
            np.concatenate([pair_pid[repeat], *extra_pid]) * (1 << 32)
            + np.concatenate([pair_asn[repeat], *extra_asn])
        )
        pair_pid = np.concatenate([pair_pid[~repeat], both >> 32])
        pair_oid = pair_oid[~repeat]
        extra_asns = both & 0xFFFFFFFF
        asn_values = np.concatenate(members_all)
    asn_values = _unique(asn_values)

    by_asn: dict[int, tuple[int, int]] = {}
    if len(pair_pid):
        # a plain pair's AS through its origin set's (a gather, not a search per pair); pairs from
        # AS_SETs searched
        used_single = used[single[used] >= 0]
        group_of = np.zeros(len(sets), dtype=np.int64)
        group_of[used_single] = np.searchsorted(asn_values, single[used_single])
        group = group_of[pair_oid]
        if len(extra_asns):
            group = np.concatenate([group, np.searchsorted(asn_values, extra_asns)])
        counts = np.bincount(group, minlength=len(asn_values))
        sized = size_all[pair_pid] > 0
        unions = grouped_union(
            group[sized], start_all[pair_pid[sized]], size_all[pair_pid[sized]], len(asn_values)
        )
        by_asn = dict(
            zip(asn_values.tolist(), zip(counts.tolist(), unions.tolist(), strict=True), strict=True)
        )

    by_country: dict[str, tuple[int, int]] = {}
    visible = visible.astype(np.int64)
    found = countries.countries(visible)
    located = found >= 0
    if located.any():
        vis, cc = visible[located], found[located].astype(np.int64)
        groups = len(countries.codes)
        counts = np.bincount(cc, minlength=groups)
        sized = size_all[vis] > 0
        unions = grouped_union(cc[sized], start_all[vis[sized]], size_all[vis[sized]], groups)
        by_country = {
            countries.codes[i]: (int(counts[i]), int(unions[i])) for i in np.flatnonzero(counts).tolist()
        }
    return by_asn, by_country


def _unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The sorted distinct values: np.unique without its import of numpy.ma on first use (numpy
    2.4; 10-50 ms of a fresh process's first file)."""
    import numpy as np

    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    result: npt.NDArray[np.int64] = ordered[keep]
    return result


# The entity of each AS seen in this process (immutable): a worker reading a collector's files one
# after another names the same ~70k ASes in each file.
_AS_ENTITIES: dict[int, Entity] = {}


@dataclass(slots=True)
class Replay:
    """The bins a file gives, with the entities they name."""

    bins: list[Bin] = field(default_factory=list)
    asns: set[int] = field(default_factory=set)  # every AS with a point
    countries: set[str] = field(default_factory=set)
    full_feed: list[str] = field(default_factory=list)  # at the last bin
    peer_peaks: dict[str, int] = field(default_factory=dict)
    located: int = 0
    unlocated: int = 0

    def add(self, start_s: int, state: RouteTables, full: list[str], countries: CountryCache) -> None:
        """Close a bin: every entity the collector has shown gets its value (0 when gone)."""
        by_asn, by_country = snapshot(state, full, countries)
        state.known_asns.update(by_asn)  # every entity in a snapshot has a prefix
        state.known_countries.update(by_country)
        zero = (0, 0)
        for asn in state.known_asns.difference(by_asn):
            by_asn[asn] = zero
        for cc in state.known_countries.difference(by_country):
            by_country[cc] = zero
        self.bins.append(Bin(start_s, by_asn, by_country, len(full)))
        self.asns.update(by_asn)
        self.countries.update(by_country)
        self.full_feed = full
        self.peer_peaks = dict(sorted(state.peaks.items(), key=lambda kv: -kv[1]))
        self.located, self.unlocated = countries.located, countries.unlocated

    def point_columns(self, source: str) -> PointColumns:
        """Every bin's values as columns: per bin, per entity (its ASes, then its countries), a
        ``bgp_prefixes`` row and a ``bgp_slash24s`` row, ``samples`` the bin's full-feed peers. No
        object per point (a full table is ~200k of them): the parallel ingest sends these columns."""
        import numpy as np

        asns = sorted(set().union(*(b.by_asn for b in self.bins)))
        codes = sorted(set().union(*(b.by_country for b in self.bins)))
        words = [f"network/AS{asn}" for asn in asns] + [f"country/{cc}" for cc in codes]
        asn_index = np.array(asns, dtype=np.int64)
        cc_index = {cc: i for i, cc in enumerate(codes, start=len(asns))}
        entity, value, start, samples = [], [], [], []
        for b in self.bins:
            n_asn, n_cc = len(b.by_asn), len(b.by_country)
            ids = np.empty(n_asn + n_cc, dtype=np.int64)
            ids[:n_asn] = np.searchsorted(asn_index, np.fromiter(b.by_asn, dtype=np.int64, count=n_asn))
            ids[n_asn:] = np.fromiter(map(cc_index.__getitem__, b.by_country), dtype=np.int64, count=n_cc)
            entity.append(np.repeat(ids, 2))
            pairs = chain(chain.from_iterable(b.by_asn.values()), chain.from_iterable(b.by_country.values()))
            value.append(np.fromiter(pairs, dtype=np.float64, count=2 * len(ids)))  # (prefixes, /24s)
            start.append(np.full(2 * len(ids), b.start_s, dtype=np.int64))
            samples.append(np.full(2 * len(ids), b.full_feed, dtype=np.int64))
        rows = sum(map(len, value))
        empty = np.zeros(0, dtype=np.int64)
        return PointColumns(
            source,
            BIN_S,
            words,
            np.concatenate(entity) if entity else empty,
            [SignalKind.BGP_PREFIXES, SignalKind.BGP_SLASH24S],
            np.tile(np.array([0, 1], dtype=np.int64), rows // 2),
            np.concatenate(start) if start else empty,
            np.concatenate(value) if value else np.zeros(0, dtype=np.float64),
            np.concatenate(samples) if samples else empty,
        )

    def points(self, source: str) -> list[SignalPoint]:
        """:meth:`point_columns` as objects (sequential ingest, RIS Live, tests)."""
        return self.point_columns(source).points()

    def entities(self) -> list[Entity]:
        made = _AS_ENTITIES
        new = sorted(self.asns.difference(made))
        made.update(zip(new, make_asn_networks(new), strict=True))
        return [made[asn] for asn in sorted(self.asns)] + [make_country(cc) for cc in sorted(self.countries)]


    def value(self, bin_start: int, entity_id: str) -> Value | None:
        """The value of one entity in one bin (for tests and tools)."""
        for b in self.bins:
            if b.start_s == bin_start:
                for eid, value in _entity_values(b):
                    if eid == entity_id:
                        return Value(*value)
        return None


def _entity_values(b: Bin) -> Iterator[tuple[str, tuple[int, int]]]:
    for asn, value in b.by_asn.items():
        yield f"network/AS{asn}", value
    for cc, value in b.by_country.items():
        yield f"country/{cc}", value


class Replayer:
    """Applies a file's routes to the tables and closes bins as time passes.

    In a RIB dump (``rib=True``) the tables are replaced and the whole dump is one bin, at the time
    the dump started: it is one snapshot of the tables, however long writing it took. In update
    files every bin from the first record's to the last one's gets a value (a quiet bin repeats
    the state), closed when a record of a later bin arrives, and the last one at :meth:`finish`.
    """

    def __init__(self, state: RouteTables, locator: GeoLocator, *, rib: bool, emit: bool = True) -> None:
        self.state = state
        self.rib = rib
        self.emit = emit  # False after a gap: the tables are not trusted until a RIB dump
        self.countries = CountryCache(locator, state)
        self.replay = Replay()
        self.current_bin: int | None = None
        self.first_s: int | None = None
        self.last_s: int | None = None
        if rib:
            state.clear_routes()

    def at(self, ts: int) -> None:
        """Time moves to ``ts`` (a record's header time): close the bins before it."""
        if self.first_s is None:
            self.first_s = ts
        self.last_s = ts if self.last_s is None else max(self.last_s, ts)
        bin_start = ts - ts % BIN_S
        if self.current_bin is None:
            self.current_bin = bin_start
        elif bin_start > self.current_bin and not self.rib:
            while self.current_bin < bin_start:
                self._close(self.current_bin)
                self.current_bin += BIN_S

    def _close(self, bin_start: int) -> None:
        state = self.state
        state.note_peaks()
        if self.emit:
            self.replay.add(bin_start, state, full_feed_peers(state), self.countries)

    def finish(self) -> Replay:
        if self.current_bin is not None:
            self._close(self.current_bin)
        self.state.note_peaks()
        if not self.replay.peer_peaks:
            self.replay.peer_peaks = dict(sorted(self.state.peaks.items(), key=lambda kv: -kv[1]))
            self.replay.full_feed = full_feed_peers(self.state)
        return self.replay


def text_origins(state: RouteTables, peer: str, text: str, origins: tuple[int, ...] | None) -> None:
    """Apply one route given in text (tests, RIS Live): ``origins`` None is a withdrawal."""
    from lightsout.sources.mrt.tables import key_of_text

    pid = state.prefix_id(key_of_text(text))
    table = state.table(peer)
    old = table[pid]
    if origins is None:
        if old:
            table[pid] = 0
            state.sizes[peer] -= 1
        return
    table[pid] = state.origin_id(origins)
    if not old:
        state.sizes[peer] += 1
        if state.sizes[peer] > state.peaks.get(peer, 0):
            state.peaks[peer] = state.sizes[peer]


__all__ = [
    "AFI_V4",
    "BIN_S",
    "FULL_FEED_FRACTION",
    "MIN_FULL_FEED_PEERS",
    "Bin",
    "CountryCache",
    "Replay",
    "Replayer",
    "Value",
    "full_feed_peers",
    "full_feed_routes",
    "grouped_union",
    "snapshot",
    "text_origins",
]
