"""The incremental snapshot (sources/mrt/incremental.py) equals the whole recount on every bin of real files.

Each file of a chain is replayed on the tables the previous one left (as a worker continues a
collector's files), and at every bin's close the values recounted from the changed prefixes are
compared with those recounted from the whole tables: every AS's and country's (prefixes, /24s), in
the same order, and the located/unlocated counts. The chains continue across the gaps between the
repository's files on purpose (the changes between two bins are then larger than a 5-minute file
would make; both computations see the same tables).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lightsout.attribution.geo import default_locator
from lightsout.sources.mrt.decode import Decoder
from lightsout.sources.mrt.framing import (
    T_TABLE_DUMP,
    T_TABLE_DUMP_V2,
    Framing,
    iter_decompressed,
    iter_frames,
)
from lightsout.sources.mrt.incremental import take_snapshot
from lightsout.sources.mrt.replay import FullFeed, Replay, Replayer, full_feed_peers, text_origins
from lightsout.sources.mrt.snapshot import CountryCache, snapshot
from lightsout.sources.mrt.tables import RouteTables

COLLECTORS = Path("mrt") / "collectors"
JINX = COLLECTORS / "route-views.jinx"
JINX_CHAIN = [
    JINX / "routeviews.route-views.jinx.ribs.1401487200.bz2",  # one full IPv4 feed, 497k prefixes
    JINX / "routeviews.route-views.jinx.updates.1401493500.bz2",  # 3 bins
    JINX / "routeviews.route-views.jinx.updates.1427846400.bz2",  # 3 bins, 10 months later
]
ET_CHAIN = [  # a whole table as BGP4MP_ET updates (one peer), then two 2022 RIS files on top of it
    COLLECTORS / "bgpdump-test_data" / "updates.et-header.2015.gz",
    COLLECTORS / "rrc23" / "rrc23.updates.20220421.0200.gz",  # IPv6 full feeds appear: recounted
    COLLECTORS / "rrc23" / "rrc23.updates.20220501.2305.gz",
]
RRC15 = Path("mrt") / "ripe-ris" / "rrc15" / "2010.02"
MANY_PEERS = {  # several full-feed peers: prefixes with several origins, sessions going down
    "rrc15-2010": [RRC15 / "updates.20100227.1600.gz", RRC15 / "updates.20100227.1610.gz"],
    "rrc01-2007": [COLLECTORS / "bgpdump-test_data" / "updates.20070211.0141.gz"],
}


class Compared(Replay):
    """At each bin's close: the incremental values against the whole recount."""

    def __init__(self, bins: list[tuple[int, bool]]) -> None:
        super().__init__()
        self.compared = bins  # (bin start, whether the memo was carried from the previous bin)

    def add(
        self,
        start_s: int,
        state: RouteTables,
        full: FullFeed,
        countries: CountryCache,
        *,
        incremental: bool = True,
    ) -> None:
        before = state.snapshot_memo
        got = take_snapshot(state, full, countries).values()
        got_located = (countries.located, countries.unlocated)
        want = snapshot(state, full, countries)
        assert list(got[0].items()) == list(want[0].items()), f"ASes differ at {start_s}"
        assert list(got[1].items()) == list(want[1].items()), f"countries differ at {start_s}"
        assert got_located == (countries.located, countries.unlocated)
        self.compared.append((start_s, before is not None and state.snapshot_memo is before))


def _replay_chain(shared_data: Path, chain: list[Path], *, fast: bool) -> list[tuple[int, bool]]:
    state = RouteTables()
    locator = default_locator()
    bins: list[tuple[int, bool]] = []
    for relative in chain:
        path = shared_data / relative
        with path.open("rb") as handle:
            framing = Framing()
            frames = iter_frames(iter_decompressed(handle.read, str(path), [], 1 << 32), str(path), framing)
            first = next(frames)
            rib = first.mrt_type in (T_TABLE_DUMP, T_TABLE_DUMP_V2)
            replayer = Replayer(state, locator, rib=rib)
            replayer.replay = Compared(bins)
            decoder = Decoder(str(path), state, replayer.at, rib)
            decoder.record(first)
            if fast:
                framing.fast = decoder.fast_path()
            for rec in frames:
                decoder.record(rec)
        replayer.finish()
    return bins


def test_incremental_equals_recount_on_a_full_feed(shared_data: Path) -> None:
    bins = _replay_chain(shared_data, JINX_CHAIN, fast=True)
    assert len(bins) == 7  # the RIB's one bin, then 3 + 3
    assert [carried for _, carried in bins] == [False] + [True] * 6  # recounted only where routes changed


def test_incremental_equals_recount_after_a_whole_table_of_updates(shared_data: Path) -> None:
    """Every bin compared; the two RIS files each add an IPv6 full feed (their IPv6 sessions' tables
    grow from the updates alone: 2, then 3 peers hold >= 50 % of the largest IPv6 table), so each of
    their bins falls back to the whole recount (the incremental path runs on rrc01-2007, whose IPv4
    and IPv6 full feeds differ, and on the jinx chain)."""
    bins = _replay_chain(shared_data, ET_CHAIN, fast=True)
    assert [carried for _, carried in bins] == [False, False, False]


@pytest.mark.parametrize("fast", [True, False], ids=["C", "python"])
@pytest.mark.parametrize("chain", sorted(MANY_PEERS))
def test_incremental_equals_recount_with_many_peers(shared_data: Path, chain: str, fast: bool) -> None:
    bins = _replay_chain(shared_data, MANY_PEERS[chain], fast=fast)
    assert sum(carried for _, carried in bins) >= 2


def test_text_routes_and_a_session_going_down_are_recounted() -> None:
    """Nested prefixes of one AS, an AS_SET, a prefix with two origins, then its peer's session down."""
    state = RouteTables()
    bins: list[tuple[int, bool]] = []
    replayer = Replayer(state, default_locator(), rib=False)
    replayer.replay = Compared(bins)
    routes: list[tuple[int, str, str, tuple[int, ...] | None] | tuple[int, str]] = [
        (0, "a", "193.0.0.0/16", (3333,)),
        (0, "a", "193.0.4.0/22", (3333,)),
        (0, "a", "8.8.8.0/24", (15169,)),
        (0, "b", "193.0.0.0/16", (3333,)),
        (0, "b", "8.8.8.0/24", (15169,)),  # b: 2 of a's 3 IPv4 prefixes, an IPv4 full feed too
        (0, "b", "2001:67c::/32", (3333, 12654)),  # b: the one IPv6 full feed
        (300, "a", "193.0.0.0/16", None),  # the /22 stays: 4 /24s where there were 256
        (300, "b", "193.0.4.0/23", (12654,)),  # a second origin inside the /22
        (600, "b", "8.8.8.0/24", (15169, 3333)),  # an AS_SET beside the plain route
        (900, "b"),  # b's session goes down: its routes are gone
        (1200, "a", "193.0.0.0/16", (3333,)),
    ]
    for route in routes:
        replayer.at(route[0])
        if len(route) == 2:
            state.drop_peer(route[1])
        else:
            text_origins(state, route[1], route[2], route[3])
    replayer.finish()
    assert bins == [(0, False), (300, True), (600, True), (900, True), (1200, True)]
    by_asn, _ = snapshot(state, full_feed_peers(state), CountryCache(default_locator(), state))
    assert by_asn == {3333: (2, 256), 15169: (1, 1)}  # b's routes are gone, a's /16 is back


def test_many_changes_fall_back_to_the_whole_recount() -> None:
    """Past INCREMENTAL_MAX_FRACTION of the prefixes changed, the bin is recounted whole (a new
    memo); the next bin is incremental again."""
    state = RouteTables()
    bins: list[tuple[int, bool]] = []
    replayer = Replayer(state, default_locator(), rib=False)
    replayer.replay = Compared(bins)
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(3000)] + ["10.0.0.0/8"]
    changes: list[tuple[int, range, int | None]] = [
        (0, range(3001), 64500),
        (300, range(0, 3000, 30), 64501),  # 100 changed: incremental
        (600, range(1000, 3000), None),  # 2,000 withdrawn (67 %): the whole recount
        (900, range(5), 64502),  # incremental again, on the recount's memo
    ]
    for time_s, which, asn in changes:
        replayer.at(time_s)
        for i in which:
            text_origins(state, "a", prefixes[i], None if asn is None else (asn + i % 7,))
    replayer.finish()
    assert bins == [(0, False), (300, True), (600, False), (900, True)]
