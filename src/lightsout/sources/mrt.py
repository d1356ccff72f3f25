"""Reader of BGP MRT archives (RIPE RIS, RouteViews): routing visibility per origin AS and country.

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

Why a hand-written MRT framing pass in front of pybgpkit-parser. pybgpkit-parser 0.6.2 stops
silently at the first record it cannot read and yields nothing more: 0 elements for the damaged
``rrc00/2000.03/updates.20000325.0345.gz`` and for every file in deprecated MRT type 5 (BGP), 21
of 519 routes for ``rrc01/2000.11`` (shortened Zebra records), and 1 of 452,018 routes for the
early ``rrc00/2000.01/bview`` (TABLE_DUMP records that batch many entries and declare a length
4 bytes short). So this module decompresses the file itself (gzip, bzip2 or none) and walks the
12-byte MRT common headers (timestamp u32, type u16, subtype u16, length u32):

* a header is plausible when its type and subtype are known, its length fits in the data, its
  timestamp lies within a day of the previous good record, and the header after it is plausible
  too (or the data ends there);
* at a damaged boundary (unknown type, length beyond the end, timestamp jump, or an implausible
  next header) it records a :class:`Skip` at the byte offset in the decompressed stream and
  searches forward for the next offset where two consecutive plausible headers start;
* each good record is checked against the layout of its type (peer header, BGP marker and length,
  withdrawn/attribute/NLRI lengths, entry lengths), which also counts the prefixes it carries;
  records that fail are skipped with the reason; MRT type 5 BGP updates are rewritten as the
  equivalent BGP4MP messages and batched TABLE_DUMP records are split one entry per record, so
  that the library can read them; records of MRT types that carry no BGP routes (OSPF, IS-IS,
  BGP4PLUS, ...) are skipped with a reason, while BGP messages without routes (OPEN, KEEPALIVE,
  NOTIFICATION) and state changes are read and counted; messages the collector itself sent
  (BGP4MP ``*_LOCAL``) are counted and left out;
* the good records go to temporary files, in chunks, which pybgpkit-parser reads. A chunk whose
  element count differs from the prefixes counted in the framing is split in halves and re-read
  until the record the library cannot read is found and skipped, so nothing is lost silently.

``Parsed.notes`` reports how many MRT records the file held, how many carried routes, and how many
route elements the parser yielded against the count from the framing.
"""

from __future__ import annotations

import bz2
import ipaddress
import json
import re
import socket
import struct
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pybgpkit_parser

from lightsout.attribution.entities import make_asn_network, make_country
from lightsout.attribution.geo import GeoLocator, default_locator
from lightsout.errors import InputError
from lightsout.model import Entity, SignalKind, SignalPoint, Skip
from lightsout.sources import CarryState, LoadCarry, Parsed, Progress, no_carry, no_progress

FORMAT = "mrt"
DEFAULT_SOURCE = "mrt"
BIN_S = 300
FULL_FEED_FRACTION = 0.5  # of the largest peer table in the file; see the module docstring
# An update file continues the stored tables of its collector only if it starts within this
# long after them: RIPE RIS and RouteViews write update files every 5-15 minutes and RIB dumps
# every 2-8 hours, so a longer gap means files are missing and the tables would be stale.
MAX_CARRY_GAP_S = 8 * 3600
MIN_FULL_FEED_PEERS = 1  # full-feed peers that must see a prefix for it to count as visible

HEADER = struct.Struct(">IHHI")
HEADER_LEN = HEADER.size
TIMESTAMP_WINDOW_S = 86_400  # a record more than a day from the previous one is damage
EARLIEST_TIMESTAMP = 788_918_400  # 1995-01-01: MRT is younger
MAX_RECORD_LEN = 16 * 1024 * 1024
CHUNK_BYTES = 1 << 20  # parser input per temporary file
CHUNK_RECORDS = 8192
TABLE_DUMP_PAD = 4  # early RIS TABLE_DUMP records are 4 bytes longer than their header says

# MRT types (RFC 6396 and its deprecated predecessors).
T_BGP, T_BGP4PLUS, T_BGP4PLUS_01 = 5, 9, 10
T_TABLE_DUMP, T_TABLE_DUMP_V2, T_BGP4MP, T_BGP4MP_ET = 12, 13, 16, 17
TYPE_NAMES = {
    0: "NULL", 1: "START", 2: "DIE", 3: "I_AM_DEAD", 4: "PEER_DOWN", 5: "BGP", 6: "RIP", 7: "IDRP",
    8: "RIPNG", 9: "BGP4PLUS", 10: "BGP4PLUS_01", 11: "OSPFv2", 12: "TABLE_DUMP", 13: "TABLE_DUMP_V2",
    16: "BGP4MP", 17: "BGP4MP_ET", 32: "ISIS", 33: "ISIS_ET", 48: "OSPFv3", 49: "OSPFv3_ET",
}  # fmt: skip
KNOWN_SUBTYPES: dict[int, range] = {
    0: range(1), 1: range(1), 2: range(1), 3: range(1), 4: range(1), 5: range(8), 6: range(1),
    7: range(1), 8: range(1), 9: range(8), 10: range(8), 11: range(1), 12: range(1, 3),
    13: range(1, 13), 16: range(12), 17: range(12), 32: range(1), 33: range(1), 48: range(1), 49: range(1),
}  # fmt: skip
ESTABLISHED = 6
BGP_MARKER = b"\xff" * 16
BGP_UPDATE, BGP_MSG_HEADER = 2, 19
BGP4MP_AS4 = frozenset({4, 5, 7, 9, 11})
BGP4MP_LOCAL = frozenset({6, 7, 10, 11})
BGP4MP_ADDPATH = frozenset({8, 9, 10, 11})
BGP4MP_MESSAGES = frozenset({1, 4, 6, 7, 8, 9, 10, 11})
TD2_PEER_INDEX = 1
TD2_RIB_AFI = {2: 1, 3: 1, 4: 2, 5: 2, 8: 1, 9: 1, 10: 2, 11: 2}
AFI_ADDR_LEN = {1: 4, 2: 16}

COLLECTOR_DIR = re.compile(r"rrc\d{2}|route-views[\w.-]*", re.IGNORECASE)
COLLECTOR_FILE = re.compile(r"(rrc\d{2}|route-views[\w.-]*?)[._-](?:bview|updates|rib)", re.IGNORECASE)


class _Malformed(ValueError):
    """A record whose bytes do not match the layout of its type; the message is the skip reason."""


@dataclass(frozen=True, slots=True)
class MrtRecord:
    """One framed MRT record: where it starts in the decompressed stream and its body."""

    offset: int
    timestamp: int
    mrt_type: int
    subtype: int
    body: bytes


@dataclass(slots=True)
class Framing:
    """The records found in a decompressed MRT stream and the damage between them."""

    records: list[MrtRecord] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    padded_table_dumps: int = 0  # TABLE_DUMP records read with the 4 bytes past their length
    damaged_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ParserRecord:
    """A record handed to pybgpkit-parser, with the route elements it must yield."""

    offset: int
    timestamp: int
    raw: bytes  # the complete MRT record, header included (several, for a split TABLE_DUMP record)
    expected: int
    preamble: bytes = b""  # a record the library must read first (TABLE_DUMP_V2 PEER_INDEX_TABLE)


@dataclass(frozen=True, slots=True)
class PeerDown:
    """A BGP session that left the Established state: the peer's routes are gone."""

    offset: int
    timestamp: int
    peer: str


@dataclass(slots=True)
class RecordCounts:
    """What the records of a file were, for ``Parsed.notes``."""

    framed: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    route_records: int = 0  # records handed to the parser
    expected_elements: int = 0
    state_changes: int = 0
    peer_downs: int = 0
    other_messages: int = 0  # OPEN, KEEPALIVE, NOTIFICATION, PEER_INDEX_TABLE: read, carry no routes
    local_messages: int = 0  # sent by the collector itself, not routes from a peer
    converted_type5: int = 0
    split_table_dumps: int = 0


@dataclass(slots=True)
class Decoded:
    """Framed records turned into parser input and session events, in file order."""

    items: list[ParserRecord | PeerDown] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    counts: RecordCounts = field(default_factory=RecordCounts)


@dataclass(slots=True)
class Route:
    """A route element from the parser, placed at its record's time; ``origins`` None = withdrawal."""

    timestamp: int
    peer: str
    prefix: str
    origins: tuple[int, ...] | None


@dataclass(slots=True)
class ParseOutcome:
    """What pybgpkit-parser made of the records."""

    routes: list[Route | PeerDown] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    announcements: int = 0
    withdrawals: int = 0
    parser_runs: int = 0
    surplus_records: int = 0  # records that yielded more elements than the framing counted


@dataclass(frozen=True, slots=True)
class PrefixInfo:
    """A prefix seen in the file: its /24 interval (IPv4 up to /24 only) and its network address."""

    text: str  # normalised, host bits cleared
    address: str  # the network address, which geolocation places
    slash24_start: int
    slash24_size: int  # 0: not counted in bgp_slash24s (IPv6, or longer than /24)


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


# -- decompression -------------------------------------------------------------------------------


def decompress(raw: bytes, name: str) -> tuple[bytes, Skip | None]:
    """gzip or bzip2 (by magic number, multi-member) or plain bytes.

    A corrupt or truncated compressed stream keeps what decompressed before the damage and returns
    a :class:`Skip` saying where (in compressed bytes) the rest was lost.
    """
    make: Callable[[], zlib._Decompress | bz2.BZ2Decompressor]
    if raw[:2] == b"\x1f\x8b":
        kind = "gzip"

        def make() -> zlib._Decompress | bz2.BZ2Decompressor:
            return zlib.decompressobj(wbits=31)
    elif raw[:3] == b"BZh":
        kind = "bzip2"
        make = bz2.BZ2Decompressor
    else:
        return raw, None
    out: list[bytes] = []
    pos, step = 0, 1 << 18
    while pos < len(raw):
        member = make()
        while True:
            piece = raw[pos : pos + step]
            try:
                out.append(member.decompress(piece))
            except (zlib.error, OSError, EOFError, ValueError) as exc:
                reason = f"corrupt {kind} data ({exc}); the rest of the file is unreadable"
                return b"".join(out), Skip(name, f"compressed byte {pos}", reason)
            if member.eof:
                pos += len(piece) - len(member.unused_data)
                break
            pos += len(piece)
            if pos >= len(raw):
                reason = f"{kind} stream ends early (truncated file); the rest is missing"
                return b"".join(out), Skip(name, f"compressed byte {len(raw)}", reason)
        if not raw[pos:].strip(b"\0"):
            break  # trailing zero padding after the last member
    return b"".join(out), None


# -- framing ---------------------------------------------------------------------------------------


def _header(data: bytes, off: int, ref_ts: int | None) -> tuple[int, int, int, int] | None:
    """The header at ``off`` if it is plausible on its own: known type, fitting length, sane time."""
    if off + HEADER_LEN > len(data):
        return None
    ts, mrt_type, subtype, length = HEADER.unpack_from(data, off)
    subtypes = KNOWN_SUBTYPES.get(mrt_type)
    if subtypes is None or subtype not in subtypes:
        return None
    if length > MAX_RECORD_LEN or off + HEADER_LEN + length > len(data):
        return None
    if ref_ts is None:
        if not EARLIEST_TIMESTAMP <= ts <= time.time() + TIMESTAMP_WINDOW_S:
            return None
    elif abs(ts - ref_ts) > TIMESTAMP_WINDOW_S:
        return None
    return ts, mrt_type, subtype, length


def _span(data: bytes, off: int, ref_ts: int | None) -> tuple[int, int, int, int, int] | None:
    """(timestamp, type, subtype, body length, bytes to the next record) for a record at ``off``
    whose header is plausible and is followed by a plausible header or the end of the data."""
    header = _header(data, off, ref_ts)
    if header is None:
        return None
    ts, mrt_type, subtype, length = header
    end = off + HEADER_LEN + length
    if end == len(data) or _header(data, end, ts) is not None:
        return ts, mrt_type, subtype, length, HEADER_LEN + length
    if mrt_type == T_TABLE_DUMP:
        padded = end + TABLE_DUMP_PAD
        if padded == len(data) or _header(data, padded, ts) is not None:
            return ts, mrt_type, subtype, length + TABLE_DUMP_PAD, HEADER_LEN + length + TABLE_DUMP_PAD
    if len(data) - end < HEADER_LEN:
        return ts, mrt_type, subtype, length, HEADER_LEN + length  # trailing bytes are reported apart
    return None


def _damage(data: bytes, off: int, ref_ts: int) -> str:
    """Why the record at ``off`` was not accepted, in one phrase."""
    if off + HEADER_LEN > len(data):
        return "header cut short by the end of the data"
    ts, mrt_type, subtype, length = HEADER.unpack_from(data, off)
    if mrt_type not in KNOWN_SUBTYPES:
        return f"unknown MRT type {mrt_type}"
    if subtype not in KNOWN_SUBTYPES[mrt_type]:
        return f"unknown subtype {subtype} of MRT type {TYPE_NAMES[mrt_type]}"
    if off + HEADER_LEN + length > len(data):
        return f"record length {length} runs past the end of the data"
    if abs(ts - ref_ts) > TIMESTAMP_WINDOW_S:
        return f"timestamp {ts} jumps {ts - ref_ts:+d} s from the previous record"
    return f"{TYPE_NAMES[mrt_type]} record of length {length} is not followed by a valid header"


class _Finder:
    """Next occurrence of 2-byte patterns in the data, remembered between searches, so that
    resynchronising many times never rescans the data for a pattern that does not occur again."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.found: dict[bytes, tuple[int, int]] = {}  # pattern -> (searched from, hit or -1)

    def next(self, pattern: bytes, pos: int) -> int:
        known = self.found.get(pattern)
        if known is not None and known[0] <= pos and (known[1] < 0 or known[1] >= pos):
            return known[1]
        hit = self.data.find(pattern, pos)
        self.found[pattern] = (pos, hit)
        return hit


def _resync(data: bytes, start: int, ref_ts: int, finder: _Finder) -> int:
    """The first offset from ``start`` where a plausible record chain begins (or the data's end).

    Candidates are found by the top 16 bits of a timestamp within the window of ``ref_ts``.
    """
    low, high = max(0, ref_ts - TIMESTAMP_WINDOW_S) >> 16, min(0xFFFFFFFF, ref_ts + TIMESTAMP_WINDOW_S) >> 16
    patterns = [top.to_bytes(2, "big") for top in range(low, high + 1)]
    pos = start
    while True:
        hits = [h for h in (finder.next(p, pos) for p in patterns) if h >= 0]
        if not hits:
            return len(data)
        cand = min(hits)
        if _span(data, cand, ref_ts) is not None:
            return cand
        pos = cand + 1


def frame_records(data: bytes, name: str) -> Framing:
    """Walk the MRT common headers of a decompressed stream; resynchronise after damage."""
    framing = Framing()
    first = _header(data, 0, None)
    if first is None:
        if len(data) < HEADER_LEN:
            raise InputError(name, "byte 0", f"not an MRT file: only {len(data)} bytes")
        ts, mrt_type, subtype, length = HEADER.unpack_from(data, 0)
        raise InputError(
            name, "byte 0",
            f"not an MRT file: the first 12 bytes are no MRT header (type {mrt_type}, subtype {subtype}, "
            f"length {length}, timestamp {ts})",
        )  # fmt: skip
    ref_ts = first[0]
    finder = _Finder(data)
    off = 0
    while off < len(data):
        if len(data) - off < HEADER_LEN:
            framing.skipped.append(
                Skip(name, f"byte {off}", f"{len(data) - off} trailing bytes, too short for an MRT header")
            )
            framing.damaged_bytes += len(data) - off
            break
        span = _span(data, off, ref_ts)
        if span is None:
            nxt = _resync(data, off + 1, ref_ts, finder)
            header = _header(data, off, ref_ts)
            if header is not None and nxt >= off + HEADER_LEN + header[3]:
                # A plausible record followed by junk: the next good chain starts after its end, so
                # keep it (its layout is checked later) and skip only the junk, next time round.
                span = (*header, HEADER_LEN + header[3])
            else:
                where = "next plausible header" if nxt < len(data) else "end of the data"
                damage = _damage(data, off, ref_ts)
                reason = f"damaged MRT framing: {damage}; {nxt - off} bytes skipped to the {where}"
                framing.skipped.append(Skip(name, f"byte {off}", reason))
                framing.damaged_bytes += nxt - off
                off = nxt
                continue
        ts, mrt_type, subtype, length, step = span
        if mrt_type == T_TABLE_DUMP and length != HEADER.unpack_from(data, off)[3]:
            framing.padded_table_dumps += 1
        framing.records.append(MrtRecord(off, ts, mrt_type, subtype, data[off + HEADER_LEN : off + step]))
        ref_ts = ts
        off += step
    if not framing.records:
        raise InputError(name, "byte 0", f"no readable MRT record: {framing.skipped[0].reason}")
    return framing


# -- record layouts --------------------------------------------------------------------------------


def _count_prefixes(buf: bytes, start: int, end: int, afi: int, addpath: bool) -> int:
    """Number of prefixes in an NLRI field, checking that they fill it exactly."""
    max_len = 32 if afi == 1 else 128
    count, pos = 0, start
    while pos < end:
        if addpath:
            pos += 4
            if pos >= end:
                raise _Malformed("NLRI path identifier cut short")
        plen = buf[pos]
        if plen > max_len:
            raise _Malformed(f"prefix length {plen} in an address family with {max_len}-bit addresses")
        pos += 1 + (plen + 7) // 8
        count += 1
    if pos != end:
        raise _Malformed("prefix runs past the end of its NLRI field")
    return count


def _update_prefixes(msg: bytes, start: int, addpath: bool) -> int:
    """Prefixes announced and withdrawn by a BGP UPDATE whose body starts at ``msg[start]``."""
    end = len(msg)
    if start + 4 > end:
        raise _Malformed("UPDATE shorter than its two length fields")
    (wlen,) = struct.unpack_from(">H", msg, start)
    attr_at = start + 2 + wlen
    if attr_at + 2 > end:
        raise _Malformed(f"withdrawn-routes length {wlen} runs past the message")
    count = _count_prefixes(msg, start + 2, attr_at, 1, addpath)
    (alen,) = struct.unpack_from(">H", msg, attr_at)
    pos, attr_end = attr_at + 2, attr_at + 2 + alen
    if attr_end > end:
        raise _Malformed(f"path-attribute length {alen} runs past the message")
    while pos < attr_end:
        if pos + 3 > attr_end:
            raise _Malformed("path attribute header cut short")
        flags, code = msg[pos], msg[pos + 1]
        if flags & 0x10:
            if pos + 4 > attr_end:
                raise _Malformed("path attribute header cut short")
            (length,) = struct.unpack_from(">H", msg, pos + 2)
            value = pos + 4
        else:
            length, value = msg[pos + 2], pos + 3
        if value + length > attr_end:
            raise _Malformed(f"path attribute {code} runs past the attributes")
        if code in (14, 15) and length >= 3:
            afi, safi = struct.unpack_from(">HB", msg, value)
            nlri = value + 3
            if code == 14:
                if length < 5:
                    raise _Malformed("MP_REACH_NLRI cut short")
                nlri = value + 4 + msg[value + 3] + 1
                if nlri > value + length:
                    raise _Malformed("MP_REACH_NLRI next hop runs past the attribute")
            if afi in AFI_ADDR_LEN and safi in (1, 2):
                count += _count_prefixes(msg, nlri, value + length, afi, addpath)
        pos = value + length
    return count + _count_prefixes(msg, attr_end, end, 1, addpath)


def _ip(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def decode_records(records: list[MrtRecord], name: str) -> Decoded:
    """Check each record against its layout; produce parser input and peer-down events."""
    out = Decoded()
    counts = out.counts
    peer_index: bytes | None = None  # TABLE_DUMP_V2 PEER_INDEX_TABLE, needed before RIB records
    for rec in records:
        counts.framed += 1
        counts.by_type[f"{TYPE_NAMES.get(rec.mrt_type, rec.mrt_type)}/{rec.subtype}"] += 1
        try:
            if rec.mrt_type in (T_BGP4MP, T_BGP4MP_ET):
                _decode_bgp4mp(rec, out)
            elif rec.mrt_type == T_BGP:
                _decode_bgp_type5(rec, out)
            elif rec.mrt_type == T_TABLE_DUMP:
                _decode_table_dump(rec, out)
            elif rec.mrt_type == T_TABLE_DUMP_V2:
                peer_index = _decode_table_dump_v2(rec, out, peer_index)
            elif rec.mrt_type in (T_BGP4PLUS, T_BGP4PLUS_01):
                raise _Malformed(f"deprecated MRT type {TYPE_NAMES[rec.mrt_type]} (IPv6 BGP) is not read")
            else:
                kind = TYPE_NAMES.get(rec.mrt_type, str(rec.mrt_type))
                raise _Malformed(f"MRT type {kind} carries no BGP routes")
        except _Malformed as exc:
            out.skipped.append(Skip(name, f"byte {rec.offset}", str(exc)))
    return out


def _route_record(rec: MrtRecord, mrt_type: int, subtype: int, body: bytes, expected: int) -> ParserRecord:
    raw = HEADER.pack(rec.timestamp, mrt_type, subtype, len(body)) + body
    return ParserRecord(rec.offset, rec.timestamp, raw, expected)


def _decode_bgp4mp(rec: MrtRecord, out: Decoded) -> None:
    body = rec.body[4:] if rec.mrt_type == T_BGP4MP_ET else rec.body  # ET: microseconds first
    sub = rec.subtype
    if sub in (2, 3):
        raise _Malformed(f"deprecated BGP4MP subtype {sub} (ENTRY/SNAPSHOT) is not read")
    asn_len = 4 if sub in BGP4MP_AS4 else 2
    fixed = 2 * asn_len + 4  # peer AS, local AS, interface index, AFI
    if len(body) < fixed:
        raise _Malformed(f"shortened BGP4MP record ({len(body)} bytes): no peer header")
    (afi,) = struct.unpack_from(">H", body, 2 * asn_len + 2)
    addr_len = AFI_ADDR_LEN.get(afi)
    if addr_len is None:
        kind = "state change" if sub in (0, 5) else "message"
        raise _Malformed(
            f"shortened BGP4MP {kind} of {len(body)} bytes: no peer header (address family {afi})"
        )
    peer_at, after = fixed, fixed + 2 * addr_len
    if sub in (0, 5):  # STATE_CHANGE(_AS4)
        if len(body) != after + 4:
            raise _Malformed(f"shortened BGP4MP state change: {len(body)} bytes, {after + 4} expected")
        out.counts.state_changes += 1
        old, new = struct.unpack_from(">HH", body, after)
        if old == ESTABLISHED and new != ESTABLISHED:
            out.counts.peer_downs += 1
            out.items.append(PeerDown(rec.offset, rec.timestamp, _ip(body[peer_at : peer_at + addr_len])))
        return
    if sub not in BGP4MP_MESSAGES:
        raise _Malformed(f"BGP4MP subtype {sub} is not read")
    if len(body) < after + BGP_MSG_HEADER or body[after : after + 16] != BGP_MARKER:
        raise _Malformed(f"BGP4MP message of {len(body)} bytes without a BGP header")
    msg_len, msg_type = struct.unpack_from(">HB", body, after + 16)
    if msg_len != len(body) - after:
        raise _Malformed(f"BGP message length {msg_len} differs from the {len(body) - after} bytes recorded")
    if sub in BGP4MP_LOCAL:
        out.counts.local_messages += 1
        return
    if msg_type != BGP_UPDATE:
        out.counts.other_messages += 1
        return
    expected = _update_prefixes(body, after + BGP_MSG_HEADER, sub in BGP4MP_ADDPATH)
    out.counts.route_records += 1
    out.counts.expected_elements += expected
    out.items.append(ParserRecord(rec.offset, rec.timestamp, HEADER.pack(
        rec.timestamp, rec.mrt_type, sub, len(rec.body)) + rec.body, expected))  # fmt: skip


def _decode_bgp_type5(rec: MrtRecord, out: Decoded) -> None:
    """Deprecated MRT type 5: UPDATEs are rewritten as BGP4MP_MESSAGE (pybgpkit cannot read type 5).

    Layout (as libbgpdump reads it): source AS u16, source IPv4, destination AS u16, destination
    IPv4, then for BGP_UPDATE the UPDATE message without its 19-byte BGP header; BGP_STATE_CHANGE
    has source AS, source IP, old state u16, new state u16.
    """
    body, sub = rec.body, rec.subtype
    if sub == 1:  # BGP_UPDATE
        if len(body) < 12:
            raise _Malformed(f"MRT BGP update of {len(body)} bytes: no peer header")
        payload = body[12:]
        expected = _update_prefixes(payload, 0, False)
        if len(payload) + BGP_MSG_HEADER > 0xFFFF:
            raise _Malformed("MRT BGP update too long for a BGP message")
        src_as, dst_as = struct.unpack_from(">H", body, 0)[0], struct.unpack_from(">H", body, 6)[0]
        new_body = (struct.pack(">HHHH", src_as, dst_as, 0, 1) + body[2:6] + body[8:12] + BGP_MARKER
                    + struct.pack(">HB", len(payload) + BGP_MSG_HEADER, BGP_UPDATE) + payload)  # fmt: skip
        out.counts.route_records += 1
        out.counts.converted_type5 += 1
        out.counts.expected_elements += expected
        out.items.append(_route_record(rec, T_BGP4MP, 1, new_body, expected))
    elif sub == 3:  # BGP_STATE_CHANGE
        if len(body) != 10:
            raise _Malformed(f"MRT BGP state change of {len(body)} bytes, expected 10")
        out.counts.state_changes += 1
        old, new = struct.unpack_from(">HH", body, 6)
        if old == ESTABLISHED and new != ESTABLISHED:
            out.counts.peer_downs += 1
            out.items.append(PeerDown(rec.offset, rec.timestamp, _ip(body[2:6])))
    elif sub in (5, 6, 7):  # OPEN, NOTIFY, KEEPALIVE
        out.counts.other_messages += 1
    else:
        raise _Malformed(f"MRT BGP subtype {sub} (NULL, PREF_UPDATE or SYNC) carries no routes")


def _decode_table_dump(rec: MrtRecord, out: Decoded) -> None:
    """TABLE_DUMP (RFC 6396 4.2), split into one entry per record.

    Early RIS bviews batch many entries after one view/sequence pair; the library reads only the
    first entry of such a record, so each entry is re-emitted as a standard single-entry record.
    """
    addr = 4 if rec.subtype == 1 else 16
    body = rec.body
    entry_fixed = 2 * addr + 10  # prefix, length, status, originated, peer IP, peer AS, attr length
    if len(body) < 4 + entry_fixed:
        raise _Malformed(f"TABLE_DUMP record of {len(body)} bytes: no entry")
    view = body[:2]
    pos, entries = 4, []
    while pos < len(body):
        if pos + entry_fixed > len(body):
            raise _Malformed(f"TABLE_DUMP entry at record byte {pos} cut short")
        plen = body[pos + addr]
        if plen > addr * 8:
            raise _Malformed(f"TABLE_DUMP prefix length {plen}")
        (alen,) = struct.unpack_from(">H", body, pos + entry_fixed - 2)
        end = pos + entry_fixed + alen
        if end > len(body):
            raise _Malformed(f"TABLE_DUMP entry at record byte {pos}: attributes run past the record")
        entries.append(body[pos:end])
        pos = end
    if len(entries) > 1:
        out.counts.split_table_dumps += 1
    pack, ts, sub = HEADER.pack, rec.timestamp, rec.subtype
    raw = b"".join(
        pack(ts, T_TABLE_DUMP, sub, len(entry) + 4) + view + (seq & 0xFFFF).to_bytes(2, "big") + entry
        for seq, entry in enumerate(entries)
    )
    out.items.append(ParserRecord(rec.offset, rec.timestamp, raw, len(entries)))
    out.counts.route_records += 1
    out.counts.expected_elements += len(entries)


def _decode_table_dump_v2(rec: MrtRecord, out: Decoded, peer_index: bytes | None) -> bytes | None:
    """TABLE_DUMP_V2: passed through; each RIB record carries its PEER_INDEX_TABLE as preamble."""
    raw = HEADER.pack(rec.timestamp, rec.mrt_type, rec.subtype, len(rec.body)) + rec.body
    if rec.subtype == TD2_PEER_INDEX:
        out.counts.other_messages += 1
        return raw
    afi = TD2_RIB_AFI.get(rec.subtype)
    if afi is None:
        raise _Malformed(f"TABLE_DUMP_V2 subtype {rec.subtype} (RIB_GENERIC) is not read")
    if peer_index is None:
        raise _Malformed("TABLE_DUMP_V2 RIB record before any PEER_INDEX_TABLE")
    body = rec.body
    if len(body) < 5:
        raise _Malformed("TABLE_DUMP_V2 RIB record cut short")
    at = 5 + (body[4] + 7) // 8
    if body[4] > AFI_ADDR_LEN[afi] * 8 or at + 2 > len(body):
        raise _Malformed("TABLE_DUMP_V2 RIB prefix damaged")
    (entries,) = struct.unpack_from(">H", body, at)
    out.counts.route_records += 1
    out.counts.expected_elements += entries
    out.items.append(ParserRecord(rec.offset, rec.timestamp, raw, entries, peer_index))
    return peer_index


# -- running the parser ----------------------------------------------------------------------------


def _chunks(items: list[ParserRecord | PeerDown]) -> Iterator[list[ParserRecord] | PeerDown]:
    """Parser records in runs of at most CHUNK_BYTES / CHUNK_RECORDS; a PeerDown ends a run."""
    run: list[ParserRecord] = []
    size = 0
    for item in items:
        if isinstance(item, PeerDown):
            if run:
                yield run
                run, size = [], 0
            yield item
            continue
        run.append(item)
        size += len(item.raw)
        if size >= CHUNK_BYTES or len(run) >= CHUNK_RECORDS:
            yield run
            run, size = [], 0
    if run:
        yield run


def _parse_file(file: Path, records: list[ParserRecord]) -> list[pybgpkit_parser.Elem]:
    """Write the records (each after its preamble, once) to ``file`` and let the library read it."""
    with file.open("wb") as handle:
        written: bytes | None = None
        for rec in records:
            if rec.preamble and rec.preamble is not written:
                handle.write(rec.preamble)
                written = rec.preamble
            handle.write(rec.raw)
    try:
        return list(pybgpkit_parser.Parser(url=str(file)))
    finally:
        file.unlink()


def run_parser(
    items: list[ParserRecord | PeerDown], tmp: Path, name: str, progress: Callable[[int], None]
) -> ParseOutcome:
    """Hand the records to pybgpkit-parser chunk by chunk; track down records it cannot read.

    A chunk is accepted when the library yields exactly as many elements as the framing counted
    prefixes; then element i belongs to the record holding the i-th prefix, which gives it the
    record's header time. Otherwise the chunk is split in halves until the failing record is alone.
    """
    outcome = ParseOutcome()
    file = tmp / "chunk.mrt"
    peer_cache: dict[str, str] = {}

    def route(rec: ParserRecord, elem: pybgpkit_parser.Elem) -> Route:
        peer = peer_cache.get(elem.peer_ip)
        if peer is None:
            peer = peer_cache[elem.peer_ip] = str(ipaddress.ip_address(elem.peer_ip))
        if elem.elem_type == "A":
            outcome.announcements += 1
            return Route(rec.timestamp, peer, elem.prefix, tuple(elem.origin_asns or ()))
        outcome.withdrawals += 1
        return Route(rec.timestamp, peer, elem.prefix, None)

    def solve(records: list[ParserRecord]) -> None:
        outcome.parser_runs += 1
        elems = _parse_file(file, records)
        expected = sum(r.expected for r in records)
        if len(elems) == expected:
            it = iter(elems)
            for rec in records:
                outcome.routes.extend(route(rec, next(it)) for _ in range(rec.expected))
            return
        if len(records) > 1:
            half = len(records) // 2
            solve(records[:half])
            solve(records[half:])
            return
        rec = records[0]
        if not elems:
            reason = f"pybgpkit-parser could not read the record ({expected} prefixes by the framing)"
            outcome.skipped.append(Skip(name, f"byte {rec.offset}", reason))
            return
        # One record, another count than the framing's (an address family it does not count):
        # take what the library made of it, at this record's time, and say so in the notes.
        outcome.surplus_records += 1
        outcome.routes.extend(route(rec, elem) for elem in elems)

    for chunk in _chunks(items):
        if isinstance(chunk, PeerDown):
            outcome.routes.append(chunk)
            continue
        solve(chunk)
        progress(chunk[-1].offset)
    return outcome


# -- replay ----------------------------------------------------------------------------------------


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
