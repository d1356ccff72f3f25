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
from typing import Any

from geolite2 import geolite2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class GeoLocator:
    """A cached lookup of ISO 3166-1 alpha-2 country codes by address.

    One process-wide reader of the memory-mapped database is opened on first use; answers are
    cached per address, since BGP data asks for the same prefix many times.
    """

    def __init__(self) -> None:
        self._reader: Any = None
        self._cache: dict[str, str | None] = {}

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
        record = self._open().get(key)
        code: str | None = None
        if isinstance(record, dict):
            for key in ("country", "registered_country"):
                part = record.get(key)
                if isinstance(part, dict) and isinstance(part.get("iso_code"), str):
                    code = part["iso_code"]
                    break
        self._cache[key] = code
        return code

    def database_date(self) -> datetime:
        """When the database was built (2018-07-03 for maxminddb-geolite2 2018.703)."""
        return datetime.fromtimestamp(int(self._open().metadata().build_epoch), UTC)

    def database_type(self) -> str:
        return str(self._open().metadata().database_type)


_default: GeoLocator | None = None


def default_locator() -> GeoLocator:
    """The shared locator (one database reader and cache per process)."""
    global _default
    if _default is None:
        _default = GeoLocator()
    return _default
