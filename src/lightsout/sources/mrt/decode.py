"""Record layouts: each framed MRT record checked against the layout of its type and turned into
parser input (see :mod:`lightsout.sources.mrt.framing` for why).
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from dataclasses import dataclass, field

from lightsout.model import Skip
from lightsout.sources.mrt.framing import (
    HEADER,
    T_BGP,
    T_BGP4MP,
    T_BGP4MP_ET,
    T_BGP4PLUS,
    T_BGP4PLUS_01,
    T_TABLE_DUMP,
    T_TABLE_DUMP_V2,
    TYPE_NAMES,
    MrtRecord,
)

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


class _Malformed(ValueError):
    """A record whose bytes do not match the layout of its type; the message is the skip reason."""


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
