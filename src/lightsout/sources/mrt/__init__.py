"""Reader of BGP MRT archives (RIPE RIS, RouteViews): routing visibility per origin AS and country.

The reader is split by stage: :mod:`~lightsout.sources.mrt.framing` (decompression and MRT framing,
and why this package frames the records itself in front of pybgpkit-parser),
:mod:`~lightsout.sources.mrt.decode` (record layouts), :mod:`~lightsout.sources.mrt.parser` (running
pybgpkit-parser) and :mod:`~lightsout.sources.mrt.replay` (what the output means, the replay and the
full-feed peers). This module reads a file through them: :func:`read_mrt`.
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from lightsout.attribution.geo import GeoLocator, default_locator
from lightsout.errors import InputError
from lightsout.model import Skip
from lightsout.sources import CarryState, LoadCarry, Parsed, Progress, no_carry, no_progress
from lightsout.sources.mrt.decode import Decoded, ParserRecord, PeerDown, RecordCounts, decode_records
from lightsout.sources.mrt.framing import TABLE_DUMP_PAD, Framing, MrtRecord, decompress, frame_records
from lightsout.sources.mrt.parser import ParseOutcome, Route, run_parser
from lightsout.sources.mrt.replay import (
    BIN_S,
    FULL_FEED_FRACTION,
    MIN_FULL_FEED_PEERS,
    PrefixInfo,
    Replay,
    RoutingTables,
    parse_prefix,
    replay_routes,
    slash24_union,
)

__all__ = [
    "DEFAULT_SOURCE",
    "FORMAT",
    "MAX_CARRY_GAP_S",
    "Decoded",
    "Framing",
    "MrtRecord",
    "ParseOutcome",
    "ParserRecord",
    "PeerDown",
    "PrefixInfo",
    "RecordCounts",
    "Replay",
    "Route",
    "RoutingTables",
    "collector_name",
    "decode_records",
    "decompress",
    "frame_records",
    "parse_prefix",
    "read_mrt",
    "replay_routes",
    "run_parser",
    "slash24_union",
]

FORMAT = "mrt"
DEFAULT_SOURCE = "mrt"
# An update file continues the stored tables of its collector only if it starts within this
# long after them: RIPE RIS and RouteViews write update files every 5-15 minutes and RIB dumps
# every 2-8 hours, so a longer gap means files are missing and the tables would be stale.
MAX_CARRY_GAP_S = 8 * 3600

COLLECTOR_DIR = re.compile(r"rrc\d{2}|route-views[\w.-]*", re.IGNORECASE)
COLLECTOR_FILE = re.compile(r"(rrc\d{2}|route-views[\w.-]*?)[._-](?:bview|updates|rib)", re.IGNORECASE)


# -- entry point ---------------------------------------------------------------------------------


def read_mrt(
    path: Path,
    progress: Progress = no_progress,
    locator: GeoLocator | None = None,
    load_carry: LoadCarry = no_carry,
) -> Parsed:
    """Read one MRT file (gzip, bzip2 or plain) into routing-visibility points.

    ``load_carry`` gives the collector's routing tables at the end of its previous file: an update
    file that starts where that state ends (within ``MAX_CARRY_GAP_S``) continues it, so a RIB dump
    followed by its update files gives one continuous signal. A file that starts before the state,
    or long after it, is replayed on its own (and says so in the notes)."""
    name = str(path)
    raw = _read_bytes(path)
    total = len(raw)
    progress(0, total)
    data, compression_skip = decompress(raw, name)
    if not data:
        where = compression_skip.position if compression_skip else ""
        raise InputError(name, where, "no data after decompression")
    framing = frame_records(data, name)
    if compression_skip is not None:
        framing.skipped.append(compression_skip)
    progress(total // 10, total)
    decoded = decode_records(framing.records, name)

    def chunk_progress(offset: int) -> None:
        progress(total // 10 + (total - total // 10) * offset // max(1, len(data)), total)

    with tempfile.TemporaryDirectory(prefix="lightsout-mrt-") as tmp:
        outcome = run_parser(decoded.items, Path(tmp), name, chunk_progress)
    source = collector_name(path)
    times = [r.timestamp for r in outcome.routes]
    prior, carry_note = _prior_tables(load_carry(f"mrt/{source}"), min(times, default=None))
    replay = replay_routes(outcome.routes, locator or default_locator(), prior)
    points = replay.points(source)

    parsed = Parsed(format=FORMAT)
    parsed.records_read = decoded.counts.framed - len(decoded.skipped) - len(outcome.skipped)
    parsed.skipped = sorted(framing.skipped + decoded.skipped + outcome.skipped, key=_skip_order)
    parsed.points = points
    parsed.entities = replay.entities()
    parsed.notes = _notes(framing, decoded.counts, outcome, replay, source, locator or default_locator())
    if carry_note:
        parsed.notes.append(carry_note)
    if replay.final is not None and times:
        as_of = datetime.fromtimestamp(max(times), UTC)
        parsed.carry = CarryState(f"mrt/{source}", as_of, replay.final.dump())
    progress(total, total)
    return parsed


def _prior_tables(state: CarryState | None, first_s: int | None) -> tuple[RoutingTables | None, str]:
    """The previous file's tables, if this file continues them."""
    if state is None or first_s is None:
        return None, ""
    as_of_s = int(state.as_of.timestamp())
    when = f"{state.as_of:%Y-%m-%d %H:%M} UTC"
    if first_s < as_of_s - BIN_S:
        return (
            None,
            f"replayed on its own: the collector's stored tables end later ({when}) than this file starts",
        )
    if first_s - as_of_s > MAX_CARRY_GAP_S:
        return (
            None,
            f"replayed on its own: more than {MAX_CARRY_GAP_S // 3600} h after the stored tables ({when})",
        )
    return RoutingTables.load(state.payload), f"continues the collector's tables as of {when}"


def _skip_order(skip: Skip) -> tuple[int, int]:
    """Skips in file order: decompressed offsets first, then the compressed-stream one."""
    kind, _, number = skip.position.rpartition(" ")
    return (0 if kind == "byte" else 1), int(number) if number.isdigit() else 0


def _read_bytes(path: Path) -> bytes:
    name = str(path)
    if path.is_dir():
        raise InputError(name, "", "is a directory, not an MRT file")
    if not path.exists():
        raise InputError(name, "", "no such file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(name, "", f"cannot read: {exc.strerror or exc}") from exc
    if not raw:
        raise InputError(name, "", "empty file")
    return raw


def collector_name(path: Path) -> str:
    """``rrc00``, ``route-views2``, ... from the directory names or the file name; else ``mrt``."""
    for part in reversed(path.parts[:-1]):
        if COLLECTOR_DIR.fullmatch(part):
            return part.lower()
    match = COLLECTOR_FILE.match(path.name)
    return match.group(1).lower() if match else DEFAULT_SOURCE


# -- notes -------------------------------------------------------------------------------------------


def _notes(
    framing: Framing, counts: RecordCounts, outcome: ParseOutcome, replay: Replay, source: str,
    locator: GeoLocator,
) -> list[str]:  # fmt: skip
    types = ", ".join(f"{k} x{v}" for k, v in sorted(counts.by_type.items()))
    notes = [
        f"{source}: {counts.framed} MRT records framed ({types}); {counts.route_records} carry routes, "
        f"{counts.state_changes} state changes ({counts.peer_downs} leaving Established), "
        f"{counts.other_messages} other records without routes (OPEN, KEEPALIVE, NOTIFICATION, peer index), "
        f"{counts.local_messages} messages sent by the collector itself",
        f"pybgpkit-parser yielded {outcome.announcements + outcome.withdrawals} route elements "
        f"({outcome.announcements} announcements, {outcome.withdrawals} withdrawals) from "
        f"{counts.route_records} route records holding {counts.expected_elements} prefixes by the framing's "
        f"count, in {outcome.parser_runs} parser runs",
    ]
    if framing.damaged_bytes:
        notes.append(f"{framing.damaged_bytes} bytes of damaged framing skipped; reading resumed after each")
    if counts.converted_type5:
        notes.append(
            f"{counts.converted_type5} deprecated MRT type 5 (BGP) updates rewritten as BGP4MP messages"
        )
    if framing.padded_table_dumps:
        notes.append(
            f"{framing.padded_table_dumps} TABLE_DUMP records were {TABLE_DUMP_PAD} bytes longer than their "
            f"header says (early RIS producer) and were read whole"
        )
    if counts.split_table_dumps:
        notes.append(f"{counts.split_table_dumps} TABLE_DUMP records held several entries and were split")
    if outcome.surplus_records:
        notes.append(
            f"{outcome.surplus_records} records gave the parser another prefix count than the framing; "
            "the parser's elements were kept"
        )
    largest = max(replay.peer_peaks.values(), default=0)
    full = set(replay.full_feed)
    shown = ", ".join(f"{peer} {n}" for peer, n in replay.peer_peaks.items() if peer in full)
    others = [(peer, n) for peer, n in replay.peer_peaks.items() if peer not in full]
    other = ""
    if others:
        other = f"; largest other peer: {others[0][0]} {others[0][1]} ({others[0][1] / largest:.0%})"
    notes.append(
        f"full-feed peers: {len(replay.full_feed)} of {len(replay.peer_peaks)}, those whose table at its "
        f"largest held >= {FULL_FEED_FRACTION:.0%} of the largest one ({largest} prefixes): {shown}{other}; "
        f"a prefix counts when >= {MIN_FULL_FEED_PEERS} full-feed peer has a route to it"
    )
    notes.append(
        f"countries from {locator.database_type()} built {locator.database_date():%Y-%m-%d} (address space "
        f"placed as it was then): {replay.unlocated} of {replay.located} visible prefixes have no country"
    )
    return notes
