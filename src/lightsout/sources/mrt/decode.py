"""Record layouts: each framed MRT record checked against the layout of its type and its routes
applied to the collector's tables (:class:`~lightsout.sources.mrt.tables.RouteTables`).

Why this module decodes BGP itself. The visibility signal needs three things per route: the peer,
the prefix and the origin AS (the end of the AS path). pybgpkit-parser 0.6.2 builds a full element
object per route (every attribute, decoded to Python), which alone takes about 4x bgpdump's time
on an update file, before any replay; bgpdump -m formats every route as text. Reading only the
AS path's last segment and the NLRI bytes (keys are the NLRI bytes themselves, host bits cleared)
is what lets the ingest run faster than bgpdump on one core; tests/test_mrt.py checks the result
per origin AS against bgpdump's output and against pybgpkit-parser. This module is the reference
and the fallback: the frequent records (TABLE_DUMP_V2 RIB entries, BGP4MP updates and state
changes) are decoded by the C fast path built from ``_fastmrt.pyx`` where it is built
(:meth:`Decoder.fast_path`), because in Python the per-record work alone costs 0.3-0.7x
bgpdump -m's records/s per core (bench/bench_mrt.py); every other record comes here, and
tests/test_mrt_fast.py reads real files both ways and compares.

What is read as bgpdump reads it: BGP4MP and BGP4MP_ET messages (2- and 4-byte AS, ADD-PATH),
UPDATEs of any length (RFC 8654 extended messages: the length comes from the MRT record),
MP_REACH/MP_UNREACH for IPv4 and IPv6 (unicast and multicast), AS4_PATH on 2-byte sessions (RFC
6793: it holds the true origin where AS_PATH says AS_TRANS 23456), NLRI with host bits set (the
prefix is read and its host bits cleared), TABLE_DUMP (v1, batched entries split) and
TABLE_DUMP_V2 (RIB_IPV4/IPV6 unicast and multicast, with ADD-PATH), and deprecated MRT type 5 (BGP).
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lightsout.model import Skip
from lightsout.sources.mrt.framing import (
    KNOWN_SUBTYPES,
    T_BGP,
    T_BGP4MP,
    T_BGP4MP_ET,
    T_BGP4PLUS,
    T_BGP4PLUS_01,
    T_TABLE_DUMP,
    T_TABLE_DUMP_V2,
    TYPE_NAMES,
    FastRun,
    MrtRecord,
)
from lightsout.sources.mrt.tables import V6_TAG, RouteTables

ESTABLISHED = 6
BGP_MARKER = b"\xff" * 16
BGP_UPDATE, BGP_MSG_HEADER = 2, 19
AS_TRANS = 23456
BGP4MP_AS4 = frozenset({4, 5, 7, 9, 11})
BGP4MP_LOCAL = frozenset({6, 7, 10, 11})
BGP4MP_ADDPATH = frozenset({8, 9, 10, 11})
BGP4MP_MESSAGES = frozenset({1, 4, 6, 7, 8, 9, 10, 11})
TD2_PEER_INDEX = 1
TD2_RIB_AFI = {2: 1, 3: 1, 4: 2, 5: 2, 8: 1, 9: 1, 10: 2, 11: 2}
TD2_ADDPATH = frozenset({8, 9, 10, 11})
AFI_ADDR_LEN = {1: 4, 2: 16}
ATTR_CACHE_SIZE = 1 << 20
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class Malformed(ValueError):
    """A record whose bytes do not match the layout of its type; the message is the skip reason."""


@dataclass(slots=True)
class RecordCounts:
    """What the records of a file were, for ``Parsed.notes``."""

    framed: int = 0
    by_type: Counter[tuple[int, int]] = field(default_factory=Counter)  # (MRT type, subtype)
    route_records: int = 0  # records carrying routes
    announcements: int = 0
    withdrawals: int = 0
    state_changes: int = 0
    peer_downs: int = 0
    other_messages: int = 0  # OPEN, KEEPALIVE, NOTIFICATION, PEER_INDEX_TABLE: read, carry no routes
    local_messages: int = 0  # sent by the collector itself, not routes from a peer
    converted_type5: int = 0
    split_table_dumps: int = 0
    host_bits: int = 0  # prefixes whose host bits were set (cleared)
    cut_nlri: int = 0  # NLRI fields ending in a prefix cut short (the prefixes before it are read)


def _prefixes(
    buf: bytes, pos: int, end: int, v6: bool, addpath: bool, out: list[bytes], counts: RecordCounts
) -> None:
    """Append the keys of the prefixes in an NLRI field (host bits cleared)."""
    max_len = 128 if v6 else 32
    while pos < end:
        if addpath:
            pos += 4
            if pos >= end:
                raise Malformed("NLRI path identifier cut short")
        plen = buf[pos]
        if plen > max_len:
            raise Malformed(f"prefix length {plen} in an address family with {max_len}-bit addresses")
        nxt = pos + 1 + ((plen + 7) >> 3)
        if nxt > end:  # a cut-short last prefix: bgpdump reads the ones before it, and so do we
            counts.cut_nlri += 1
            return
        key = buf[pos:nxt]
        if plen & 7 and key[-1] & (0xFF >> (plen & 7)):
            key = key[:-1] + bytes((key[-1] & (0xFF << (8 - (plen & 7))) & 0xFF,))
            counts.host_bits += 1
        out.append(bytes((V6_TAG,)) + key if v6 else key)
        pos = nxt


def _path_origin(buf: bytes, pos: int, end: int, width: int) -> tuple[int, ...]:
    """The origin of an AS_PATH/AS4_PATH value: the last AS of the last sequence, or a final
    AS_SET's members; confederation segments are skipped; () for an empty path."""
    last_type = last_at = last_count = 0
    while pos < end:
        if pos + 2 > end:
            raise Malformed("AS path segment header cut short")
        seg_type, count = buf[pos], buf[pos + 1]
        seg_end = pos + 2 + count * width
        if seg_end > end:
            raise Malformed("AS path segment runs past its attribute")
        if count and seg_type in (1, 2):
            last_type, last_at, last_count = seg_type, pos + 2, count
        pos = seg_end
    if not last_count:
        return ()
    unpack = (_U32 if width == 4 else _U16).unpack_from
    if last_type == 2:
        return (unpack(buf, last_at + (last_count - 1) * width)[0],)
    return tuple(unpack(buf, last_at + i * width)[0] for i in range(last_count))


def _attributes(buf: bytes, pos: int, end: int) -> dict[int, tuple[int, int]]:
    """Path attributes: type code -> (value start, value end)."""
    found: dict[int, tuple[int, int]] = {}
    while pos < end:
        if pos + 3 > end:
            raise Malformed("path attribute header cut short")
        flags, code = buf[pos], buf[pos + 1]
        if flags & 0x10:
            if pos + 4 > end:
                raise Malformed("path attribute header cut short")
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            value = pos + 4
        else:
            length, value = buf[pos + 2], pos + 3
        if value + length > end:
            raise Malformed(f"path attribute {code} runs past the attributes")
        found[code] = (value, value + length)
        pos = value + length
    return found


def _origin(buf: bytes, attrs: dict[int, tuple[int, int]], width: int) -> tuple[int, ...]:
    at = attrs.get(2)
    origins = _path_origin(buf, at[0], at[1], width) if at else ()
    if width == 2 and AS_TRANS in origins and 17 in attrs:  # RFC 6793: the true origin is in AS4_PATH
        start, stop = attrs[17]
        as4 = _path_origin(buf, start, stop, 4)
        if as4:
            origins = as4
    return origins


def _as_path_only(buf: bytes, pos: int, end: int) -> tuple[int, ...]:
    """Origin from 4-byte attributes (TABLE_DUMP_V2), stopping at the AS_PATH."""
    while pos < end:
        if pos + 3 > end:
            raise Malformed("path attribute header cut short")
        flags, code = buf[pos], buf[pos + 1]
        if flags & 0x10:
            if pos + 4 > end:
                raise Malformed("path attribute header cut short")
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            value = pos + 4
        else:
            length, value = buf[pos + 2], pos + 3
        if value + length > end:
            raise Malformed(f"path attribute {code} runs past the attributes")
        if code == 2:
            return _path_origin(buf, value, value + length, 4)
        pos = value + length
    return ()


class RouteSink:
    """Applies routes to the tables: the hot path of the reader (plain attribute access only)."""

    def __init__(self, state: RouteTables, track_peaks: bool) -> None:
        self.state = state
        self.ids = state.ids
        self.sizes = state.sizes
        self.peaks = state.peaks
        self.track_peaks = track_peaks

    def update(
        self, peer: str, withdrawn: list[bytes], announced: list[bytes], origins: tuple[int, ...]
    ) -> None:
        state, ids, sizes = self.state, self.ids, self.sizes
        table = state.tables.get(peer)
        if table is None:
            table = state.table(peer)
        size = sizes[peer]
        dirty = state.dirty  # the prefixes whose routes changed since the last snapshot
        for key in withdrawn:
            pid = ids.get(key)
            if pid is not None and table[pid]:
                table[pid] = 0
                dirty[pid] = 1
                size -= 1
        if announced:
            oid = state.origin_ids.get(origins)
            if oid is None:
                oid = state.origin_id(origins)
            for key in announced:
                pid = ids.get(key)
                if pid is None:
                    pid = state.prefix_id(key)
                    table = state.tables[peer]  # may have grown
                    dirty = state.dirty
                held = table[pid]
                if held != oid:
                    if not held:
                        size += 1
                    table[pid] = oid
                    dirty[pid] = 1
        sizes[peer] = size
        if self.track_peaks and size > self.peaks.get(peer, 0):
            self.peaks[peer] = size


class Decoder:
    """Decodes framed records one by one and applies their routes."""

    def __init__(self, name: str, state: RouteTables, at: Callable[[int], None], rib: bool) -> None:
        self.name = name
        self.state = state
        self.at = at
        self.counts = RecordCounts()
        self.skipped: list[Skip] = []
        self.sink = RouteSink(state, track_peaks=not rib)
        self.peer_names: dict[bytes, str] = {}
        self.td2_peers: list[str] | None = None
        self.attr_origins: dict[bytes, int] = {}  # TABLE_DUMP_V2 attribute block -> origin-set id

    def fast_path(self) -> FastRun | None:
        """The C fast path bound to this decoder (``_fastmrt``), or None where it is not built."""
        try:
            from lightsout.sources.mrt._fastmrt import FastPath
        except ImportError:
            return None
        run: FastRun = FastPath(self, KNOWN_SUBTYPES, self.sink.track_peaks).run
        return run

    def peer(self, raw: bytes) -> str:
        name = self.peer_names.get(raw)
        if name is None:
            family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
            name = self.peer_names[raw] = socket.inet_ntop(family, raw)
        return name

    def record(self, rec: MrtRecord) -> None:
        counts = self.counts
        counts.framed += 1
        counts.by_type[rec.mrt_type, rec.subtype] += 1
        try:
            if rec.mrt_type == T_TABLE_DUMP_V2:
                self._table_dump_v2(rec)
            elif rec.mrt_type in (T_BGP4MP, T_BGP4MP_ET):
                self._bgp4mp(rec)
            elif rec.mrt_type == T_TABLE_DUMP:
                self._table_dump(rec)
            elif rec.mrt_type == T_BGP:
                self._bgp_type5(rec)
            elif rec.mrt_type in (T_BGP4PLUS, T_BGP4PLUS_01):
                raise Malformed(f"deprecated MRT type {TYPE_NAMES[rec.mrt_type]} (IPv6 BGP) is not read")
            else:
                kind = TYPE_NAMES.get(rec.mrt_type, str(rec.mrt_type))
                raise Malformed(f"MRT type {kind} carries no BGP routes")
        except Malformed as exc:
            self.skipped.append(Skip(self.name, f"byte {rec.offset}", str(exc)))

    # -- BGP UPDATE messages ---------------------------------------------------------------------

    def _update(self, ts: int, peer: str, msg: bytes, start: int, width: int, addpath: bool) -> None:
        """A BGP UPDATE whose body starts at ``msg[start]`` and runs to the end of ``msg``."""
        end = len(msg)
        if start + 4 > end:
            raise Malformed("UPDATE shorter than its two length fields")
        (wlen,) = _U16.unpack_from(msg, start)
        attr_at = start + 2 + wlen
        if attr_at + 2 > end:
            raise Malformed(f"withdrawn-routes length {wlen} runs past the message")
        counts = self.counts
        withdrawn: list[bytes] = []
        announced: list[bytes] = []
        _prefixes(msg, start + 2, attr_at, False, addpath, withdrawn, counts)
        (alen,) = _U16.unpack_from(msg, attr_at)
        attr_end = attr_at + 2 + alen
        if attr_end > end:
            raise Malformed(f"path-attribute length {alen} runs past the message")
        attrs = _attributes(msg, attr_at + 2, attr_end)
        for code in (14, 15):
            span = attrs.get(code)
            if span is None or span[1] - span[0] < 3:
                continue
            value, stop = span
            afi, safi = _U16.unpack_from(msg, value)[0], msg[value + 2]
            nlri = value + 3
            if code == 14:
                if stop - value < 5:
                    raise Malformed("MP_REACH_NLRI cut short")
                nlri = value + 4 + msg[value + 3] + 1
                if nlri > stop:
                    raise Malformed("MP_REACH_NLRI next hop runs past the attribute")
            if afi in AFI_ADDR_LEN and safi in (1, 2):
                _prefixes(msg, nlri, stop, afi == 2, addpath, announced if code == 14 else withdrawn, counts)
        _prefixes(msg, attr_end, end, False, addpath, announced, counts)
        origins = _origin(msg, attrs, width) if announced else ()
        if not withdrawn and not announced:
            counts.other_messages += 1  # an End-of-RIB marker or an UPDATE of another family
            return
        counts.route_records += 1
        counts.withdrawals += len(withdrawn)
        counts.announcements += len(announced)
        self.at(ts)
        self.sink.update(peer, withdrawn, announced, origins)

    def _peer_down(self, ts: int, peer: str) -> None:
        self.counts.peer_downs += 1
        self.at(ts)
        self.state.drop_peer(peer)

    def _bgp4mp(self, rec: MrtRecord) -> None:
        body = rec.body[4:] if rec.mrt_type == T_BGP4MP_ET else rec.body  # ET: microseconds first
        sub = rec.subtype
        if sub in (2, 3):
            raise Malformed(f"deprecated BGP4MP subtype {sub} (ENTRY/SNAPSHOT) is not read")
        asn_len = 4 if sub in BGP4MP_AS4 else 2
        fixed = 2 * asn_len + 4  # peer AS, local AS, interface index, AFI
        if len(body) < fixed:
            raise Malformed(f"shortened BGP4MP record ({len(body)} bytes): no peer header")
        (afi,) = _U16.unpack_from(body, 2 * asn_len + 2)
        addr_len = AFI_ADDR_LEN.get(afi)
        if addr_len is None:
            kind = "state change" if sub in (0, 5) else "message"
            raise Malformed(
                f"shortened BGP4MP {kind} of {len(body)} bytes: no peer header (address family {afi})"
            )
        peer_at, after = fixed, fixed + 2 * addr_len
        if sub in (0, 5):  # STATE_CHANGE(_AS4)
            if len(body) != after + 4:
                raise Malformed(f"shortened BGP4MP state change: {len(body)} bytes, {after + 4} expected")
            self.counts.state_changes += 1
            old, new = struct.unpack_from(">HH", body, after)
            if old == ESTABLISHED and new != ESTABLISHED:
                self._peer_down(rec.timestamp, self.peer(body[peer_at : peer_at + addr_len]))
            return
        if sub not in BGP4MP_MESSAGES:
            raise Malformed(f"BGP4MP subtype {sub} is not read")
        if len(body) < after + BGP_MSG_HEADER or body[after : after + 16] != BGP_MARKER:
            raise Malformed(f"BGP4MP message of {len(body)} bytes without a BGP header")
        msg_len, msg_type = _U16.unpack_from(body, after + 16)[0], body[after + 18]
        if msg_len != len(body) - after:
            raise Malformed(
                f"BGP message length {msg_len} differs from the {len(body) - after} bytes recorded"
            )
        if sub in BGP4MP_LOCAL:
            self.counts.local_messages += 1
            return
        if msg_type != BGP_UPDATE:
            self.counts.other_messages += 1
            return
        peer = self.peer(body[peer_at : peer_at + addr_len])
        self._update(rec.timestamp, peer, body, after + BGP_MSG_HEADER, asn_len, sub in BGP4MP_ADDPATH)

    def _bgp_type5(self, rec: MrtRecord) -> None:
        """Deprecated MRT type 5, as libbgpdump reads it: source AS u16, source IPv4, destination
        AS u16, destination IPv4, then for BGP_UPDATE the UPDATE without its 19-byte BGP header;
        BGP_STATE_CHANGE has source AS, source IP, old state u16, new state u16."""
        body, sub = rec.body, rec.subtype
        if sub == 1:  # BGP_UPDATE
            if len(body) < 12:
                raise Malformed(f"MRT BGP update of {len(body)} bytes: no peer header")
            self.counts.converted_type5 += 1
            self._update(rec.timestamp, self.peer(body[2:6]), body, 12, 2, False)
        elif sub == 3:  # BGP_STATE_CHANGE
            if len(body) != 10:
                raise Malformed(f"MRT BGP state change of {len(body)} bytes, expected 10")
            self.counts.state_changes += 1
            old, new = struct.unpack_from(">HH", body, 6)
            if old == ESTABLISHED and new != ESTABLISHED:
                self._peer_down(rec.timestamp, self.peer(body[2:6]))
        elif sub in (5, 6, 7):  # OPEN, NOTIFY, KEEPALIVE
            self.counts.other_messages += 1
        else:
            raise Malformed(f"MRT BGP subtype {sub} (NULL, PREF_UPDATE or SYNC) carries no routes")

    # -- RIB dumps -------------------------------------------------------------------------------

    def _table_dump(self, rec: MrtRecord) -> None:
        """TABLE_DUMP (RFC 6396 4.2); early RIS bviews batch many entries in one record."""
        addr = 4 if rec.subtype == 1 else 16
        body = rec.body
        entry_fixed = 2 * addr + 10  # prefix, length, status, originated, peer IP, peer AS, attr length
        if len(body) < 4 + entry_fixed:
            raise Malformed(f"TABLE_DUMP record of {len(body)} bytes: no entry")
        pos, entries = 4, []
        while pos < len(body):
            if pos + entry_fixed > len(body):
                raise Malformed(f"TABLE_DUMP entry at record byte {pos} cut short")
            plen = body[pos + addr]
            if plen > addr * 8:
                raise Malformed(f"TABLE_DUMP prefix length {plen}")
            (alen,) = _U16.unpack_from(body, pos + entry_fixed - 2)
            end = pos + entry_fixed + alen
            if end > len(body):
                raise Malformed(f"TABLE_DUMP entry at record byte {pos}: attributes run past the record")
            keys: list[bytes] = []
            nlri = bytes((plen,)) + body[pos : pos + (plen + 7) // 8]
            _prefixes(nlri, 0, len(nlri), addr == 16, False, keys, self.counts)
            peer_at = pos + addr + 6
            attrs = _attributes(body, pos + entry_fixed, end)
            entries.append((self.peer(body[peer_at : peer_at + addr]), keys, _origin(body, attrs, 2)))
            pos = end
        if len(entries) > 1:
            self.counts.split_table_dumps += 1
        self.counts.route_records += 1
        self.counts.announcements += len(entries)
        self.at(rec.timestamp)
        for peer, keys, origins in entries:
            self.sink.update(peer, [], keys, origins)

    def _table_dump_v2(self, rec: MrtRecord) -> None:
        body, sub = rec.body, rec.subtype
        if sub == TD2_PEER_INDEX:
            self.counts.other_messages += 1
            self.td2_peers = _peer_index(body)
            return
        afi = TD2_RIB_AFI.get(sub)
        if afi is None:
            raise Malformed(f"TABLE_DUMP_V2 subtype {sub} (RIB_GENERIC) is not read")
        peers = self.td2_peers
        if peers is None:
            raise Malformed("TABLE_DUMP_V2 RIB record before any PEER_INDEX_TABLE")
        if len(body) < 5:
            raise Malformed("TABLE_DUMP_V2 RIB record cut short")
        plen = body[4]
        at = 5 + ((plen + 7) >> 3)
        if plen > AFI_ADDR_LEN[afi] * 8 or at + 2 > len(body):
            raise Malformed("TABLE_DUMP_V2 RIB prefix damaged")
        keys: list[bytes] = []
        _prefixes(body, 4, at, afi == 2, False, keys, self.counts)
        state = self.state
        pid = state.ids.get(keys[0])
        if pid is None:
            pid = state.prefix_id(keys[0])
        (count,) = _U16.unpack_from(body, at)
        pos, end = at + 2, len(body)
        skip = 10 if sub in TD2_ADDPATH else 6  # peer index u16 .. attribute length u16
        self.at(rec.timestamp)
        tables, sizes, cache = state.tables, state.sizes, self.attr_origins
        for _ in range(count):
            if pos + skip + 2 > end:
                raise Malformed("TABLE_DUMP_V2 RIB entry cut short")
            index = (body[pos] << 8) | body[pos + 1]
            alen = (body[pos + skip] << 8) | body[pos + skip + 1]
            attr_at = pos + skip + 2
            pos = attr_at + alen
            if pos > end:
                raise Malformed("TABLE_DUMP_V2 RIB entry attributes run past the record")
            if index >= len(peers):
                raise Malformed(f"TABLE_DUMP_V2 peer index {index} beyond the {len(peers)} peers")
            # Entries of one path share their attribute bytes: decode each distinct block once.
            attrs = body[attr_at:pos]
            oid = cache.get(attrs)
            if oid is None:
                if len(cache) >= ATTR_CACHE_SIZE:
                    cache.clear()
                oid = cache[attrs] = state.origin_id(_as_path_only(body, attr_at, pos))
            peer = peers[index]
            table = tables.get(peer)
            if table is None:
                table = state.table(peer)
            held = table[pid]
            if held != oid:
                if not held:
                    sizes[peer] += 1
                table[pid] = oid
                state.dirty[pid] = 1
        self.counts.route_records += 1
        self.counts.announcements += count


def _peer_index(body: bytes) -> list[str]:
    """The peers of a TABLE_DUMP_V2 PEER_INDEX_TABLE, by index."""
    if len(body) < 8:
        raise Malformed("PEER_INDEX_TABLE cut short")
    (name_len,) = _U16.unpack_from(body, 4)
    pos = 6 + name_len
    if pos + 2 > len(body):
        raise Malformed("PEER_INDEX_TABLE cut short")
    (count,) = _U16.unpack_from(body, pos)
    pos += 2
    peers = []
    for _ in range(count):
        if pos + 1 > len(body):
            raise Malformed("PEER_INDEX_TABLE entry cut short")
        ptype = body[pos]
        addr = 16 if ptype & 1 else 4
        asn = 4 if ptype & 2 else 2
        ip_at = pos + 5
        if ip_at + addr + asn > len(body):
            raise Malformed("PEER_INDEX_TABLE entry cut short")
        family = socket.AF_INET6 if addr == 16 else socket.AF_INET
        peers.append(socket.inet_ntop(family, body[ip_at : ip_at + addr]))
        pos = ip_at + addr + asn
    return peers
