"""Country of an IP address, from the GeoLite2 City database that ``maxminddb-geolite2`` ships.

The packaged database was built on 2018-07-03 (MaxMind GeoLite2, CC BY-SA 4.0) and is never
updated: addresses are placed where they were in July 2018. For older data (RIPE RIS since 1999)
that is wrong for address space that moved between countries since, and for newer data it misses
reassignments and the transfer market after 2018. The country is the database's ``country``
(where MaxMind located the users of the address), falling back to ``registered_country`` (the
registry's record) when MaxMind gives no location, as it does for some anycast and satellite space.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from geolite2 import geolite2

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class GeoLocator:
    """A cached lookup of ISO 3166-1 alpha-2 country codes by address.

    One process-wide reader of the memory-mapped database is opened on first use; answers are
    cached per address, since BGP data asks for the same prefix many times.
    """

    def __init__(self) -> None:
        self._reader: Any = None
        self._cache: dict[str, str | None] = {}
        self._tree_cache: tuple[Any, ...] | None = None  # () when the tree cannot be read

    def _open(self) -> Any:
        if self._reader is None:
            self._reader = geolite2.reader()
        return self._reader

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
        """Countries of many IPv4 addresses (as integers) at once.

        The database's search tree is walked for all addresses together with numpy (32 steps), and
        the record behind each distinct data pointer is decoded once, through the reader, for one
        address that leads to it: a full BGP table (~500k prefixes) reaches ~30k distinct records,
        so this costs ~0.5 s where one lookup per address costs ~7 s (15 us each)."""
        import numpy as np

        if not len(addresses):
            return []
        tree = self._tree()
        if tree is None:
            return [self.country(str(ipaddress.IPv4Address(int(a)))) for a in addresses.tolist()]
        left, right, node_count, start = tree
        node = np.full(len(addresses), start, dtype=np.int64)
        values = addresses.astype(np.int64)
        for bit in range(31, -1, -1):
            inside = node < node_count
            if not inside.any():
                break
            at = node[inside]
            go_right = ((values[inside] >> bit) & 1).astype(bool)
            node[inside] = np.where(go_right, right[at], left[at])
        pointers, first, back = np.unique(node, return_index=True, return_inverse=True)
        codes: list[str | None] = []
        for pointer, index in zip(pointers.tolist(), first.tolist(), strict=True):
            if pointer <= node_count:  # == node_count: no data; < node_count: ran out of bits
                codes.append(None)
            else:
                codes.append(self.country(str(ipaddress.IPv4Address(int(addresses[index])))))
        return [codes[i] for i in back.tolist()]

    def _tree(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int, int] | None:
        """The search tree as child arrays (left, right), node count and the IPv4 start node."""
        if self._tree_cache is not None:
            return self._tree_cache or None
        import numpy as np

        meta = self._open().metadata()
        size = int(meta.record_size)
        count = int(meta.node_count)
        try:
            raw = np.fromfile(geolite2.filename, dtype=np.uint8, count=count * size // 4)
        except (OSError, AttributeError):
            self._tree_cache = ()
            return None
        nodes = raw.reshape(count, size // 4).astype(np.int64)
        if size == 24:
            left = nodes[:, 0] << 16 | nodes[:, 1] << 8 | nodes[:, 2]
            right = nodes[:, 3] << 16 | nodes[:, 4] << 8 | nodes[:, 5]
        elif size == 28:
            left = (nodes[:, 3] >> 4) << 24 | nodes[:, 0] << 16 | nodes[:, 1] << 8 | nodes[:, 2]
            right = (nodes[:, 3] & 0x0F) << 24 | nodes[:, 4] << 16 | nodes[:, 5] << 8 | nodes[:, 6]
        elif size == 32:
            left = nodes[:, 0] << 24 | nodes[:, 1] << 16 | nodes[:, 2] << 8 | nodes[:, 3]
            right = nodes[:, 4] << 24 | nodes[:, 5] << 16 | nodes[:, 6] << 8 | nodes[:, 7]
        else:
            self._tree_cache = ()
            return None
        start = 0
        if int(meta.ip_version) == 6:  # IPv4 lives under ::/96
            for _ in range(96):
                if start >= count:
                    break
                start = int(left[start])
        self._tree_cache = (left, right, count, start)
        return self._tree_cache

    def database_date(self) -> datetime:
        """When the database was built (2018-07-03 for maxminddb-geolite2 2018.703)."""
        return datetime.fromtimestamp(int(self._open().metadata().build_epoch), UTC)

    def database_type(self) -> str:
        return str(self._open().metadata().database_type)


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
