"""The value of every origin AS and country at a bin's close, recounted only where routes changed.

The whole recount (:func:`~lightsout.sources.mrt.snapshot.snapshot`) costs ~0.1-0.4 s of CPU per
bin on a full table (~500-580k prefixes), so every update file that continued a full table paid
that for each of its bins (three in a RouteViews 15-minute file), however few routes it changed.

:func:`take_snapshot` recounts only what changed since the previous bin. Every writer of a table
marks the prefix it wrote (``RouteTables.dirty``: the C fast path, the Python decoders, a peer going
down, text routes); the last snapshot keeps, per prefix, the origin set(s) the full-feed peers gave
it (:class:`SnapshotMemo`) and every entity's (prefixes, /24s). At a bin's close:

1. the marked prefixes whose full-feed origin sets really changed (a re-announcement with the same
   origin changes nothing) are the changed prefixes; their old and new (prefix, AS) pairs and
   visibility give each entity's change of ``bgp_prefixes`` exactly;
2. for ``bgp_slash24s``: prefixes are CIDR blocks, so two of them are nested or disjoint. The IPv4
   changed prefixes that no other changed prefix contains are disjoint *blocks*; every prefix that
   meets a block is inside it or contains it. Outside the blocks nothing changed, so an entity's
   union changes by (its union within the blocks now) - (its union within the blocks before),
   where a prefix inside a block counts as itself and one containing a block counts as the whole
   block. Those are found from a sorted index of the prefixes (start, size): the prefixes inside a
   block are one range of it, those containing it are looked up by their (start, size), one per
   shorter length;
3. the entities' counts are updated by these differences (integers: exact), and the values handed
   out are built as the whole recount builds them, in the same order.

It falls back to the whole recount when the full-feed peers of either address family changed
(:class:`~lightsout.sources.mrt.snapshot.FullFeed`: a peer that becomes an IPv6 full feed changes
the visibility of every IPv6 prefix it routes, which no mark says), after a RIB dump (which clears
the tables), when the tables were loaded from the store (the memo is not stored), and when more than
``INCREMENTAL_MAX_FRACTION`` of the prefixes changed since the last bin (measured crossover:
bench/bench_snapshot.py). tests/test_mrt_snapshot.py compares the two on every bin of real files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lightsout.sources.mrt.snapshot import (
    MULTI,
    CountryCache,
    Counts,
    FullFeed,
    SnapshotMemo,
    _log2,
    _unique,
    feed_columns,
    grouped_union,
    recount,
)
from lightsout.sources.mrt.tables import RouteTables

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Above this share of the prefixes changed since the last bin, the whole recount is done instead:
# bench/bench_snapshot.py on the jinx RIB's 497k prefixes, changes at random, incremental vs whole
# CPU s: 1 % 0.035 vs 0.103, 5 % 0.081 vs 0.097, 7 % 0.120 vs 0.089 (crossover ~6 %; docs/mrt.md).
INCREMENTAL_MAX_FRACTION = 0.05
INCREMENTAL_ALWAYS = 1000  # changed prefixes up to which the incremental recount is always taken
# Above this share written (by any peer, full-feed or not), not even the changed ones are looked for.
WRITTEN_MAX_FRACTION = 0.5


def take_snapshot(
    state: RouteTables,
    full: FullFeed,
    countries: CountryCache,
    *,
    incremental: bool = True,
    max_fraction: float = INCREMENTAL_MAX_FRACTION,
) -> Counts:
    """The values at a bin's close: recounted only where routes changed since the last bin when
    possible (``incremental``; see the module docstring), else from the whole tables."""
    memo = state.snapshot_memo
    if incremental and memo is not None and memo.full == full:
        values = _incremental(state, memo, countries, max_fraction)
        if values is not None:
            return values
    import numpy as np

    state.snapshot_memo = None
    dirty = np.frombuffer(state.dirty, dtype=np.uint8)
    dirty[:] = 0  # every change is counted by the whole recount
    del dirty
    memo = recount(state, full, countries)
    if memo is None:
        return Counts.empty()
    state.snapshot_memo = memo if incremental else None
    return memo.counts(countries)


def _ranges(
    lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For ranges ``[lo, hi)``: (which range, position) of every position in them."""
    import numpy as np

    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    which = np.repeat(np.arange(len(lo), dtype=np.int64), count)
    first = np.cumsum(count) - count
    position = np.repeat(lo, count) + np.arange(total, dtype=np.int64) - np.repeat(first, count)
    return which, position


def _join(
    row_pid: npt.NDArray[np.int64], pair_pid: npt.NDArray[np.int64], pair_value: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(row, value) for every pair whose prefix is the row's."""
    import numpy as np

    order = np.argsort(pair_pid, kind="stable")
    pp, pv = pair_pid[order], pair_value[order]
    row, at = _ranges(np.searchsorted(pp, row_pid, "left"), np.searchsorted(pp, row_pid, "right"))
    return row, pv[at]


def _blocks(
    state: RouteTables, memo: SnapshotMemo, changed: npt.NDArray[np.int64], n: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The rows (prefix, start, size) of the prefixes that meet the blocks of the changed IPv4
    prefixes (see the module docstring), each clipped to the block(s) it meets."""
    import numpy as np

    start_all, size_all, _, _ = state.prefix_info()
    changed = changed[size_all[changed] > 0]
    empty = np.zeros(0, dtype=np.int64)
    if not len(changed):
        return empty, empty, empty
    start, size = start_all[changed], size_all[changed]
    order = np.lexsort((-size, start))  # by start, the larger first: a container before its contents
    start, size = start[order], size[order]
    end = start + size
    reach = np.maximum.accumulate(end)
    top = np.ones(len(start), dtype=bool)
    top[1:] = start[1:] >= reach[:-1]
    b_start, b_end = start[top], end[top]
    memo.index(state, n)
    keys, kpid = memo.index_key, memo.index_pid
    # inside a block (or the block itself): keys from (start, 0) up to (end, 0), less the prefixes
    # at the block's start that are larger than it
    block, at = _ranges(np.searchsorted(keys, b_start * 32), np.searchsorted(keys, b_end * 32))
    in_pid = kpid[at]
    inside = start_all[in_pid] + size_all[in_pid] <= b_end[block]
    in_pid = in_pid[inside]
    rows_pid, rows_start, rows_size = [in_pid], [start_all[in_pid]], [size_all[in_pid]]
    # containing a block: one candidate per larger size, found by its key
    b_log = _log2(b_end - b_start)
    for log in range(1, 25):
        wider = np.flatnonzero(b_log < log)
        if not len(wider):
            continue
        want = (b_start[wider] >> log << log) * 32 + log
        found = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        hit = keys[found] == want
        if hit.any():
            which = wider[hit]
            rows_pid.append(kpid[found[hit]])
            rows_start.append(b_start[which])
            rows_size.append(b_end[which] - b_start[which])
    return np.concatenate(rows_pid), np.concatenate(rows_start), np.concatenate(rows_size)


def _incremental(
    state: RouteTables, memo: SnapshotMemo, countries: CountryCache, max_fraction: float
) -> Counts | None:
    """The values recounted from the prefixes changed since the last bin, or None when the whole
    recount is cheaper (more than ``max_fraction`` of the prefixes changed: the prefixes written
    by peers that are not full-feed, and routes rewritten with the same origin, do not count)."""
    import numpy as np

    n = len(state.keys)
    dirty = np.frombuffer(state.dirty, dtype=np.uint8)
    written = np.flatnonzero(dirty[:n])
    if len(written) > max(WRITTEN_MAX_FRACTION * n, INCREMENTAL_ALWAYS):
        del dirty
        return None
    dirty[written] = 0
    del dirty
    memo.grow(n)
    countries.reserve()  # as the whole recount grows it (the stored tables hold it)
    if not len(written):
        return memo.counts(countries)
    _, _, counted, _ = state.prefix_info()
    # the origin sets the full-feed peers give the written prefixes now
    columns = feed_columns(state, memo.full, written)
    now_multi: dict[int, tuple[int, ...]] = {}
    if len(columns) == 1:
        now = np.where(counted[written], columns[0], 0).astype(np.uint32)
    else:
        stacked = np.sort(np.stack(columns), axis=0)
        keep = stacked != 0
        keep[1:] &= stacked[1:] != stacked[:-1]
        keep &= counted[written][None, :]
        distinct = keep.sum(axis=0)
        now = np.where(distinct == 1, (stacked * keep).max(axis=0), 0).astype(np.uint32)
        for j in np.flatnonzero(distinct > 1).tolist():
            now[j] = MULTI
            now_multi[int(written[j])] = tuple(stacked[keep[:, j], j].tolist())
        del stacked, keep
    del columns
    before = memo.vis_oid[written]
    differ = now != before
    for j in np.flatnonzero((now == MULTI) & (before == MULTI)).tolist():
        pid = int(written[j])
        differ[j] = now_multi[pid] != memo.multi_oids[pid]
    changed = written[differ]
    if len(changed) > max(max_fraction * n, INCREMENTAL_ALWAYS):
        return None  # the memo is as it was: the whole recount replaces it
    if not len(changed):
        return memo.counts(countries)
    now, before = now[differ], before[differ]

    old_pid, old_asn = memo.pairs(changed, state)
    for pid in changed[before == MULTI].tolist():
        del memo.multi_oids[pid]
    memo.vis_oid[changed] = now
    memo.multi_oids.update((pid, now_multi[pid]) for pid in changed[now == MULTI].tolist())
    _, new_asn = memo.pairs(changed, state)

    # the prefixes meeting the changed ones' blocks, clipped, with their pairs now and before
    rows_pid, rows_start, rows_size = _blocks(state, memo, changed, n)
    involved = _unique(rows_pid)
    is_changed = np.zeros(n, dtype=bool)
    is_changed[changed] = True
    pair_pid, pair_asn = memo.pairs(involved, state)
    steady = ~is_changed[pair_pid]
    was_pid = np.concatenate([pair_pid[steady], old_pid])
    was_asn = np.concatenate([pair_asn[steady], old_asn])
    row_now, asn_now = _join(rows_pid, pair_pid, pair_asn)
    row_was, asn_was = _join(rows_pid, was_pid, was_asn)

    # ASes
    asns = _unique(np.concatenate([asn_now, asn_was, new_asn, old_asn]))
    groups = len(asns)
    count = np.bincount(np.searchsorted(asns, new_asn), minlength=groups) - np.bincount(
        np.searchsorted(asns, old_asn), minlength=groups
    )
    union = grouped_union(
        np.searchsorted(asns, asn_now), rows_start[row_now], rows_size[row_now], groups
    ) - grouped_union(np.searchsorted(asns, asn_was), rows_start[row_was], rows_size[row_was], groups)
    _apply_asns(memo, asns, count, union)

    # countries: a prefix counts for its country when it is visible (any origin set)
    countries.countries(changed[now != 0])  # geolocates the newly visible ones (cached per prefix)
    country_of = state.country_of
    groups = len(countries.codes)
    if len(memo.cc_count) < groups:
        memo.cc_count = np.concatenate([memo.cc_count, np.zeros(groups - len(memo.cc_count), dtype=np.int64)])
        memo.cc_union = np.concatenate([memo.cc_union, np.zeros(groups - len(memo.cc_union), dtype=np.int64)])
    cc_now = np.where(now != 0, country_of[changed], -1)
    cc_was = np.where(before != 0, country_of[changed], -1)
    memo.located += int((cc_now >= 0).sum()) - int((cc_was >= 0).sum())
    memo.unlocated += int(((now != 0) & (cc_now == -1)).sum()) - int(((before != 0) & (cc_was == -1)).sum())
    memo.cc_count += np.bincount(cc_now[cc_now >= 0], minlength=groups)
    memo.cc_count -= np.bincount(cc_was[cc_was >= 0], minlength=groups)
    visible_now = memo.vis_oid[rows_pid] != 0
    visible_was = visible_now.copy()
    changed_row = is_changed[rows_pid]
    visible_was[changed_row] = _visible_before(changed, before, rows_pid[changed_row])
    memo.cc_union += _country_union(country_of, rows_pid, rows_start, rows_size, visible_now, groups)
    memo.cc_union -= _country_union(country_of, rows_pid, rows_start, rows_size, visible_was, groups)
    return memo.counts(countries)


def _visible_before(
    changed: npt.NDArray[np.int64], before: npt.NDArray[np.uint32], pids: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Whether each of ``pids`` (all among ``changed``) was visible at the last bin."""
    import numpy as np

    order = np.argsort(changed)
    at = order[np.searchsorted(changed, pids, sorter=order)]
    result: npt.NDArray[np.bool_] = before[at] != 0
    return result


def _country_union(
    country_of: npt.NDArray[np.int32],
    pids: npt.NDArray[np.int64],
    start: npt.NDArray[np.int64],
    size: npt.NDArray[np.int64],
    visible: npt.NDArray[np.bool_],
    groups: int,
) -> npt.NDArray[np.int64]:
    import numpy as np

    cc = np.where(visible, country_of[pids], -1).astype(np.int64)
    located = cc >= 0
    return grouped_union(cc[located], start[located], size[located], groups)


def _apply_asns(
    memo: SnapshotMemo,
    asns: npt.NDArray[np.int64],
    count: npt.NDArray[np.int64],
    union: npt.NDArray[np.int64],
) -> None:
    """Add the changes of the ASes ``asns`` to the memo's values; ASes left without a prefix go."""
    import numpy as np

    at = np.searchsorted(memo.asn, asns)
    known = at < len(memo.asn)
    known[known] = memo.asn[at[known]] == asns[known]
    memo.asn_count[at[known]] += count[known]
    memo.asn_union[at[known]] += union[known]
    fresh = ~known
    if fresh.any():
        memo.asn = np.insert(memo.asn, at[fresh], asns[fresh])
        memo.asn_count = np.insert(memo.asn_count, at[fresh], count[fresh])
        memo.asn_union = np.insert(memo.asn_union, at[fresh], union[fresh])
    gone = memo.asn_count == 0
    if gone.any():
        keep = ~gone
        memo.asn, memo.asn_count, memo.asn_union = memo.asn[keep], memo.asn_count[keep], memo.asn_union[keep]


__all__ = ["INCREMENTAL_MAX_FRACTION", "take_snapshot"]
