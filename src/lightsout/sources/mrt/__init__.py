"""Reader of BGP MRT archives (RIPE RIS, RouteViews): routing visibility per origin AS and country.

The reader is split by stage: :mod:`~lightsout.sources.mrt.framing` (decompression and MRT framing,
and why this package frames the records itself in front of pybgpkit-parser),
:mod:`~lightsout.sources.mrt.decode` (record layouts), :mod:`~lightsout.sources.mrt.parser` (running
pybgpkit-parser) and :mod:`~lightsout.sources.mrt.replay` (what the output means, the replay and the
full-feed peers). This module reads a file through them: :func:`read_mrt`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from lightsout.attribution.geo import GeoLocator, default_locator
from lightsout.errors import InputError
from lightsout.gcpause import gc_paused
from lightsout.model import Skip
from lightsout.sources import CarryState, LoadCarry, Parsed, Progress, no_carry, no_progress
from lightsout.sources.bounds import decompressed_limit
from lightsout.sources.mrt.decode import Decoder, Malformed, RecordCounts
from lightsout.sources.mrt.framing import (
    T_TABLE_DUMP,
    T_TABLE_DUMP_V2,
    TABLE_DUMP_PAD,
    TYPE_NAMES,
    Framing,
    MrtRecord,
    decompress,
    frame_records,
    iter_decompressed,
    iter_frames,
)
from lightsout.sources.mrt.replay import (
    BIN_S as BIN_S,
)
from lightsout.sources.mrt.replay import (
    FULL_FEED_FRACTION,
    MIN_FULL_FEED_PEERS,
    Replay,
    Replayer,
    Value,
    full_feed_routes,
    grouped_union,
    text_origins,
)
from lightsout.sources.mrt.tables import MIN_COUNTED_LEN, RouteTables, key_of_text, key_text, prefix_key

__all__ = [
    "DEFAULT_SOURCE",
    "FORMAT",
    "Decoder",
    "Framing",
    "Malformed",
    "MrtRecord",
    "RecordCounts",
    "Replay",
    "Replayer",
    "RouteTables",
    "Value",
    "collector_name",
    "decompress",
    "file_time",
    "frame_records",
    "full_feed_routes",
    "grouped_union",
    "iter_decompressed",
    "iter_frames",
    "key_of_text",
    "key_text",
    "prefix_key",
    "read_mrt",
    "replay_routes",
    "slash24_union",
    "update_interval",
]

FORMAT = "mrt"
DEFAULT_SOURCE = "mrt"
# How often a collector writes an update file: RIPE RIS every 5 minutes, RouteViews every 15
# (https://ris.ripe.net/docs/mrt/, http://archive.routeviews.org/). An update file continues the
# stored tables only if it starts where the previous one ended: anything later means files are
# missing, whose withdrawals were never applied.
RIS_INTERVAL_S = 300
ROUTEVIEWS_INTERVAL_S = 900

COLLECTOR_DIR = re.compile(r"rrc\d{2}|route-views[\w.-]*", re.IGNORECASE)
COLLECTOR_FILE = re.compile(r"(rrc\d{2}|route-views[\w.-]*?)[._-](?:bview|updates|rib)", re.IGNORECASE)
NAME_DATE = re.compile(r"(?<!\d)(\d{8})\.(\d{4})(?!\d)")
NAME_EPOCH = re.compile(r"\.(\d{10})(?=\.|$)")


# -- entry point ---------------------------------------------------------------------------------


def read_mrt(
    path: Path,
    progress: Progress = no_progress,
    locator: GeoLocator | None = None,
    load_carry: LoadCarry = no_carry,
    *,
    fast: bool = True,
    hand_over: bool = False,
    columns: bool = False,
    incremental: bool = True,
) -> Parsed:
    """Read one MRT file (gzip, bzip2 or plain) into routing-visibility points, streaming.

    ``load_carry`` gives the collector's routing tables after its previous file. A RIB dump
    replaces them; an update file continues them only if it is the next file of the collector's
    sequence (see :func:`_plan`); after a gap no values are given until the next RIB dump.
    Memory is bounded by the tables (prefixes x peers), not by the file's size. ``fast=False``
    reads every record with the pure-Python decoder even where the C fast path is built (the
    result is the same; tests compare them).

    ``hand_over=True`` (every ingest: a worker reading a collector's files in order, ``lightsout
    ingest`` of several files, the archive follower) keeps the tables after the file in this
    process for the next ``read_mrt`` whose ``load_carry`` returns this ``Parsed.carry``'s
    payload (the same bytes, as the store gives them back): that read continues them as they are
    instead of rebuilding them from the stored bytes (:meth:`RouteTables.load`: 0.15-0.18 s for
    one full table, and the first snapshot after a load recounts every prefix: a full table's next
    update file reads in ~0.11 s handed over, ~0.34 s loaded). Handed over once; any other carry
    drops them; tests compare both ways.

    ``columns=True`` gives the points as columns (``Parsed.point_columns``,
    :meth:`Replay.point_columns`) and leaves ``Parsed.points`` empty: the same values, without an
    object per point (every ingest asks for them: :func:`lightsout.ingest.make_batch`).

    Python's cyclic garbage collector is paused meanwhile: the read makes hundreds of thousands of
    objects without cycles (keys, tuples, points), and each collection walked all of them, ~13 %
    of the read's CPU time on the 2015 et-header file (perf).

    ``incremental=False`` recounts every bin from the whole tables instead of only the prefixes
    whose routes changed since the previous bin (:mod:`~lightsout.sources.mrt.incremental`; the
    same values: tests compare them, bench/bench_snapshot.py times both)."""
    with gc_paused():
        return _read(path, progress, locator, load_carry, fast, hand_over, columns, incremental)


def _read(
    path: Path,
    progress: Progress,
    locator: GeoLocator | None,
    load_carry: LoadCarry,
    fast: bool,
    hand_over: bool,
    columns: bool = False,
    incremental: bool = True,
) -> Parsed:
    name = str(path)
    _check(path)
    total = path.stat().st_size
    source = collector_name(path)
    locator = locator or default_locator()
    framing = Framing()
    compression: list[Skip] = []
    progress(0, total)
    with path.open("rb") as handle:

        def read(n: int) -> bytes:
            piece = handle.read(n)
            progress(min(handle.tell(), total - 1), total)
            return piece

        limit = decompressed_limit(total)
        pieces = _nonempty(iter_decompressed(read, name, compression, limit), name, compression)
        frames = iter_frames(pieces, name, framing)
        first = next(frames)
        rib = first.mrt_type in (T_TABLE_DUMP, T_TABLE_DUMP_V2)
        state, emit, notes, save = _plan(path, source, rib, first.timestamp, load_carry(f"mrt/{source}"))
        replayer = Replayer(state, locator, rib=rib, emit=emit, incremental=incremental)
        decoder = Decoder(name, state, replayer.at, rib)
        decoder.record(first)
        if fast:
            framing.fast = decoder.fast_path()
        record = decoder.record
        for rec in frames:
            record(rec)
    replay = replayer.finish()
    counts = decoder.counts

    parsed = Parsed(format=FORMAT)
    parsed.records_read = counts.framed - len(decoder.skipped)
    parsed.skipped = sorted(framing.skipped + decoder.skipped + compression, key=_skip_order)
    point_columns = replay.point_columns(source)
    if columns:
        parsed.point_columns = point_columns
    else:
        parsed.points = point_columns.points()
    parsed.entities = replay.entities()
    parsed.notes = _notes(framing, counts, replay, source, locator, state) + notes
    if save:
        as_of = datetime.fromtimestamp(state.next_file_s or replayer.last_s or first.timestamp, UTC)
        parsed.carry = CarryState(f"mrt/{source}", as_of, state.dump())
        if hand_over:
            _HANDED.keep(parsed.carry.payload, state)
    progress(total, total)
    return parsed


class _HandOver:
    """The tables after the last file read with ``hand_over=True``, for the next read that continues
    them: keyed by the payload they were stored as (that object, or equal bytes read back from the
    store), so only a carry of exactly these tables takes them, and only once (a read that fails
    half-way has changed them; a retry rebuilds them from the bytes; a write that failed leaves
    the store's older carry, which does not match). At most one set is held per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[bytes, RouteTables] | None = None

    def keep(self, payload: bytes, state: RouteTables) -> None:
        with self._lock:
            self._held = (payload, state)

    def take(self, payload: bytes) -> RouteTables | None:
        with self._lock:
            held, self._held = self._held, None
        if held is None or not (held[0] is payload or held[0] == payload):  # a few MB: one memcmp
            return None
        return held[1]


_HANDED = _HandOver()


def _nonempty(pieces: Iterator[bytes], name: str, compression: list[Skip]) -> Iterator[bytes]:
    """The pieces, or a one-line error if there are none (an empty compressed stream)."""
    for piece in pieces:
        if piece:
            yield piece
            yield from pieces
            return
    where = compression[0].position if compression else ""
    raise InputError(name, where, "no data after decompression")


def update_interval(source: str) -> int:
    """Seconds between a collector's update files."""
    return RIS_INTERVAL_S if source.startswith("rrc") else ROUTEVIEWS_INTERVAL_S


def file_time(path: Path) -> int | None:
    """The time in a RIS/RouteViews file name (``updates.20100227.1600``, ``...updates.1401493500``)."""
    match = NAME_DATE.search(path.name)
    if match:
        day, hm = match.group(1), match.group(2)  # not strptime: its first call imports _strptime (~2 ms)
        when = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), int(hm[:2]), int(hm[2:]), tzinfo=UTC)
        return int(when.timestamp())
    match = NAME_EPOCH.search(path.name)
    return int(match.group(1)) if match else None


def _utc(seconds: int) -> str:
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M} UTC"


def _plan(
    path: Path, source: str, rib: bool, first_s: int, carried: CarryState | None
) -> tuple[RouteTables, bool, list[str], bool]:
    """Which tables the file replays on, whether its bins get values, notes, whether to save.

    * A RIB dump replaces every peer's table (a route missing from it is gone) and resynchronises
      the collector's sequence.
    * An update file that starts where the stored sequence expects the next file continues it.
    * One that starts later leaves a gap: the missing files' withdrawals were never applied, so the
      tables are dropped and no value is given (a gap, not an outage) until the next RIB dump.
    * One that starts before the stored tables (out of order) is replayed on its own, not saved.
    * With nothing stored, an update file is replayed on its own (see docs/mrt.md for what such
      values mean) and the sequence starts there.
    """
    interval = update_interval(source)
    named = file_time(path)
    start = named if named is not None else (first_s if rib else first_s - first_s % interval)
    prior: RouteTables | None = None
    notes: list[str] = []
    if carried is not None:
        try:
            prior = _HANDED.take(carried.payload) or RouteTables.load(carried.payload)
        except (ValueError, KeyError) as exc:
            notes.append(f"the stored tables of {source} are unreadable ({exc}); replayed on its own")
    state = prior or RouteTables()
    state.file_interval_s = interval
    expected = prior.next_file_s if prior is not None else None
    if rib:
        if expected is not None and start < expected - interval:
            notes.append(
                f"RIB dump older than the collector's stored tables ({_utc(expected)}): replayed on its own"
            )
            fresh = RouteTables(known_asns=set(state.known_asns), known_countries=set(state.known_countries))
            return fresh, True, notes, False
        if prior is not None:
            notes.append(
                "RIB dump: replaces every peer's table" + ("" if prior.synced else "; the gap is over")
            )
        state.synced = True
        state.next_file_s = start - start % interval
        return state, True, notes, True
    if prior is None or expected is None:
        state.next_file_s = start + interval
        return state, True, notes, True
    if start < expected:
        notes.append(
            f"replayed on its own: the collector's stored tables end later ({_utc(expected)}) "
            "than this file starts"
        )
        fresh = RouteTables(known_asns=set(state.known_asns), known_countries=set(state.known_countries))
        return fresh, True, notes, False
    state.next_file_s = start + interval
    if start >= expected + interval:
        missing = (start - expected) // interval
        notes.append(
            f"gap: {missing} update file(s) of {source} missing from {_utc(expected)} to {_utc(start)}; "
            "the tables are not carried across it and this collector gives no values until its next RIB dump"
        )
        state.clear_routes()
        state.synced = False
        return state, False, notes, True
    if not state.synced:
        notes.append(f"{source} is waiting for a RIB dump since a gap: no values from this file")
        return state, False, notes, True
    notes.append(f"continues the collector's tables as of {_utc(expected)}")
    return state, True, notes, True


def _check(path: Path) -> None:
    name = str(path)
    if path.is_dir():
        raise InputError(name, "", "is a directory, not an MRT file")
    if not path.exists():
        raise InputError(name, "", "no such file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(name, "", f"cannot read: {exc.strerror or exc}") from exc
    if not size:
        raise InputError(name, "", "empty file")


def _skip_order(skip: Skip) -> tuple[int, int]:
    """Skips in file order: decompressed offsets first, then the compressed-stream one."""
    kind, _, number = skip.position.rpartition(" ")
    return (0 if kind == "byte" else 1), int(number) if number.isdigit() else 0


def slash24_union(intervals: list[tuple[int, int]]) -> int:
    """Size of the union of ``(start, size)`` intervals, in the intervals' unit."""
    import numpy as np

    if not intervals:
        return 0
    start = np.array([s for s, _ in intervals], dtype=np.int64)
    size = np.array([n for _, n in intervals], dtype=np.int64)
    return int(grouped_union(np.zeros(len(start), dtype=np.int64), start, size, 1)[0])


def replay_routes(
    routes: list[tuple[int, str, str, tuple[int, ...] | None] | tuple[int, str]],
    locator: GeoLocator,
    state: RouteTables | None = None,
) -> Replay:
    """Replay routes given in text, ``(time, peer, prefix, origins or None)``, or a session going
    down, ``(time, peer)``, as update records: the same tables and bins as a file (tests, tools)."""
    tables = state or RouteTables()
    replayer = Replayer(tables, locator, rib=False)
    for route in routes:
        replayer.at(route[0])
        if len(route) == 2:
            tables.drop_peer(route[1])
        else:
            text_origins(tables, route[1], route[2], route[3])
    return replayer.finish()


def collector_name(path: Path) -> str:
    """``rrc00``, ``route-views2``, ... from the directory names or the file name; else ``mrt``."""
    for part in reversed(path.parts[:-1]):
        if COLLECTOR_DIR.fullmatch(part):
            return part.lower()
    match = COLLECTOR_FILE.match(path.name)
    return match.group(1).lower() if match else DEFAULT_SOURCE


# -- notes -------------------------------------------------------------------------------------------


def _notes(
    framing: Framing,
    counts: RecordCounts,
    replay: Replay,
    source: str,
    locator: GeoLocator,
    state: RouteTables,
) -> list[str]:
    types = ", ".join(
        f"{TYPE_NAMES.get(kind, kind)}/{sub} x{n}" for (kind, sub), n in sorted(counts.by_type.items())
    )
    notes = [
        f"{source}: {counts.framed} MRT records framed ({types}); {counts.route_records} carry routes, "
        f"{counts.state_changes} state changes ({counts.peer_downs} leaving Established), "
        f"{counts.other_messages} other records without routes (OPEN, KEEPALIVE, NOTIFICATION, peer index, "
        "End-of-RIB), "
        f"{counts.local_messages} messages sent by the collector itself",
        f"read {counts.announcements + counts.withdrawals} routes ({counts.announcements} announcements, "
        f"{counts.withdrawals} withdrawals) from {counts.route_records} route records; "
        "tables after the file: "
        f"{state.routes()} routes to {len(state.keys)} prefixes from {len(state.tables)} peers",
    ]
    if counts.cut_nlri:
        notes.append(
            f"{counts.cut_nlri} NLRI fields ended in a prefix cut short; the prefixes before it were read "
            "(as bgpdump reads them)"
        )
    if counts.host_bits:
        notes.append(f"{counts.host_bits} prefixes had host bits set; read with the host bits cleared")
    uncounted = len(state.keys) - int(state.prefix_info()[2].sum())
    if uncounted:
        shortest = ", ".join(f"/{n}" for n in MIN_COUNTED_LEN.values())
        notes.append(
            f"{uncounted} prefixes shorter than {shortest} (IPv4, IPv6; default routes) count toward nothing"
        )
    if framing.damaged_bytes:
        notes.append(f"{framing.damaged_bytes} bytes of damaged framing skipped; reading resumed after each")
    if counts.converted_type5:
        notes.append(f"{counts.converted_type5} deprecated MRT type 5 (BGP) updates read as BGP4MP messages")
    if framing.padded_table_dumps:
        notes.append(
            f"{framing.padded_table_dumps} TABLE_DUMP records were {TABLE_DUMP_PAD} bytes longer than their "
            f"header says (early RIS producer) and were read whole"
        )
    if counts.split_table_dumps:
        notes.append(f"{counts.split_table_dumps} TABLE_DUMP records held several entries and were split")
    notes.append(_full_feed_note(replay))
    notes.append(
        f"countries from {locator.database_type()} built {locator.database_date():%Y-%m-%d} (address space "
        f"placed as it was then): {replay.unlocated} of {replay.located + replay.unlocated} visible prefixes "
        "have no country"
    )
    return notes


def _full_feed_note(replay: Replay) -> str:
    """Which peers were full-feed in each address family, and why (their peaks)."""
    parts = []
    for name, peaks, full in zip(
        ("IPv4", "IPv6"), replay.family_peaks, (replay.full_feed.v4, replay.full_feed.v6), strict=True
    ):
        sessions = {p: n for p, n in peaks.items() if n}
        if not sessions:
            continue
        largest = max(sessions.values())
        shown = ", ".join(f"{peer} {n}" for peer, n in sessions.items() if peer in full)
        others = [(peer, n) for peer, n in sessions.items() if peer not in full]
        other = (
            f"; largest other peer: {others[0][0]} {others[0][1]} ({others[0][1] / largest:.0%})"
            if others
            else ""
        )
        parts.append(
            f"{name} {len(full)} of {len(sessions)} (largest table {largest} prefixes): {shown}{other}"
        )
    return (
        f"full-feed peers: {len(replay.full_feed.peers)} of {len(replay.peer_peaks)}, per address family "
        f"those whose table of that family at its largest held >= {FULL_FEED_FRACTION:.0%} of the largest "
        "one: "
        + ("; ".join(parts) or "no routes")
        + f"; a prefix counts when >= {MIN_FULL_FEED_PEERS} full-feed peer of its family has a route to it"
    )
