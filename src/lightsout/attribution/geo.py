"""Country of an IP address, from the GeoLite2 City database that ``maxminddb-geolite2`` ships.

The packaged database was built on 2018-07-03 (MaxMind GeoLite2, CC BY-SA 4.0) and is never
updated: addresses are placed where they were in July 2018. For older data (RIPE RIS since 1999)
that is wrong for address space that moved between countries since, and for newer data it misses
reassignments and the transfer market after 2018. The country is the database's ``country``
(where MaxMind located the users of the address), falling back to ``registered_country`` (the
registry's record) when MaxMind gives no location, as it does for some anycast and satellite space.

``maxminddb`` (whose import costs ~35 ms: it imports ``importlib.metadata`` and ``email``) is
imported only for single-address lookups (:meth:`GeoLocator.country`, IPv6 prefixes); the bulk
IPv4 walk and the database's metadata read the memory-mapped file directly.
"""

from __future__ import annotations

import ipaddress
import mmap
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from _maxminddb_geolite2 import geolite2_database

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The database's IPv4 leaves as country ranges (scripts/build-geo-ranges.py; data/README.md)
RANGES_FILE = Path(__file__).parent / "data" / "geolite2-v4-countries.gz"
RANGES_FORMAT = "LSGEO4R1"
METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"  # starts the metadata section (MaxMind DB format)
METADATA_MAX_BYTES = 128 * 1024  # the section lies within the file's last 128 KiB


class DatabaseMetadata(NamedTuple):
    """What the walk needs of a MaxMind DB's metadata section (https://maxmind.github.io/MaxMind-DB/)
    (a tuple: a dataclass costs a process ~1 ms more to define)."""

    node_count: int
    record_size: int
    ip_version: int
    build_epoch: int
    database_type: str


def read_metadata(raw: bytes | mmap.mmap) -> DatabaseMetadata:
    """The metadata of the MaxMind DB ``raw`` (its bytes or a map of the file), read without
    ``maxminddb``: the map after the last metadata marker, decoded with :class:`_DataSection`'s
    control bytes; ValueError when there is none or a field is missing."""
    at = raw.rfind(METADATA_MARKER, max(0, len(raw) - METADATA_MAX_BYTES))
    if at < 0:
        raise ValueError("no MaxMind DB metadata section")
    section = _DataSection(raw, at + len(METADATA_MARKER))
    pairs, pos = section._map(section.start)
    fields: dict[str, int | str] = {}
    for _ in range(pairs):
        key, pos = section._string(pos)
        kind, size, after = section._control(pos)
        if kind == 2:  # UTF-8 string
            fields[key] = bytes(raw[after : after + size]).decode()
        elif kind in (5, 6, 9, 10):  # unsigned 16, 32, 64, 128 bits: ``size`` big-endian bytes
            fields[key] = int.from_bytes(raw[after : after + size], "big")
        pos = section._skip(pos)
    try:
        return DatabaseMetadata(
            int(fields["node_count"]), int(fields["record_size"]), int(fields["ip_version"]),
            int(fields["build_epoch"]), str(fields["database_type"]),
        )  # fmt: skip
    except KeyError as exc:
        raise ValueError(f"MaxMind DB metadata without {exc}") from None


class GeoLocator:
    """A cached lookup of ISO 3166-1 alpha-2 country codes by address.

    One process-wide reader of the memory-mapped database is opened on first use; answers are
    cached per address, since BGP data asks for the same prefix many times.
    """

    def __init__(self) -> None:
        self.path = geolite2_database()
        self._map: mmap.mmap | None = None
        self._meta: DatabaseMetadata | None = None
        self._reader: Any = None
        self._cache: dict[str, str | None] = {}
        self._tree_cache: tuple[Any, ...] | None = None  # () when the tree cannot be read
        self._data_section: _DataSection | None = None
        self._fast: Any = None  # the C walker (_fastgeo.CountryWalker), False when not built or not used
        self._ranges_cache: tuple[Any, ...] | None = None  # () when the file does not fit the database
        self.use_fast = True  # False: the numpy walk and Python record reader (tests compare all three)
        self.use_ranges = True  # False: the tree walk even where the country ranges fit the database

    def _open(self) -> Any:
        """The maxminddb reader (for single addresses), opened on first use."""
        if self._reader is None:
            from geolite2 import geolite2

            self._reader = geolite2.reader()
        return self._reader

    def _file(self) -> mmap.mmap:
        """The database file, mapped (not read: 57 MB, few pages used)."""
        if self._map is None:
            with open(self.path, "rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def metadata(self) -> DatabaseMetadata:
        if self._meta is None:
            self._meta = read_metadata(self._file())
        return self._meta

    def country(self, address: str | IPAddress) -> str | None:
        """ISO alpha-2 code of the country ``address`` is located in; None when unknown or private.

        Raises ValueError for text that is not an IP address.
        """
        key = str(address)
        cached = self._cache.get(key, "")
        if cached != "":
            return cached
        code = _country_of(self._open().get(key))
        self._cache[key] = code
        return code

    def countries_v4(self, addresses: npt.NDArray[np.uint32]) -> list[str | None]:
        """Countries of many IPv4 addresses (as integers) at once; see :meth:`country_indexes_v4`."""
        codes: list[str] = []
        found = self.country_indexes_v4(addresses, codes, {})
        return [codes[i] if i >= 0 else None for i in found.tolist()]

    def country_indexes_v4(
        self, addresses: npt.NDArray[np.uint32], codes: list[str], index: dict[str, int]
    ) -> npt.NDArray[np.int32]:
        """Countries of many IPv4 addresses (as integers) at once, as indexes into ``codes`` (new
        codes are appended, ``index`` maps code -> index); -1 where the database has none.

        Where the packaged country ranges were derived from this very database (:meth:`_ranges`),
        one binary search per address in 175k range starts (0.02 s for a full table's 577k
        addresses, unsorted). Otherwise the database's search tree is walked for all addresses
        together, in C (``_fastgeo``, addresses sorted) or with numpy (32 steps), and only the
        country of each distinct record is read (:class:`_DataSection`): a full BGP table (~500k
        prefixes) reaches ~80k distinct records, where one reader lookup per address costs ~15 us
        (the reader decodes the whole City record). All three give the same answers (tests)."""
        import numpy as np

        if not len(addresses):
            return np.zeros(0, dtype=np.int32)
        ranges = self._ranges() if self.use_fast and self.use_ranges else None
        if ranges is not None:
            starts, range_codes, table_codes = ranges
            got = range_codes[np.searchsorted(starts, addresses, side="right") - 1]
            present = np.flatnonzero(np.bincount(got + 1, minlength=len(table_codes) + 1)[1:])
            to_caller = np.full(len(table_codes) + 1, -1, dtype=np.int32)
            for i in present.tolist():
                to_caller[i + 1] = _code_index(table_codes[i], codes, index)
            found: npt.NDArray[np.int32] = to_caller[got + 1]
            return found
        tree = self._tree()
        if tree is None:
            looked = [self.country(str(ipaddress.IPv4Address(int(a)))) for a in addresses.tolist()]
            return np.array([_code_index(cc, codes, index) for cc in looked], dtype=np.int32)
        nodes, size, node_count, start = tree
        walker = self._walker()
        if walker is not None:
            # in address order, so that each walk resumes where it parts from the previous one
            order = np.argsort(addresses, kind="stable")
            found = np.empty(len(addresses), dtype=np.int32)
            wanted = np.ascontiguousarray(addresses[order], dtype=np.uint32)
            walker.country_indexes_v4(nodes, size, node_count, start, wanted, codes, index, found)
            out = np.empty_like(found)
            out[order] = found
            return out
        node = np.full(len(addresses), start, dtype=np.int64)
        values = addresses.astype(np.int64)
        for bit in range(31, -1, -1):
            inside = np.flatnonzero(node < node_count)
            if not len(inside):
                break
            go_right = ((values[inside] >> bit) & 1).astype(bool)
            node[inside] = _children(nodes[node[inside]], size, go_right)
        return self._leaf_indexes(node, node_count, codes, index)

    def country_indexes_v6(
        self, addresses: npt.NDArray[np.uint8], codes: list[str], index: dict[str, int]
    ) -> npt.NDArray[np.int32]:
        """Countries of many IPv6 addresses (rows of 16 bytes) at once, as indexes into ``codes``
        (as :meth:`country_indexes_v4`): the tree walked from its root in C (``_fastgeo``) or with
        numpy (128 steps), the country of each distinct record read once. One reader lookup per
        address took ~15 us and imported maxminddb (~35 ms): ~0.1 s for the 6,865 prefixes of
        the first MB of a 2015 route-views6 RIB."""
        import numpy as np

        if not len(addresses):
            return np.zeros(0, dtype=np.int32)
        rows = np.ascontiguousarray(addresses, dtype=np.uint8).reshape(-1, 16)
        tree = self._tree()
        if tree is None or self.metadata().ip_version != 6:
            if tree is not None:  # an IPv4 database: no IPv6 address is in it
                return np.full(len(rows), -1, dtype=np.int32)
            looked = [self.country(str(ipaddress.IPv6Address(bytes(row)))) for row in rows]
            return np.array([_code_index(cc, codes, index) for cc in looked], dtype=np.int32)
        nodes, size, node_count, _ = tree
        walker = self._walker()
        if walker is not None:
            from lightsout.attribution._fastgeo import country_indexes_v6

            found = np.empty(len(rows), dtype=np.int32)
            country_indexes_v6(walker, nodes, size, node_count, rows, codes, index, found)
            return found
        bits = np.unpackbits(rows, axis=1).astype(bool)
        node = np.zeros(len(rows), dtype=np.int64)
        for bit in range(128):
            inside = np.flatnonzero(node < node_count)
            if not len(inside):
                break
            node[inside] = _children(nodes[node[inside]], size, bits[inside, bit])
        return self._leaf_indexes(node, node_count, codes, index)

    def _leaf_indexes(
        self, node: npt.NDArray[np.int64], node_count: int, codes: list[str], index: dict[str, int]
    ) -> npt.NDArray[np.int32]:
        """The country index of each walk's end (its node), each distinct record read once."""
        import numpy as np

        pointers, back = np.unique(node, return_inverse=True)
        data = self._data()
        per_pointer = np.array(
            [
                _code_index(data.country(p - node_count - 16), codes, index) if p > node_count else -1
                for p in pointers.tolist()  # == node_count: no data; < node_count: ran out of bits
            ],
            dtype=np.int32,
        )
        result: npt.NDArray[np.int32] = per_pointer[back.reshape(-1)]
        return result

    def _ranges(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int16], list[str]] | None:
        """(range starts, country index per range or -1, country codes) from ``RANGES_FILE``, if it
        was derived from the database this locator reads (same type, build time and node count);
        None otherwise (another database: the tree is walked)."""
        if self._ranges_cache is None:
            self._ranges_cache = ()
            try:
                ranges = read_ranges(RANGES_FILE.read_bytes(), self.metadata())
            except (OSError, ValueError):
                ranges = None
            if ranges is not None:
                self._ranges_cache = ranges
        return self._ranges_cache or None

    def _walker(self) -> Any:
        """The C walk of the tree and records (``_fastgeo``), or None where it is not built."""
        if self._fast is None:
            try:
                from lightsout.attribution._fastgeo import CountryWalker
            except ImportError:
                self._fast = False
            else:
                data = self._data()
                self._fast = CountryWalker(data.buf, data.start) if self.use_fast else False
        return self._fast or None

    def _data(self) -> _DataSection:
        if self._data_section is None:
            meta = self.metadata()
            tree_bytes = meta.node_count * meta.record_size // 4
            self._data_section = _DataSection(self._file(), tree_bytes + 16)
        return self._data_section

    def _tree(self) -> tuple[npt.NDArray[np.uint8], int, int, int] | None:
        """The search tree as a (node count x record bytes) array mapped from the file, the record
        size in bits, the node count and the node where IPv4 (::/96) starts."""
        if self._tree_cache is not None:
            return self._tree_cache or None
        import numpy as np

        try:
            meta = self.metadata()
        except ValueError:
            self._tree_cache = ()
            return None
        size, count = meta.record_size, meta.node_count
        if size not in (24, 28, 32) or count * size // 4 > len(self._file()):
            self._tree_cache = ()
            return None
        raw = np.frombuffer(self._file(), dtype=np.uint8, count=count * size // 4)
        nodes = raw.reshape(count, size // 4)
        start = 0
        if meta.ip_version == 6:  # IPv4 lives under ::/96
            for _ in range(96):
                if start >= count:
                    break
                start = int(_children(nodes[np.array([start])], size, np.array([False]))[0])
        self._tree_cache = (nodes, size, count, start)
        return self._tree_cache

    def database_date(self) -> datetime:
        """When the database was built (2018-07-03 for maxminddb-geolite2 2018.703)."""
        return datetime.fromtimestamp(self.metadata().build_epoch, UTC)

    def database_type(self) -> str:
        return self.metadata().database_type


def _children(rows: npt.NDArray[np.uint8], size: int, right: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The left or right child of each node row (MaxMind DB search tree, 24/28/32-bit records)."""
    import numpy as np

    r = rows.astype(np.int64)
    if size == 24:
        left_v = r[:, 0] << 16 | r[:, 1] << 8 | r[:, 2]
        right_v = r[:, 3] << 16 | r[:, 4] << 8 | r[:, 5]
    elif size == 28:
        left_v = (r[:, 3] >> 4) << 24 | r[:, 0] << 16 | r[:, 1] << 8 | r[:, 2]
        right_v = (r[:, 3] & 0x0F) << 24 | r[:, 4] << 16 | r[:, 5] << 8 | r[:, 6]
    else:
        left_v = r[:, 0] << 24 | r[:, 1] << 16 | r[:, 2] << 8 | r[:, 3]
        right_v = r[:, 4] << 24 | r[:, 5] << 16 | r[:, 6] << 8 | r[:, 7]
    result: npt.NDArray[np.int64] = np.where(right, right_v, left_v)
    return result


class _DataSection:
    """Just enough of the MaxMind DB data-section format (https://maxmind.github.io/MaxMind-DB/)
    to read a record's ``country`` / ``registered_country`` ``iso_code`` without decoding the
    rest of it (city names in eight languages, coordinates, ...). The country maps are stored once
    and shared by pointer, so their codes are cached by offset; checked against the reader's own
    full decoding in tests/test_mrt.py."""

    def __init__(self, raw: bytes | mmap.mmap, start: int) -> None:
        self.buf = raw
        self.start = start  # offset of the data section in the file
        self.keys: dict[int, str] = {}
        self.codes: dict[int, str | None] = {}
        self.records: dict[int, str | None] = {}

    def _control(self, off: int) -> tuple[int, int, int]:
        """(type, size or pointer target, offset of the payload)."""
        buf = self.buf
        c = buf[off]
        off += 1
        kind = c >> 5
        if kind == 0:
            kind = 7 + buf[off]
            off += 1
        if kind == 1:
            ss, v = (c >> 3) & 3, c & 7
            if ss == 0:
                target = (v << 8) | buf[off]
            elif ss == 1:
                target = ((v << 16) | buf[off] << 8 | buf[off + 1]) + 2048
            elif ss == 2:
                target = ((v << 24) | buf[off] << 16 | buf[off + 1] << 8 | buf[off + 2]) + 526336
            else:
                target = int.from_bytes(buf[off : off + 4], "big")
            return 1, self.start + target, off + ss + 1
        size = c & 0x1F
        if size == 29:
            size, off = 29 + buf[off], off + 1
        elif size == 30:
            size, off = 285 + (buf[off] << 8 | buf[off + 1]), off + 2
        elif size == 31:
            size, off = 65821 + int.from_bytes(buf[off : off + 3], "big"), off + 3
        return kind, size, off

    def _skip(self, off: int) -> int:
        kind, size, off = self._control(off)
        if kind == 1 or kind == 14:  # pointer (payload elsewhere), boolean (in the size)
            return off
        if kind == 7:
            for _ in range(2 * size):
                off = self._skip(off)
            return off
        if kind == 11:
            for _ in range(size):
                off = self._skip(off)
            return off
        return off + size

    def _string(self, off: int) -> tuple[str, int]:
        kind, size, after = self._control(off)
        if kind == 1:
            text = self.keys.get(size)
            if text is None:
                text = self.keys[size] = self._string(size)[0]
            return text, after
        return self.buf[after : after + size].decode(), after + size

    def _map(self, off: int) -> tuple[int, int]:
        """(pairs, offset of the first key) of the map at ``off`` (following one pointer)."""
        kind, size, after = self._control(off)
        if kind == 1:
            kind, size, after = self._control(size)
        return (size, after) if kind == 7 else (0, after)

    def _iso_code(self, off: int) -> str | None:
        kind, target, _ = self._control(off)
        at = target if kind == 1 else off
        if at in self.codes:
            return self.codes[at]
        code = None
        pairs, pos = self._map(at)
        for _ in range(pairs):
            key, pos = self._string(pos)
            if key == "iso_code":
                code = self._string(pos)[0]
                break
            pos = self._skip(pos)
        self.codes[at] = code
        return code

    def country(self, pointer: int) -> str | None:
        """The country code of the record ``pointer`` bytes into the data section."""
        at = self.start + pointer
        if at in self.records:
            return self.records[at]
        code = None
        pairs, pos = self._map(at)
        for _ in range(pairs):
            key, pos = self._string(pos)
            if key == "country":
                own = self._iso_code(pos)
                if own is not None:
                    code = own
                    break  # the country wins; registered_country is only the fallback
            elif key == "registered_country" and code is None:
                code = self._iso_code(pos)
            pos = self._skip(pos)
        self.records[at] = code
        return code


def read_ranges(
    packed: bytes, meta: DatabaseMetadata
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int16], list[str]] | None:
    """The country ranges of a ``RANGES_FILE`` (gzip: a JSON line naming the database, the range
    starts as uint32 deltas, a country index per range as int16, -1 none), or None when they were
    derived from another database than ``meta``'s; ValueError when damaged."""
    import json

    import numpy as np
    from isal import isal_zlib

    try:
        body = isal_zlib.decompress(packed, wbits=31)
    except Exception as exc:  # isal's error class is declared as an instance in its stub
        raise ValueError(f"country ranges damaged: {exc}") from None
    line, _, rest = body.partition(b"\n")
    head = json.loads(line)
    if head.get("format") != RANGES_FORMAT:
        raise ValueError(f"country ranges of unknown format {head.get('format')!r}")
    made_from = (head["database_type"], head["build_epoch"], head["node_count"])
    if made_from != (meta.database_type, meta.build_epoch, meta.node_count):
        return None
    n = int(head["ranges"])
    if len(rest) != 6 * n:
        raise ValueError(f"country ranges damaged: {len(rest)} bytes for {n} ranges")
    starts = np.cumsum(np.frombuffer(rest, dtype="<u4", count=n), dtype=np.uint32)
    range_codes = np.frombuffer(rest, dtype="<i2", offset=4 * n).astype(np.int16)
    codes = [str(c) for c in head["codes"]]
    if not n or starts[0] != 0 or int(range_codes.max(initial=-1)) >= len(codes):
        raise ValueError("country ranges damaged: no range at 0.0.0.0 or a country out of range")
    return starts, range_codes, codes


def _code_index(code: str | None, codes: list[str], index: dict[str, int]) -> int:
    if code is None:
        return -1
    at = index.get(code)
    if at is None:
        at = index[code] = len(codes)
        codes.append(code)
    return at


def _country_of(record: Any) -> str | None:
    if isinstance(record, dict):
        for field in ("country", "registered_country"):
            part = record.get(field)
            if isinstance(part, dict) and isinstance(part.get("iso_code"), str):
                return str(part["iso_code"])
    return None


_default: GeoLocator | None = None


def default_locator() -> GeoLocator:
    """The shared locator (one database reader and cache per process)."""
    global _default
    if _default is None:
        _default = GeoLocator()
    return _default
