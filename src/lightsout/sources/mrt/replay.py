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

Full-feed peers, per address family. A peer is an IPv4 full feed when its IPv4 table, at its
largest since the last RIB dump (the carried peaks plus this file's bins so far), holds at least
``FULL_FEED_FRACTION`` (50 %) of the IPv4 prefixes of the largest peer's IPv4 table; an IPv6 full
feed likewise, on IPv6 tables alone. Absolute thresholds such as IODA's 400k prefixes only fit
today's table size (the whole table was ~75k prefixes in 2000 and ~320k in 2010); a threshold
relative to the largest peer works in every era. 50 % separates the two kinds of peer that
collectors have: on the January 2000 RIS bview in the test data the six full-feed peers hold
91-100 % of the largest table and the only other peer (a customer feed) holds 20 %. The test is made
per family because collectors mix the families: every RIS collector has IPv6 sessions, whose whole
table (~200k prefixes in 2024) is a fifth of an IPv4 one (~1M), so one rule over both tables made
no IPv6 session full-feed and no IPv6 prefix counted at all (an IPv6-only network's shutdown was
invisible, and ``bgp_prefixes`` meant "IPv4 prefixes" on RIS but counted IPv6 on route-views6).
A prefix is visible when at least one full feed *of its family* has a route to it: a shutdown
withdraws the prefix at its origin, so it leaves every peer's table. Routes from peers that are not
full-feed in the prefix's family are left out. A route whose AS path ends in an AS_SET counts for
every AS of the set. A point's ``samples`` is the number of peers that are full-feed in at least
one family (the union): an entity's value mixes both families' prefixes. Per-family peaks are
noted at each bin's close (the whole-table peak that the notes show is kept per record).

Zero is a value. Every entity the collector has shown since its first file gets a point in every bin
that data covers, 0 once all its prefixes are gone (the signal of a shutdown); a bin that no file
covers (a missing file, a collector down) gets no point at all: a gap, never an outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from lightsout.attribution.entities import make_asn_networks, make_country
from lightsout.attribution.geo import GeoLocator
from lightsout.model import Entity, SignalKind, SignalPoint
from lightsout.sources.columns import PointColumns
from lightsout.sources.mrt.incremental import take_snapshot
from lightsout.sources.mrt.snapshot import (
    CountryCache,
    FullFeed,
    _unique,
    feed_columns,
    grouped_union,
    snapshot,
)
from lightsout.sources.mrt.tables import AFI_V4, RouteTables, key_text

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BIN_S = 300
FULL_FEED_FRACTION = 0.5  # of the largest peer table; see the module docstring
MIN_FULL_FEED_PEERS = 1  # full-feed peers that must see a prefix for it to count as visible


class Value(NamedTuple):
    """An entity's visible prefixes and /24s (a tuple: one is made per entity and bin)."""

    prefixes: int
    slash24s: int


@dataclass(slots=True)
class Bin:
    """The values of every entity at the end of one bin, and the full-feed peers behind them, as
    columns (a full table names ~50k ASes in every bin)."""

    start_s: int
    asns: Any  # int64: the ASes with a visible prefix (ascending), then those at 0 (ascending)
    asn_values: Any  # int64, one row per AS: (prefixes, /24s)
    countries: list[str]  # likewise
    country_values: Any
    full_feed: int

    @property
    def by_asn(self) -> dict[int, tuple[int, int]]:
        return dict(zip(self.asns.tolist(), map(tuple, self.asn_values.tolist()), strict=True))

    @property
    def by_country(self) -> dict[str, tuple[int, int]]:
        return dict(zip(self.countries, map(tuple, self.country_values.tolist()), strict=True))


def full_feed_peers(state: RouteTables) -> FullFeed:
    """Per address family, the peers whose largest table of that family holds >= FULL_FEED_FRACTION
    of the largest peer's table of that family (``RouteTables.peaks_v4`` / ``peaks_v6``)."""
    return FullFeed(_full_of(state.peaks_v4, state), _full_of(state.peaks_v6, state))


def _full_of(peaks: dict[str, int], state: RouteTables) -> tuple[str, ...]:
    largest = max(peaks.values(), default=0)
    if not largest:
        return ()
    return tuple(
        sorted(p for p, n in peaks.items() if n >= FULL_FEED_FRACTION * largest and p in state.tables)
    )


def full_feed_routes(state: RouteTables) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Every prefix a full feed of its family routes, once, with its origin set (the first such
    peer's)."""
    import numpy as np

    n = len(state.keys)
    seen = np.zeros(n, dtype=bool)
    for table in feed_columns(state, full_feed_peers(state), slice(0, n)):
        fresh = np.flatnonzero((table != 0) & ~seen)
        seen[fresh] = True
        origins = table[fresh].tolist()
        del table
        for pid, oid in zip(fresh.tolist(), origins, strict=True):
            yield key_text(state.keys[pid]), state.origin_sets[oid]


# The entity of each AS seen in this process (immutable): a worker reading a collector's files one
# after another names the same ~70k ASes in each file.
_AS_ENTITIES: dict[int, Entity] = {}


@dataclass(slots=True)
class Replay:
    """The bins a file gives, with the entities they name."""

    bins: list[Bin] = field(default_factory=list)
    asns: set[int] = field(default_factory=set)  # every AS with a point
    countries: set[str] = field(default_factory=set)
    full_feed: FullFeed = field(default_factory=FullFeed)  # at the last bin
    peer_peaks: dict[str, int] = field(default_factory=dict)  # whole tables, largest first
    family_peaks: tuple[dict[str, int], dict[str, int]] = field(default_factory=lambda: ({}, {}))
    located: int = 0
    unlocated: int = 0
    known: Any = None  # the collector's known ASes (RouteTables.known_asns) as a sorted array

    def add(
        self,
        start_s: int,
        state: RouteTables,
        full: FullFeed,
        countries: CountryCache,
        *,
        incremental: bool = True,
    ) -> None:
        """Close a bin: every entity the collector has shown gets its value (0 when gone), recounted
        only where routes changed since the last bin when it can (:func:`take_snapshot`)."""
        import numpy as np

        counts = take_snapshot(state, full, countries, incremental=incremental)
        known = self.known
        if known is None:  # the first bin: every AS known before it gets a point in every bin
            known = np.array(sorted(state.known_asns), dtype=np.int64)
            self.asns.update(state.known_asns)
        fresh = counts.asn[~_member(counts.asn, known)]  # every entity in a snapshot has a prefix
        if len(fresh):
            known = np.insert(known, np.searchsorted(known, fresh), fresh)
            state.known_asns.update(fresh.tolist())
            self.asns.update(fresh.tolist())
        self.known = known
        held = len(counts.asn)
        asns = np.concatenate([counts.asn, known[~_member(known, counts.asn)]])
        asn_values = np.zeros((len(asns), 2), dtype=np.int64)
        asn_values[:held, 0] = counts.asn_count
        asn_values[:held, 1] = counts.asn_union
        state.known_countries.update(counts.codes)
        shown = set(counts.codes)
        codes = counts.codes + sorted(cc for cc in state.known_countries if cc not in shown)
        country_values = np.zeros((len(codes), 2), dtype=np.int64)
        country_values[: len(counts.codes), 0] = counts.cc_count
        country_values[: len(counts.codes), 1] = counts.cc_union
        self.bins.append(Bin(start_s, asns, asn_values, codes, country_values, len(full.peers)))
        self.countries.update(codes)
        self.full_feed = full
        self.note_peaks(state)
        self.located, self.unlocated = countries.located, countries.unlocated

    def note_peaks(self, state: RouteTables) -> None:
        """The peers' peaks, whole and per family, largest first (for the notes)."""
        self.peer_peaks = _largest_first(state.peaks)
        self.family_peaks = (_largest_first(state.peaks_v4), _largest_first(state.peaks_v6))

    def point_columns(self, source: str) -> PointColumns:
        """Every bin's values as columns: per bin, per entity (its ASes, then its countries), a
        ``bgp_prefixes`` row and a ``bgp_slash24s`` row, ``samples`` the bin's full-feed peers (of
        either family). No
        object per point (a full table is ~200k of them): the parallel ingest sends these columns."""
        import numpy as np

        asn_index = (
            _unique(np.concatenate([b.asns for b in self.bins])) if self.bins else np.zeros(0, dtype=np.int64)
        )
        codes = sorted(set().union(*(b.countries for b in self.bins)))
        asns = asn_index.tolist()
        words = [f"network/AS{asn}" for asn in asns] + [f"country/{cc}" for cc in codes]
        cc_index = {cc: i for i, cc in enumerate(codes, start=len(asns))}
        entity, value, start, samples = [], [], [], []
        for b in self.bins:
            n_asn, n_cc = len(b.asns), len(b.countries)
            ids = np.empty(n_asn + n_cc, dtype=np.int64)
            ids[:n_asn] = np.searchsorted(asn_index, b.asns)
            ids[n_asn:] = [cc_index[cc] for cc in b.countries]
            entity.append(np.repeat(ids, 2))
            pairs = np.concatenate([b.asn_values.ravel(), b.country_values.ravel()])
            value.append(pairs.astype(np.float64))  # (prefixes, /24s) per entity
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
        """:meth:`point_columns` as objects (tests, tools: every ingest takes the columns)."""
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


def _largest_first(peaks: dict[str, int]) -> dict[str, int]:
    return dict(sorted(peaks.items(), key=lambda kv: -kv[1]))


def _entity_values(b: Bin) -> Iterator[tuple[str, tuple[int, int]]]:
    for asn, value in b.by_asn.items():
        yield f"network/AS{asn}", value
    for cc, value in b.by_country.items():
        yield f"country/{cc}", value


def _member(values: npt.NDArray[np.int64], ordered: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Whether each of ``values`` is in the sorted array ``ordered``."""
    import numpy as np

    if not len(ordered):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    result: npt.NDArray[np.bool_] = ordered[at] == values
    return result


class Replayer:
    """Applies a file's routes to the tables and closes bins as time passes.

    In a RIB dump (``rib=True``) the tables are replaced and the whole dump is one bin, at the time
    the dump started: it is one snapshot of the tables, however long writing it took. In update
    files every bin from the first record's to the last one's gets a value (a quiet bin repeats
    the state), closed when a record of a later bin arrives, and the last one at :meth:`finish`.
    """

    def __init__(
        self,
        state: RouteTables,
        locator: GeoLocator,
        *,
        rib: bool,
        emit: bool = True,
        incremental: bool = True,
    ) -> None:
        self.state = state
        self.rib = rib
        self.incremental = incremental  # False: every bin recounted from the whole tables (tests)
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
            self.replay.add(
                bin_start, state, full_feed_peers(state), self.countries, incremental=self.incremental
            )

    def finish(self) -> Replay:
        if self.current_bin is not None:
            self._close(self.current_bin)
        self.state.note_peaks()
        if not self.replay.peer_peaks:
            self.replay.note_peaks(self.state)
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
            state.dirty[pid] = 1
            state.sizes[peer] -= 1
        return
    table[pid] = state.origin_id(origins)
    state.dirty[pid] = 1
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
    "FullFeed",
    "Replay",
    "Replayer",
    "Value",
    "full_feed_peers",
    "full_feed_routes",
    "grouped_union",
    "snapshot",
    "text_origins",
]
