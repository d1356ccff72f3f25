"""The value of every origin AS and country at a bin's close, recounted from the whole tables.

:func:`snapshot` recounts from the whole tables of the full-feed peers, each peer's routes of the
address families it is full-feed in (:class:`FullFeed`; the method is in
:mod:`~lightsout.sources.mrt.replay`'s docstring): each visible prefix's origin ASes and country,
the prefixes per entity and the union of their IPv4 space in /24s (:func:`grouped_union`). On a
full table (~500-580k prefixes) that is ~0.1-0.4 s of CPU per bin. It also gives what the next bin
needs to recount only the prefixes that changed (:class:`SnapshotMemo`;
:mod:`~lightsout.sources.mrt.incremental` does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from lightsout.attribution.geo import GeoLocator
from lightsout.sources.mrt.tables import RouteTables

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_GROUP_SPAN = 1 << 26  # > 2**24 /24s of IPv4: groups laid end to end for one cumulative max
MULTI = 0xFFFFFFFF  # SnapshotMemo.vis_oid of a prefix the full-feed peers route with several origin sets

Values = tuple[dict[int, tuple[int, int]], dict[str, tuple[int, int]]]  # (by AS, by country)


class FullFeed(NamedTuple):
    """The full-feed peers of each address family (the test is in
    :func:`~lightsout.sources.mrt.replay.full_feed_peers`): a peer's routes to IPv4 prefixes count
    when it is in ``v4``, to IPv6 prefixes when it is in ``v6``."""

    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()

    @property
    def peers(self) -> list[str]:
        """Every peer that is full-feed in at least one family, sorted."""
        return sorted(set(self.v4) | set(self.v6))


def feed_columns(state: RouteTables, full: FullFeed, pids: Any) -> list[npt.NDArray[np.uint32]]:
    """The origin-set ids of the prefixes ``pids`` (an index: a slice or an array of prefix ids) in
    each full-feed peer's table, a route of a family the peer is not full-feed in read as none."""
    import numpy as np

    v4, v6 = set(full.v4), set(full.v6)
    is_v6 = state.v6_mask()[pids] if v4 != v6 else None
    columns = []
    for peer in full.peers:
        column = np.frombuffer(state.tables[peer], dtype=np.uint32)[pids]
        if is_v6 is not None and not (peer in v4 and peer in v6):
            column = np.where(is_v6 if peer in v4 else ~is_v6, np.uint32(0), column)
        columns.append(column)
    return columns


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

    def reserve(self) -> npt.NDArray[np.int32]:
        """``state.country_of`` grown to every prefix id (-2: not looked up yet); the stored tables
        hold it, so every bin grows it alike, whether recounted whole or not."""
        import numpy as np

        state = self.state
        n = len(state.keys)
        known: npt.NDArray[np.int32] = state.country_of
        if known is None or len(known) < n:
            grown = np.full(max(n, 1024), -2, dtype=np.int32)
            if known is not None:
                grown[: len(known)] = known
            state.country_of = known = grown
        return known

    def countries(self, pids: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        import numpy as np

        state = self.state
        known = self.reserve()
        todo = pids[known[pids] == -2]
        if len(todo):
            address = state.prefix_info()[3][todo]
            v4, v6 = todo[address >= 0], todo[address < 0]
            codes, index = state.country_codes, self.index
            known[v4] = self.locator.country_indexes_v4(address[address >= 0].astype(np.uint32), codes, index)
            if len(v6):  # network addresses: a key's bytes after its tag and length, zero-padded
                keys = state.keys
                rows = b"".join(keys[pid][2:].ljust(16, b"\0") for pid in v6.tolist())
                addresses = np.frombuffer(rows, dtype=np.uint8).reshape(-1, 16)
                known[v6] = self.locator.country_indexes_v6(addresses, codes, index)
        result: npt.NDArray[np.int32] = known[pids]
        self.unlocated = int((result == -1).sum())
        self.located = len(result) - self.unlocated
        return result


@dataclass(slots=True)
class Counts:
    """The values of a bin: the ASes and the countries with a visible prefix, as columns."""

    asn: Any  # ascending AS numbers (int64)
    asn_count: Any  # their prefixes (int64)
    asn_union: Any  # their /24s (int64)
    codes: list[str]  # the countries, in CountryCache's order
    cc_count: Any
    cc_union: Any

    @classmethod
    def empty(cls) -> Counts:
        import numpy as np

        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, [], none, none)

    def values(self) -> Values:
        """As dicts: ``{asn: (prefixes, /24s)}``, ``{country: (prefixes, /24s)}``."""
        by_asn = dict(
            zip(
                self.asn.tolist(),
                zip(self.asn_count.tolist(), self.asn_union.tolist(), strict=True),
                strict=True,
            )
        )
        by_country = dict(
            zip(self.codes, zip(self.cc_count.tolist(), self.cc_union.tolist(), strict=True), strict=True)
        )
        return by_asn, by_country


@dataclass(slots=True)
class SnapshotMemo:
    """What the last snapshot counted, for the next one to recount only the changed prefixes (kept on
    ``RouteTables.snapshot_memo`` in memory only; ``clear_routes`` drops it)."""

    full: FullFeed  # the full-feed peers it counted
    vis_oid: Any  # per prefix id (uint32): the origin-set id the full-feed peers give it, 0 none, MULTI
    multi_oids: dict[int, tuple[int, ...]]  # the origin-set ids of a MULTI prefix, ascending
    asn: Any = None  # the ASes with a visible prefix, ascending (int64), and their values
    asn_count: Any = None
    asn_union: Any = None
    cc_count: Any = None  # per country index (CountryCache.codes)
    cc_union: Any = None
    located: int = 0
    unlocated: int = 0
    # IPv4 prefixes of /24 or shorter, sorted by key (start in /24s * 32 + log2 of the size), with ids
    index_key: Any = None
    index_pid: Any = None
    indexed: int = 0  # prefix ids below this are in the index

    def grow(self, n: int) -> None:
        import numpy as np

        if len(self.vis_oid) < n:
            grown = np.zeros(max(n, 2 * len(self.vis_oid)), dtype=np.uint32)
            grown[: len(self.vis_oid)] = self.vis_oid
            self.vis_oid = grown
        if self.asn is None:
            self.asn = np.zeros(0, dtype=np.int64)
            self.asn_count = np.zeros(0, dtype=np.int64)
            self.asn_union = np.zeros(0, dtype=np.int64)
        if self.cc_count is None:
            self.cc_count = np.zeros(0, dtype=np.int64)
            self.cc_union = np.zeros(0, dtype=np.int64)

    def counts(self, countries: CountryCache) -> Counts:
        """The values counted (copies: the memo changes at the next bin)."""
        import numpy as np

        countries.located, countries.unlocated = self.located, self.unlocated
        held = np.flatnonzero(self.cc_count)
        codes = countries.codes
        return Counts(
            self.asn.copy(),
            self.asn_count.copy(),
            self.asn_union.copy(),
            [codes[i] for i in held.tolist()],
            self.cc_count[held],
            self.cc_union[held],
        )

    def pairs(
        self, pids: npt.NDArray[np.int64], state: RouteTables
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The distinct (prefix, origin AS) pairs of ``pids`` as the memo holds them."""
        import numpy as np

        oid = self.vis_oid[pids]
        has = oid != 0
        pids, oid = pids[has], oid[has].astype(np.int64)
        single = state.single_origins()
        plain = oid != MULTI
        asn = np.full(len(oid), -1, dtype=np.int64)
        asn[plain] = single[oid[plain]]
        plain &= asn >= 0
        out_pid, out_asn = [pids[plain]], [asn[plain]]
        rest = ~plain
        if rest.any():
            sets = state.origin_sets
            extra_pid: list[int] = []
            extra_asn: list[int] = []
            for pid, o in zip(pids[rest].tolist(), oid[rest].tolist(), strict=True):
                members: set[int] = set()
                for one in self.multi_oids[pid] if o == MULTI else (o,):
                    members.update(sets[one])
                extra_pid.extend([pid] * len(members))
                extra_asn.extend(members)
            out_pid.append(np.array(extra_pid, dtype=np.int64))
            out_asn.append(np.array(extra_asn, dtype=np.int64))
        return np.concatenate(out_pid), np.concatenate(out_asn)

    def index(self, state: RouteTables, n: int) -> None:
        """Bring the sorted index of IPv4 prefixes up to prefix id ``n``."""
        import numpy as np

        if self.indexed >= n:
            return
        start_all, size_all, _, _ = state.prefix_info()
        fresh = np.arange(self.indexed, n, dtype=np.int64)
        fresh = fresh[size_all[fresh] > 0]
        keys = start_all[fresh] * 32 + _log2(size_all[fresh])
        order = np.argsort(keys, kind="stable")
        keys, fresh = keys[order], fresh[order]
        if self.index_key is None:
            self.index_key, self.index_pid = keys, fresh
        else:
            at = np.searchsorted(self.index_key, keys)
            self.index_key = np.insert(self.index_key, at, keys)
            self.index_pid = np.insert(self.index_pid, at, fresh)
        self.indexed = n


def _log2(size: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """log2 of powers of two (exact in float64)."""
    import numpy as np

    result: npt.NDArray[np.int64] = np.log2(size).astype(np.int64)
    return result


def _vis_of_pairs(
    n: int, pids: npt.NDArray[np.int64], oids: npt.NDArray[np.int64], multi_oids: dict[int, tuple[int, ...]]
) -> npt.NDArray[np.uint32]:
    """Per prefix id, its one origin-set id among the distinct (prefix, origin set) pairs, or MULTI
    (its ids, ascending, into ``multi_oids``)."""
    import numpy as np

    per = np.bincount(pids, minlength=n)
    vis_oid = np.zeros(n, dtype=np.uint32)
    one = per[pids] == 1
    vis_oid[pids[one]] = oids[one]
    many = ~one
    if many.any():
        mp, mo = pids[many], oids[many]
        order = np.lexsort((mo, mp))
        vis_oid[mp] = MULTI
        for pid, oid in zip(mp[order].tolist(), mo[order].tolist(), strict=True):
            multi_oids[pid] = (*multi_oids.get(pid, ()), oid)
    return vis_oid


def snapshot(state: RouteTables, full: FullFeed, countries: CountryCache) -> Values:
    """Visible prefixes and /24s of every origin AS and country, from the full-feed peers' tables,
    recounted from the whole tables."""
    memo = recount(state, full, countries)
    return (memo.counts(countries) if memo is not None else Counts.empty()).values()


def recount(state: RouteTables, full: FullFeed, countries: CountryCache) -> SnapshotMemo | None:
    """:func:`snapshot`'s values (:meth:`SnapshotMemo.counts`), with what a later bin needs to
    recount only the prefixes that changed; None when nothing is counted (no full-feed peer)."""
    import numpy as np

    n = len(state.keys)
    if not full.peers or not n:
        return None
    start_all, size_all, counted, _ = state.prefix_info()
    columns = feed_columns(state, full, slice(0, n))
    multi_oids: dict[int, tuple[int, ...]] = {}
    if len(columns) == 1:
        held = columns[0]
        pids = np.flatnonzero((held != 0) & counted)
        oids = held[pids].astype(np.int64)
        visible = pids
        vis_oid = np.where(counted, held, 0).astype(np.uint32)
        del held
    else:
        stacked = np.sort(np.stack(columns), axis=0)
        keep = stacked != 0
        keep[1:] &= stacked[1:] != stacked[:-1]
        keep &= counted[None, :]
        rows, pids = np.nonzero(keep)
        oids = stacked[rows, pids].astype(np.int64)
        visible = np.flatnonzero(keep.any(axis=0))
        del stacked, keep
        vis_oid = _vis_of_pairs(n, pids, oids, multi_oids)
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

    memo = SnapshotMemo(full, vis_oid, multi_oids)
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
        memo.asn, memo.asn_count, memo.asn_union = asn_values, counts.astype(np.int64), unions

    visible = visible.astype(np.int64)
    found = countries.countries(visible)
    located = found >= 0
    if located.any():
        vis, cc = visible[located], found[located].astype(np.int64)
        groups = len(countries.codes)
        counts = np.bincount(cc, minlength=groups)
        sized = size_all[vis] > 0
        unions = grouped_union(cc[sized], start_all[vis[sized]], size_all[vis[sized]], groups)
        memo.cc_count, memo.cc_union = counts.astype(np.int64), unions
    memo.located, memo.unlocated = countries.located, countries.unlocated
    memo.grow(n)
    return memo


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


__all__ = [
    "CountryCache",
    "Counts",
    "FullFeed",
    "SnapshotMemo",
    "Values",
    "feed_columns",
    "grouped_union",
    "snapshot",
]
