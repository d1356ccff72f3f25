"""RIPE RIS Live frames -> typed route changes (the RIS Live connector's reader of messages).

Frame facts (``../shared/data/api-samples/ris-live/README.md``, https://ris-live.ripe.net/manual/):
every frame is ``{"type": ..., "data": ...}``; routes come in ``ris_message`` frames whose
``data.type`` is ``UPDATE`` (``announcements: [{next_hop, prefixes}]``, ``withdrawals: [prefix]``,
``path``: AS numbers, a final AS_SET as a nested list) or ``RIS_PEER_STATE`` (``state``). Both
formats are read: 2019 (``host`` "rrc00", timestamps with 2 decimals, absent fields omitted) and
2025 (``host`` "rrc25.ripe.net", 3 decimals, empty arrays present, ``origin`` upper-case).
A prefix announced with several next hops (global and link-local) is one route.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import orjson

from lightsout.sources.mrt.tables import key_of_text
from lightsout.sources.mrt.updates import Change, PeerDown, RouteUpdate

KEY_CACHE_MAX = 1 << 20
_key_cache: dict[str, bytes] = {}
_peer_cache: dict[str, str] = {}


class BadMessage(ValueError):
    """A frame that is not a RIS Live message we can read; the text is the skip reason."""


@dataclass(slots=True)
class Message:
    """One ``ris_message`` of the followed collector, converted."""

    ts: float  # collector time, Unix seconds
    host: str  # "rrc00" (2025's "rrc25.ripe.net" shortened)
    identity: str  # the dedupe identity (see :func:`identity`)
    kind: str  # UPDATE, RIS_PEER_STATE, KEEPALIVE, OPEN, NOTIFICATION, "" (no type)
    changes: tuple[Change, ...]


@dataclass(slots=True)
class Control:
    """A frame that is not a route message: ``ris_error``, ``pong``, ``ris_rrc_list``, ..."""

    type: str
    data: Any


def prefix(text: str) -> bytes:
    """The table key of a prefix in text (cached: the same prefixes come back all the time)."""
    key = _key_cache.get(text)
    if key is None:
        try:
            key = key_of_text(text)
        except (OSError, ValueError) as exc:
            raise BadMessage(f"prefix {text!r} is not an IP prefix ({exc})") from None
        if len(_key_cache) >= KEY_CACHE_MAX:
            _key_cache.clear()
        _key_cache[text] = key
    return key


def peer_name(text: str) -> str:
    """A peer's address as the MRT decoder names peers (``inet_ntop`` of its bytes)."""
    name = _peer_cache.get(text)
    if name is None:
        family = socket.AF_INET6 if ":" in text else socket.AF_INET
        try:
            name = socket.inet_ntop(family, socket.inet_pton(family, text))
        except OSError:
            raise BadMessage(f"peer {text!r} is not an IP address") from None
        if len(_peer_cache) >= KEY_CACHE_MAX:
            _peer_cache.clear()
        _peer_cache[text] = name
    return name


def origins_of(path: object) -> tuple[int, ...]:
    """The origin set of a RIS Live ``path``: the last AS, or every AS of a final AS_SET (nested list)."""
    if not isinstance(path, list) or not path:
        return ()
    last = path[-1]
    if isinstance(last, list):
        members = sorted({int(a) for a in last if isinstance(a, int) and not isinstance(a, bool)})
        return tuple(members)
    if isinstance(last, int) and not isinstance(last, bool):
        return (last,)
    raise BadMessage(f"path ends in {last!r}, not an AS number or AS_SET")


def identity(data: dict[str, Any], host: str) -> str:
    """What makes a message the same message when a server sends it again after a reconnect.

    RIS Live's ``id`` names one message of one collector (2019 ``<peer>-<ts>-<seq>``, 2021
    ``<rrc#>-<n>-<n>``, 2025 ``<peer>-<hex>``): with it the identity is collector + peer + id.
    Without an id, collector + peer + timestamp + type + the withdrawn and announced prefix sets
    and the path: two different UPDATEs of one peer agreeing on all of these within the timestamp's
    resolution (10 ms in 2019, 1 ms in 2025) would have the same effect on the tables anyway."""
    mid = data.get("id")
    peer = data.get("peer")
    if isinstance(mid, str) and mid:
        return f"{host}|{peer}|{mid}"
    announced = sorted({p for a in data.get("announcements") or () for p in a.get("prefixes") or ()})
    withdrawn = sorted(set(data.get("withdrawals") or ()))
    return (
        f"{host}|{peer}|{data.get('timestamp')}|{data.get('type')}|{withdrawn}|{announced}|{data.get('path')}"
    )


def read_frame(text: str | bytes) -> Message | Control:
    """One frame; :class:`BadMessage` for anything that is not a readable frame."""
    try:
        frame = orjson.loads(text)  # 3.5x json.loads on the recorded firehose (docs/sources.md)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not JSON ({exc})") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadMessage("not a RIS Live frame (no type)")
    kind = frame["type"]
    data = frame.get("data")
    if kind != "ris_message":
        return Control(kind, data)
    if not isinstance(data, dict):
        raise BadMessage("ris_message without data")
    ts, peer, host = data.get("timestamp"), data.get("peer"), data.get("host")
    if not isinstance(ts, int | float) or isinstance(ts, bool) or ts <= 0:
        raise BadMessage(f"ris_message timestamp {ts!r} is not Unix seconds")
    if not isinstance(peer, str) or not peer or not isinstance(host, str) or not host:
        raise BadMessage("ris_message without peer or host")
    host = host.split(".", 1)[0].lower()
    mtype = data.get("type")
    mtype = mtype.upper() if isinstance(mtype, str) else ""
    changes = _changes(data, mtype, int(ts), peer_name(peer))
    return Message(float(ts), host, identity(data, host), mtype, changes)


def _changes(data: dict[str, Any], mtype: str, ts: int, peer: str) -> tuple[Change, ...]:
    if mtype == "RIS_PEER_STATE":
        state = str(data.get("state", "")).lower()
        return (PeerDown(ts, peer),) if state == "down" else ()
    if mtype != "UPDATE":
        return ()
    withdrawals = data.get("withdrawals") or []
    announcements = data.get("announcements") or []
    if not isinstance(withdrawals, list) or not isinstance(announcements, list):
        raise BadMessage("UPDATE whose withdrawals or announcements are not lists")
    withdrawn = [prefix(p) for p in withdrawals if isinstance(p, str)]
    if len(withdrawn) != len(withdrawals):
        raise BadMessage("UPDATE withdrawal that is not a prefix in text")
    announced: list[bytes] = []
    seen: set[bytes] = set()
    for group in announcements:
        prefixes = group.get("prefixes") if isinstance(group, dict) else None
        if not isinstance(prefixes, list):
            raise BadMessage("UPDATE announcement without a prefix list")
        for text in prefixes:
            if not isinstance(text, str):
                raise BadMessage(f"announced prefix {text!r} is not text")
            key = prefix(text)
            if key not in seen:  # the same prefixes under a global and a link-local next hop
                seen.add(key)
                announced.append(key)
    if not withdrawn and not announced:
        return ()
    origins = origins_of(data.get("path")) if announced else ()
    return (RouteUpdate(ts, peer, withdrawn, announced, origins),)
