"""A collector's routing tables, compact: one array of origin-set ids per peer, indexed by prefix id.

Memory is bounded by (prefixes x peers x 4 bytes), not by Python objects per route: the 2014 jinx
full feed (497k prefixes) replayed as 40 peers, about 20 million routes, holds ~80-160 MB of
tables (see bench/bench_mrt.py). Prefixes and origin sets are interned once:

* a prefix is keyed by its bytes as BGP carries them (address family, length, the significant
  address bytes with host bits cleared), and gets a small integer id;
* an origin set (the origin AS, or every AS of a final AS_SET) gets a small integer id; 0 means
  "no route".

The whole state goes to the store with the file's points (``CarryState``, key ``mrt/<collector>``)
in a compact binary form (:meth:`RouteTables.dump`).
"""

from __future__ import annotations

import json
import socket
import struct
import zlib
from array import array
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

AFI_V4, AFI_V6 = 4, 6
V6_TAG = 0x80  # first byte of an IPv6 key; an IPv4 key starts with its length (<= 32)
# Prefixes shorter than these count toward nothing: no organisation holds more than a /8 of IPv4
# (IANA allocated the space to registries in /8 units) or a /12 of IPv6 (IANA's allocations to the
# RIRs are /23../12); a shorter prefix is a default route (0.0.0.0/0, ::/0) or an aggregate leak,
# which RFC 7454 (BGP operations and security, 6.1.3) tells operators to filter. docs/mrt.md.
MIN_COUNTED_LEN = {AFI_V4: 8, AFI_V6: 12}
FORMAT_TAG = b"LOTAB3"  # format 3: binary parts deflated by ISA-L (RouteTables.dump)
FORMAT_TAG_V1 = b"LOTAB1"  # format 1: zlib, as earlier stores hold it
FORMAT_VERSION = 3
_HEAD = struct.Struct(">6sI")


def prefix_key(afi: int, plen: int, addr: bytes) -> bytes:
    """The interned key of a prefix as BGP encodes it (length byte, then the significant address
    bytes) with host bits cleared; IPv6 keys start with ``V6_TAG``."""
    if plen & 7 and addr:
        mask = (0xFF << (8 - (plen & 7))) & 0xFF
        last = addr[-1] & mask
        if last != addr[-1]:
            addr = addr[:-1] + bytes((last,))
    key = bytes((plen,)) + addr
    return key if afi == AFI_V4 else bytes((V6_TAG,)) + key


def key_parts(key: bytes) -> tuple[int, int, bytes]:
    """(address family, length, significant address bytes) of a key."""
    if key[0] == V6_TAG:
        return AFI_V6, key[1], key[2:]
    return AFI_V4, key[0], key[1:]


def key_text(key: bytes) -> str:
    """``193.0.0.0/21`` or ``2001:67c::/32`` of a prefix key."""
    afi, plen, addr = key_parts(key)
    if afi == AFI_V4:
        return socket.inet_ntoa(addr.ljust(4, bytes(1))) + f"/{plen}"
    return socket.inet_ntop(socket.AF_INET6, addr.ljust(16, bytes(1))) + f"/{plen}"


def key_of_text(text: str) -> bytes:
    """The key of a prefix in text (host bits cleared)."""
    addr, _, length = text.partition("/")
    if ":" in addr:
        plen = int(length) if length else 128
        return prefix_key(AFI_V6, plen, socket.inet_pton(socket.AF_INET6, addr)[: (plen + 7) // 8])
    plen = int(length) if length else 32
    if not 0 <= plen <= 32:
        raise ValueError(f"prefix length {plen}")
    return prefix_key(AFI_V4, plen, socket.inet_aton(addr)[: (plen + 7) // 8])


def _padded_keys(keys: list[bytes], lo: int, hi: int, width: int) -> bytes:
    """The keys ``keys[lo:hi]`` padded with zeros to ``width`` bytes each, laid end to end."""
    try:
        from lightsout.sources.mrt._fastmrt import padded_keys
    except ImportError:
        return b"".join(k.ljust(width, b"\0") for k in keys[lo:hi])
    out: bytes = padded_keys(keys, lo, hi, width)
    return out


def _length_prefixed(keys: list[bytes]) -> bytes:
    """Each key preceded by its length byte, laid end to end (the store's copy of the keys)."""
    try:
        from lightsout.sources.mrt._fastmrt import length_prefixed
    except ImportError:
        return b"".join(bytes((len(k),)) + k for k in keys)
    out: bytes = length_prefixed(keys)
    return out


def _split_length_prefixed(blob: bytes) -> list[bytes]:
    """The keys :func:`_length_prefixed` joined."""
    try:
        from lightsout.sources.mrt._fastmrt import split_length_prefixed
    except ImportError:
        keys, pos = [], 0
        while pos < len(blob):
            length = blob[pos]
            if pos + 1 + length > len(blob):
                raise ValueError("prefix keys cut short") from None
            keys.append(blob[pos + 1 : pos + 1 + length])
            pos += 1 + length
        return keys
    out: list[bytes] = split_length_prefixed(blob)
    return out


@dataclass(slots=True)
class RouteTables:
    """Interned prefixes and origin sets, and every peer's table.

    ``tables[peer][prefix id]`` is the origin-set id of the peer's route to the prefix (0: none).
    ``peaks`` is each peer's largest table since the last RIB dump (shown in the notes);
    ``peaks_v4`` / ``peaks_v6`` the same per address family, as noted at each bin's close (the
    full-feed test is made per family: :func:`~lightsout.sources.mrt.replay.full_feed_peers`);
    ``known_asns`` / ``known_countries`` every entity the collector has shown since its first
    file, which keep getting points (0 when all their prefixes are gone) while data comes in.
    """

    keys: list[bytes] = field(default_factory=list)
    ids: dict[bytes, int] = field(default_factory=dict)
    # per prefix id, filled in bulk by prefix_info() (numpy arrays; None until first asked)
    info: tuple[Any, Any, Any, Any] | None = None  # (/24 start, /24 size, counted, IPv4 address or -1)
    # per prefix id: index into country_codes, -1 no country, -2 not looked up yet (geolocated once)
    country_of: Any = None
    country_codes: list[str] = field(default_factory=list)
    origin_sets: list[tuple[int, ...]] = field(default_factory=lambda: [()])  # id 0: no route
    origin_ids: dict[tuple[int, ...], int] = field(default_factory=dict)
    single: Any = None  # per origin-set id: its AS when it holds one, else -1 (single_origins())
    tables: dict[str, array[int]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    peaks: dict[str, int] = field(default_factory=dict)
    peaks_v4: dict[str, int] = field(default_factory=dict)
    peaks_v6: dict[str, int] = field(default_factory=dict)
    capacity: int = 1024
    known_asns: set[int] = field(default_factory=set)
    known_countries: set[str] = field(default_factory=set)
    # the stream position: where the next update file must start to continue these tables
    next_file_s: int | None = None
    file_interval_s: int = 0
    synced: bool = True  # False after a gap, until the next RIB dump
    # per prefix id: 1 when a table's route to it was written since the last snapshot (every writer
    # marks it: the C fast path, RouteSink, the RIB decoders, drop_peer, text_origins); the
    # snapshot recounts only those (sources/mrt/snapshot.py). Not stored: a loaded state starts
    # from a whole recount.
    dirty: bytearray = field(default_factory=lambda: bytearray(1024))
    snapshot_memo: Any = None  # the last snapshot's counts (snapshot.SnapshotMemo); None: recount all

    # -- interning ---------------------------------------------------------------------------------

    def prefix_id(self, key: bytes) -> int:
        pid = self.ids.get(key)
        if pid is None:
            pid = self.ids[key] = len(self.keys)
            self.keys.append(key)
            if pid >= self.capacity:
                self._grow(pid + 1)
        return pid

    def prefix_info(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """Per prefix id: the start and size of its IPv4 space in /24s (size 0: IPv6 or longer than
        /24), whether it counts (``MIN_COUNTED_LEN``) and its IPv4 network address (-1 for IPv6);
        computed in bulk for new prefixes."""
        import numpy as np

        n = len(self.keys)
        done = 0 if self.info is None else len(self.info[0])
        if self.info is None or done < n:
            raw = np.frombuffer(_padded_keys(self.keys, done, n, 18), dtype=np.uint8).reshape(-1, 18)
            head = raw[:, 0].astype(np.int64)
            v6 = head == V6_TAG
            plen = np.where(v6, raw[:, 1], head)
            value = (
                raw[:, 1].astype(np.int64) << 24
                | raw[:, 2].astype(np.int64) << 16
                | raw[:, 3].astype(np.int64) << 8
                | raw[:, 4]
            )
            slash24 = ~v6 & (plen <= 24)
            size = np.where(slash24, np.left_shift(1, np.clip(24 - plen, 0, 24)), 0).astype(np.int64)
            start = np.where(slash24, value >> 8, 0).astype(np.int64)
            counted = np.where(v6, plen >= MIN_COUNTED_LEN[AFI_V6], plen >= MIN_COUNTED_LEN[AFI_V4])
            address = np.where(v6, -1, value)
            if self.info is None:
                self.info = (start, size, counted, address)
            else:
                self.info = tuple(
                    np.concatenate([a, b])
                    for a, b in zip(self.info, (start, size, counted, address), strict=True)
                )  # type: ignore[assignment]
        assert self.info is not None
        return self.info

    def single_origins(self) -> npt.NDArray[np.int64]:
        """Per origin-set id, its AS when the set holds one AS, else -1; extended for new sets."""
        import numpy as np

        done = 0 if self.single is None else len(self.single)
        if done < len(self.origin_sets):
            fresh = np.array([o[0] if len(o) == 1 else -1 for o in self.origin_sets[done:]], dtype=np.int64)
            self.single = fresh if self.single is None else np.concatenate([self.single, fresh])
        result: npt.NDArray[np.int64] = self.single
        return result

    def origin_id(self, origins: tuple[int, ...]) -> int:
        oid = self.origin_ids.get(origins)
        if oid is None:
            if len(origins) > 1:
                canonical = tuple(sorted(set(origins)))
                oid = self.origin_ids.get(canonical)
                if oid is None:
                    oid = self.origin_ids[canonical] = len(self.origin_sets)
                    self.origin_sets.append(canonical)
            else:
                oid = len(self.origin_sets)
                self.origin_sets.append(origins)
            self.origin_ids[origins] = oid
        return oid

    def _grow(self, needed: int) -> None:
        new = self.capacity
        while new < needed:
            new *= 2
        extra = bytes(4 * (new - self.capacity))
        for table in self.tables.values():
            table.frombytes(extra)
        self.dirty.extend(bytes(new - len(self.dirty)))
        self.capacity = new

    def table(self, peer: str) -> array[int]:
        table = self.tables.get(peer)
        if table is None:
            table = self.tables[peer] = array("I", bytes(4 * self.capacity))
            self.sizes[peer] = 0
        return table

    # -- changes -----------------------------------------------------------------------------------

    def drop_peer(self, peer: str) -> None:
        """The peer's session went down: all of its routes are gone."""
        import numpy as np

        table = self.tables.get(peer)
        if table is not None:
            held = np.frombuffer(table, dtype=np.uint32)
            dirty = np.frombuffer(self.dirty, dtype=np.uint8)
            dirty[np.flatnonzero(held[: len(dirty)])] = 1
            del held, dirty
            self.tables[peer] = array("I", bytes(4 * self.capacity))
            self.sizes[peer] = 0

    def clear_routes(self) -> None:
        """Before a RIB dump: it replaces every table (a peer missing from it has no routes)."""
        self.tables.clear()
        self.sizes.clear()
        self.peaks.clear()
        self.peaks_v4.clear()
        self.peaks_v6.clear()
        self.snapshot_memo = None

    def note_peaks(self) -> None:
        """Each peer's tables now, whole and per address family, raise its peaks."""
        peaks = self.peaks
        for peer, size in self.sizes.items():
            if size > peaks.get(peer, 0):
                peaks[peer] = size
        for peaks, family in zip((self.peaks_v4, self.peaks_v6), self.family_sizes(), strict=True):
            for peer, size in family.items():
                if size > peaks.get(peer, 0):
                    peaks[peer] = size

    def v6_mask(self) -> npt.NDArray[np.bool_]:
        """Per prefix id, whether it is an IPv6 prefix."""
        result: npt.NDArray[np.bool_] = self.prefix_info()[3] < 0
        return result

    def family_sizes(self) -> tuple[dict[str, int], dict[str, int]]:
        """Each peer's routes to IPv4 prefixes and to IPv6 prefixes: its IPv6 routes counted over
        the IPv6 prefix ids alone (none on most RouteViews collectors), the rest IPv4 (``sizes``,
        which every writer keeps, holds both)."""
        import numpy as np

        n = len(self.keys)
        v6_ids = np.flatnonzero(self.v6_mask()[:n]) if n else np.zeros(0, dtype=np.int64)
        v4: dict[str, int] = {}
        v6: dict[str, int] = {}
        for peer, table in self.tables.items():
            held = int(np.count_nonzero(np.frombuffer(table, dtype=np.uint32)[v6_ids])) if len(v6_ids) else 0
            v6[peer] = held
            v4[peer] = self.sizes.get(peer, 0) - held
        return v4, v6

    def routes(self) -> int:
        return sum(self.sizes.values())

    # -- the store's copy --------------------------------------------------------------------------

    def dump(self) -> bytes:
        """Compact binary (format 3): a small JSON head, then binary parts, deflated by ISA-L.

        The parts: the prefix keys (each after its length byte), the origin sets (their lengths and
        their ASes laid end to end, uint32), the known ASes (uint32), each peer's table (its
        (prefix id, origin id) pairs, or its whole table of origin ids when it routes at least half
        the prefixes: 4 bytes a prefix instead of 8 a route, and no scatter to load it) and each
        prefix's country index (int16). Deflated by ISA-L (``isal_zlib``, level 1): the whole dump
        of the 2015 et-header file's 577k-prefix table takes 0.028 s for 2.21 MB, where format 1
        took 0.110 s for 3.09 MB (zlib level 1: 0.085 s of it) and LZ4 on these parts 0.018 s for
        3.75 MB (it cannot shrink the prefix keys); the store pays for every byte too (DuckDB ~35
        ms per MB of BLOB written, in the one writer), so the smaller payload wins (docs/mrt.md,
        "Saving the tables, inflating, geolocating"). Format 1 (zlib; origin sets and known ASes
        in the JSON head) still loads."""
        import numpy as np
        from isal import isal_zlib

        n = len(self.keys)
        peers = sorted(self.tables)
        dense: list[bool] = []
        tables: list[bytes] = []
        for peer in peers:
            table = np.frombuffer(self.tables[peer], dtype=np.uint32)[:n]
            pids = np.flatnonzero(table).astype(np.uint32)
            dense.append(2 * len(pids) >= n)
            tables.append(table.tobytes() if dense[-1] else pids.tobytes() + table[pids].tobytes())
            del table
        sets = self.origin_sets
        lengths = np.fromiter(map(len, sets), dtype=np.uint32, count=len(sets))
        members = np.fromiter(chain.from_iterable(sets), dtype=np.uint32, count=int(lengths.sum()))
        head: dict[str, object] = {
            "peers": peers,
            "dense": dense,
            "peaks": self.peaks,
            "peaks_v4": self.peaks_v4,
            "peaks_v6": self.peaks_v6,
            "known_countries": sorted(self.known_countries),
            "next_file_s": self.next_file_s,
            "file_interval_s": self.file_interval_s,
            "synced": self.synced,
            "country_codes": self.country_codes,
            "countries": self.country_of is not None,
        }
        parts = [
            json.dumps(head, separators=(",", ":")).encode(),
            _length_prefixed(self.keys),
            lengths.tobytes(),
            members.tobytes(),
            np.array(sorted(self.known_asns), dtype=np.uint32).tobytes(),
            *tables,
        ]
        if self.country_of is not None:
            if len(self.country_codes) > 32_000:
                raise ValueError(f"{len(self.country_codes)} country codes do not fit the stored int16")
            # every prefix has an entry: -2 (not looked up yet) past the end of the array, which
            # grows only when a snapshot asks for the countries of new prefixes
            country = np.full(n, -2, dtype=np.int16)
            known = np.asarray(self.country_of[:n])
            country[: len(known)] = known
            parts.append(country.tobytes())
        body = b"".join(struct.pack(">Q", len(p)) + p for p in parts)
        return _HEAD.pack(FORMAT_TAG, FORMAT_VERSION) + isal_zlib.compress(body, 1)

    @classmethod
    def load(cls, payload: bytes) -> RouteTables:
        """The tables :meth:`dump` wrote (format 3, or format 1 of earlier stores); ``ValueError``
        for anything else (format 2, LZ4, lived on main for half an hour: such tables are
        unreadable, and the collector is replayed on its own until its next RIB dump)."""
        if len(payload) >= _HEAD.size:
            tag, version = _HEAD.unpack_from(payload)
            if tag == FORMAT_TAG and version == FORMAT_VERSION:
                return cls._load_v3(payload[_HEAD.size :])
            if tag == FORMAT_TAG_V1 and version == 1:
                return cls._load_v1(payload[_HEAD.size :])
        raise ValueError("not a routing-table state of a known format")

    @classmethod
    def _load_v3(cls, packed: bytes) -> RouteTables:
        import numpy as np
        from isal import isal_zlib

        try:
            body = memoryview(isal_zlib.decompress(packed))
        except Exception as exc:  # isal's error (its stub declares the class as an instance)
            raise ValueError(f"routing-table state damaged: {exc}") from None
        parts = _split_parts(body)
        head = json.loads(bytes(parts[0]))
        state = cls()
        lengths = np.frombuffer(parts[2], dtype=np.uint32)
        members = np.frombuffer(parts[3], dtype=np.uint32)
        state.origin_sets = _origin_sets(lengths, members)
        state.origin_ids = dict(zip(state.origin_sets[1:], range(1, len(state.origin_sets)), strict=True))
        state.known_asns = set(np.frombuffer(parts[4], dtype=np.uint32).tolist())
        keys = _split_length_prefixed(bytes(parts[1]))
        n = len(keys)
        state.keys = keys
        state.ids = dict(zip(keys, range(n), strict=True))
        if n > state.capacity:
            state._grow(n)
        peers = head["peers"]
        if len(parts) != 5 + len(peers) + (1 if head["countries"] else 0):
            raise ValueError("routing-table state damaged: wrong number of parts")
        zeros = bytes(4 * (state.capacity - n))
        for peer, dense, blob in zip(peers, head["dense"], parts[5 : 5 + len(peers)], strict=True):
            if dense:
                if len(blob) != 4 * n:
                    raise ValueError(f"routing-table state damaged: table of {peer} has {len(blob)} bytes")
                table = array("I")
                table.frombytes(blob)
                table.frombytes(zeros)
                state.sizes[peer] = int(np.count_nonzero(np.frombuffer(blob, dtype=np.uint32)))
            else:
                half = len(blob) // 2
                pids = np.frombuffer(blob[:half], dtype=np.uint32)
                full = np.zeros(state.capacity, dtype=np.uint32)
                full[pids] = np.frombuffer(blob[half:], dtype=np.uint32)
                table = array("I", full.tobytes())
                state.sizes[peer] = len(pids)
            state.tables[peer] = table
        if head["countries"]:
            state.country_of = np.frombuffer(parts[-1], dtype=np.int16).astype(np.int32)
            state.country_codes = list(head["country_codes"])
        state.peaks = {p: int(c) for p, c in head["peaks"].items()}
        state._load_family_peaks(head)
        state.known_countries = set(head["known_countries"])
        state.next_file_s = head["next_file_s"]
        state.file_interval_s = head["file_interval_s"]
        state.synced = head["synced"]
        return state

    @classmethod
    def _load_v1(cls, packed: bytes) -> RouteTables:
        """Format 1 (zlib level 1, origin sets and known ASes in the JSON head), as stores written
        before format 3 hold it."""
        import numpy as np

        try:
            body = zlib.decompress(packed)
        except zlib.error as exc:
            raise ValueError(f"routing-table state damaged: {exc}") from None
        parts = [bytes(p) for p in _split_parts(memoryview(body))]
        head = json.loads(parts[0])
        state = cls()
        state.origin_sets = [tuple(o) for o in head["origin_sets"]]
        state.origin_ids = {o: i for i, o in enumerate(state.origin_sets) if i}
        keys = _split_length_prefixed(parts[1])
        state.keys = keys
        state.ids = dict(zip(keys, range(len(keys)), strict=True))
        if len(keys) > state.capacity:
            state._grow(len(keys))
        peer_parts = parts[2 : 2 + len(head["peers"])]
        if len(parts) > 2 + len(head["peers"]):
            state.country_of = np.frombuffer(parts[-1], dtype=np.int32).copy()
            state.country_codes = list(head.get("country_codes", []))
        for peer, blob in zip(head["peers"], peer_parts, strict=True):
            half = len(blob) // 2
            pids = np.frombuffer(blob[:half], dtype=np.uint32)
            oids = np.frombuffer(blob[half:], dtype=np.uint32)
            table = np.zeros(state.capacity, dtype=np.uint32)
            table[pids] = oids
            state.tables[peer] = array("I", table.tobytes())
            state.sizes[peer] = len(pids)
        state.peaks = {p: int(n) for p, n in head["peaks"].items()}
        state._load_family_peaks(head)
        state.known_asns = set(head["known_asns"])
        state.known_countries = set(head["known_countries"])
        state.next_file_s = head["next_file_s"]
        state.file_interval_s = head["file_interval_s"]
        state.synced = head["synced"]
        return state

    def _load_family_peaks(self, head: dict[str, Any]) -> None:
        """The per-family peaks of the head; tables stored before they were kept (before the
        full-feed test was made per address family) start from their per-family sizes as loaded."""
        if "peaks_v4" in head:
            self.peaks_v4 = {p: int(c) for p, c in head["peaks_v4"].items()}
            self.peaks_v6 = {p: int(c) for p, c in head["peaks_v6"].items()}
        else:
            self.peaks_v4, self.peaks_v6 = self.family_sizes()


def _split_parts(body: memoryview) -> list[memoryview]:
    """The parts of a body: each one after its length (8 bytes, big-endian)."""
    parts, pos = [], 0
    while pos < len(body):
        (size,) = struct.unpack_from(">Q", body, pos)
        if pos + 8 + size > len(body):
            raise ValueError("routing-table state cut short")
        parts.append(body[pos + 8 : pos + 8 + size])
        pos += 8 + size
    return parts


def _origin_sets(lengths: npt.NDArray[np.uint32], members: npt.NDArray[np.uint32]) -> list[tuple[int, ...]]:
    """The origin sets from their lengths and their ASes laid end to end: a 1-tuple per set made at
    once (almost every set holds one AS), then the others (the empty set 0, AS_SETs) put right."""
    import numpy as np

    if int(lengths.sum(dtype=np.int64)) != len(members):
        raise ValueError("routing-table state damaged: origin sets do not add up")
    ends = np.cumsum(lengths, dtype=np.int64)
    starts = ends - lengths
    values = members.tolist()
    if not values:
        return [() for _ in range(len(lengths))]
    sets: list[tuple[int, ...]] = list(zip(members[np.minimum(starts, len(values) - 1)].tolist()))
    for i in np.flatnonzero(lengths != 1).tolist():
        sets[i] = tuple(values[int(starts[i]) : int(ends[i])])
    return sets
