"""A bin's snapshot recounted from the changed prefixes only, against the whole recount, on a full table.

    python bench/bench_snapshot.py [--file PATH] [--fractions 0.001,0.01,...] [--seed 1]
    python bench/bench_snapshot.py --continuation [--repeat 3]

Reads a full table (default: the 2014 route-views.jinx RIB, one full IPv4 feed of 497k prefixes),
then, for each fraction f, changes the routes of f of its prefixes in the full-feed peer's table
(half withdrawn, half re-announced with another origin set in use, drawn at random with
``--seed``; the same writes a file's records make, marked the same way) and closes a bin: CPU
seconds of ``incremental.take_snapshot`` (only the changed prefixes) against
``snapshot.snapshot`` (the whole recount) on the same tables, one after the other, and checks
that they give the same values. Each fraction continues from the tables the previous one left.
The crossover sets ``incremental.INCREMENTAL_MAX_FRACTION``; the real bins of update files are
measured by tests/test_mrt_snapshot.py's chains (and bench_mrt.py).

``--continuation``: a RouteViews update file read as the next file of a full table, the way a worker
of the parallel ingest reads it (``read_mrt(hand_over=True, columns=True)`` after the RIB): the
jinx RIB, then each of the two jinx update files as if it continued it (SYNTHETIC sequence: the
files between them are missing from the repository, so the stored sequence position is moved to
the update file's start; the tables are the RIB's). CPU seconds of the update file's whole read,
``incremental=True`` against ``incremental=False`` (every bin recounted whole) in turns, best of
``--repeat``; and the same after the tables were loaded from the stored bytes (sequential ingest,
a fresh process: the first bin is a whole recount, the memo is not stored).

Figures, 2026-12-03 20:02-20:03 UTC, ``nice -n 10``, load average 2.6-3.2 on 2 shared cores
(docs/mrt.md, "Snapshots: only what changed"):

* crossover (jinx RIB, 497,407 prefixes), incremental / whole recount CPU s: 49 prefixes changed
  0.029 / 0.105 (3.7x); 497: 0.017 / 0.112 (6.7x); 1 %: 0.035 / 0.103 (3.0x); 3 %: 0.059 / 0.105
  (1.8x); 5 %: 0.081 / 0.097 (1.2x); 7 %: 0.120 / 0.089 (0.7x); 10 %: 0.149 / 0.091 (0.6x);
* ``--file`` the January 2000 rrc00 bview (six full-feed peers, 82,377 prefixes; 20:28, load 1.2):
  0.1 % 0.006 / 0.025 s; 1 % 0.008 / 0.022; 5 % 0.022 / 0.026; 7 % 0.030 / 0.030; 10 % 0.041 /
  0.032;
* ``--continuation --repeat 3``, the update file's whole read, CPU s: updates.1401493500 handed over
  0.110 vs 0.416 (3.79x), loaded 0.335 vs 0.492 (1.47x); updates.1427846400 handed over 0.116 vs
  0.376 (3.24x), loaded 0.385 vs 0.472 (1.23x).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

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
from lightsout.sources.mrt.replay import Replayer, full_feed_peers
from lightsout.sources.mrt.snapshot import CountryCache, snapshot
from lightsout.sources.mrt.tables import RouteTables

REPO = Path(__file__).resolve().parents[1]
JINX_RIB = (
    REPO.parent
    / "shared"
    / "data"
    / "mrt"
    / "collectors"
    / "route-views.jinx"
    / "routeviews.route-views.jinx.ribs.1401487200.bz2"
)


def read_tables(path: Path) -> RouteTables:
    """The tables after ``path`` (its bins closed as the reader closes them)."""
    state = RouteTables()
    with path.open("rb") as handle:
        framing = Framing()
        frames = iter_frames(iter_decompressed(handle.read, str(path), [], 1 << 32), str(path), framing)
        first = next(frames)
        rib = first.mrt_type in (T_TABLE_DUMP, T_TABLE_DUMP_V2)
        replayer = Replayer(state, default_locator(), rib=rib)
        decoder = Decoder(str(path), state, replayer.at, rib)
        decoder.record(first)
        framing.fast = decoder.fast_path()
        for rec in frames:
            decoder.record(rec)
    replayer.finish()
    return state


def change(state: RouteTables, peer: str, fraction: float, rng: np.random.Generator) -> int:
    """Withdraw or re-originate ``fraction`` of the peer's routes; the prefixes are marked written."""
    table = np.frombuffer(state.tables[peer], dtype=np.uint32)
    dirty = np.frombuffer(state.dirty, dtype=np.uint8)
    held = np.flatnonzero(table[: len(state.keys)])
    chosen = rng.choice(held, size=max(1, int(fraction * len(held))), replace=False)
    in_use = np.unique(table[held])
    withdrawn = chosen[: len(chosen) // 2]
    moved = chosen[len(chosen) // 2 :]
    table[withdrawn] = 0
    table[moved] = rng.choice(in_use, size=len(moved))
    dirty[chosen] = 1
    state.sizes[peer] = int(np.count_nonzero(table[: len(state.keys)]))
    del table, dirty
    return len(chosen)


def continuation(repeat: int) -> None:
    from lightsout.sources import CarryState
    from lightsout.sources.mrt import _HANDED, file_time, read_mrt

    folder = JINX_RIB.parent
    updates = sorted(folder.glob("*.updates.*"))
    print(f"continuation of {JINX_RIB.name}; load {os.getloadavg()}")
    for update in updates:
        start = file_time(update)
        best: dict[tuple[str, bool], float] = {}
        for _ in range(repeat):
            for handed in (True, False):
                for incremental in (True, False):
                    rib = read_mrt(JINX_RIB, hand_over=True, columns=True)
                    assert rib.carry is not None and _HANDED._held is not None
                    state = _HANDED._held[1]
                    state.next_file_s = start  # SYNTHETIC: the files between are missing
                    carry = rib.carry
                    if not handed:
                        carry = CarryState(carry.key, carry.as_of, state.dump())

                    def load(_key: str, carried: CarryState = carry) -> CarryState:
                        return carried

                    before = cpu()
                    parsed = read_mrt(
                        update, load_carry=load, hand_over=True, columns=True, incremental=incremental
                    )
                    took = cpu() - before
                    assert any("continues" in note for note in parsed.notes), parsed.notes
                    key = ("handed over" if handed else "loaded", incremental)
                    best[key] = min(best.get(key, took), took)
        for how in ("handed over", "loaded"):
            inc, whole = best[(how, True)], best[(how, False)]
            print(
                f"{update.name} ({how}): incremental {inc:.3f} s, whole recount {whole:.3f} s "
                f"CPU ({whole / inc:.2f}x)"
            )


def cpu() -> float:
    return time.process_time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=JINX_RIB)
    parser.add_argument("--fractions", default="0.0001,0.001,0.01,0.03,0.1,0.2,0.3,0.5")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--continuation", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.continuation:
        continuation(args.repeat)
        return
    rng = np.random.default_rng(args.seed)
    state = read_tables(args.file)
    full = full_feed_peers(state)
    countries = CountryCache(default_locator(), state)
    take_snapshot(state, full, countries)  # the memo of the whole table (the file's own bin did it)
    print(f"{args.file.name}: {len(state.keys)} prefixes, full-feed peers {full}; load {os.getloadavg()}")
    print(f"{'fraction':>9} {'changed':>8} {'incremental s':>14} {'recount s':>10} {'ratio':>7}")
    for fraction in [float(f) for f in args.fractions.split(",")]:
        changed = change(state, full.peers[0], fraction, rng)
        before = cpu()
        got = take_snapshot(state, full, countries, max_fraction=1.0).values()
        middle = cpu()
        want = snapshot(state, full, countries)
        after = cpu()
        assert list(got[0].items()) == list(want[0].items()) and list(got[1].items()) == list(want[1].items())
        inc, whole = middle - before, after - middle
        print(f"{fraction:9.4f} {changed:8d} {inc:14.4f} {whole:10.4f} {whole / max(inc, 1e-9):6.1f}x")


if __name__ == "__main__":
    main()
