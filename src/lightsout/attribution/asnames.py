"""Names and countries of autonomous systems, from a packaged, dated table.

The table (``attribution/data/as-table.tsv.gz``, see the README beside it) is derived by
``scripts/build-as-table.py`` from ip-location-db's npm packages of June 2026 (CC BY 4.0:
RouteViews, DB-IP, NRO): the name is the organisation DB-IP gives for most of the AS's addresses,
the country the one whose registry delegations hold most of its IPv4 space. It is read once, on
first use; nothing is fetched.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

AS_TABLE_SOURCE = "ip-location-db 2.3.2026061719 (RouteViews, DB-IP, NRO; CC BY 4.0)"


@dataclass(frozen=True, slots=True)
class ASRecord:
    asn: int
    name: str  # organisation name; "" when the table has none
    country_code: str | None  # ISO 3166-1 alpha-2 holding most of its registered space


# One row of the table: AS number, country ("" when none), name (the rest of the line).
_ROW = re.compile(r"^(\d+)\t([^\t\n]*)\t([^\n]*)$", re.MULTILINE)


@cache
def _text() -> str:
    """The table's rows as text, one per line, sorted by AS number (the build script writes them
    so; ``tests/test_asnames.py`` checks it), the comment lines at its head left out."""
    raw = resources.files("lightsout.attribution").joinpath("data/as-table.tsv.gz").read_bytes()
    text = gzip.decompress(raw).decode("utf-8")
    start = 0
    while text.startswith("#", start):
        start = text.index("\n", start) + 1
    return text[start:]


@cache
def _table() -> dict[int, tuple[str, str]]:
    """AS number -> (country or "", name). Rows found by one regular expression over the whole text
    rather than a split per line: 2x faster (~0.05 s for 91k rows), and an MRT read that names a
    full table's 50k ASes pays it in every fresh process."""
    return {int(asn): (country, name) for asn, country, name in _ROW.findall(_text())}


def as_table() -> dict[int, tuple[str, str]]:
    """The whole table, AS number -> (country or "", name), for callers that name many ASes."""
    return _table()


# Below this many ASes, and until the whole table has been parsed, rows are found by a binary
# search of the text (~17 steps of a few string operations each) rather than by parsing all 91k
# rows (~0.1 s): an update file names ~1,000 ASes, a full table ~50,000.
SEARCH_BELOW = 3000


def as_rows(asns: list[int]) -> list[tuple[str, str] | None]:
    """(country or "", name) of each AS, None for an AS the table lacks."""
    if len(asns) < SEARCH_BELOW and not _table.cache_info().currsize:
        text = _text()
        return [_search(text, asn) for asn in asns]
    table = _table()
    return [table.get(asn) for asn in asns]


def _search(text: str, asn: int) -> tuple[str, str] | None:
    """The row of ``asn`` in the sorted text, by bisection over byte offsets (each probe reads the
    line around the offset)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi) // 2
        start = text.rfind("\n", 0, mid) + 1
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        tab = text.find("\t", start, end)
        if tab < 0:
            return None  # not a row (the end of the text): no such AS
        found = int(text[start:tab])
        if found == asn:
            tab2 = text.index("\t", tab + 1, end)
            return text[tab + 1 : tab2], text[tab2 + 1 : end]
        if found < asn:
            lo = end + 1
        else:
            hi = start
    return None


def lookup_as(asn: int) -> ASRecord | None:
    """The table's record of ``asn``, or None when the AS is not in it (unrouted in June 2026)."""
    found = _table().get(asn)
    if found is None:
        return None
    return ASRecord(asn, found[1], found[0] or None)


def as_label(asn: int, name: str | None) -> str:
    """``AS12880 (Information Technology Company (ITC))``; ``AS64500`` when no name is known.

    A name that already starts with the number (IODA's ``AS9500 (VODAFONE-TRANSIT-AS)``) is kept.
    """
    prefix = f"AS{asn}"
    text = " ".join((name or "").split())
    if not text or text.upper() == prefix:
        return prefix
    if text.upper().startswith(prefix) and not text[len(prefix) : len(prefix) + 1].isdigit():
        return text
    return f"{prefix} ({text})"
