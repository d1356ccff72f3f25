"""Names and countries of autonomous systems, from a packaged, dated table.

The table (``attribution/data/as-table.tsv.gz``, see the README beside it) is derived by
``scripts/build-as-table.py`` from ip-location-db's npm packages of June 2026 (CC BY 4.0:
RouteViews, DB-IP, NRO): the name is the organisation DB-IP gives for most of the AS's addresses,
the country the one whose registry delegations hold most of its IPv4 space. It is read once, on
first use; nothing is fetched.

Beside it, the same script writes the table's columns (``as-table.columns.gz``: AS numbers, country
codes and every AS's label, :func:`as_label` of its row, see :func:`write_columns`), which entities
are made from (:func:`network_row` for one AS, :func:`network_rows` / the C extension
``_fastnames`` for many) without parsing the TSV: in a fresh process, et-header's 51,736 AS entities
take ~0.03 s instead of ~0.2 s, a single AS ~0.01 s instead of ~0.1 s (docs/mrt.md, "AS entities").
The TSV itself is parsed only by :func:`lookup_as` / :func:`as_table`.
"""

from __future__ import annotations

import gzip
import re
import struct
import sys
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

AS_TABLE_SOURCE = "ip-location-db 2.3.2026061719 (RouteViews, DB-IP, NRO; CC BY 4.0)"


@dataclass(frozen=True, slots=True)
class ASRecord:
    asn: int
    name: str  # organisation name; "" when the table has none
    country_code: str | None  # ISO 3166-1 alpha-2 holding most of its registered space


# One row of the table: AS number, country ("" when none), name (the rest of the line).
_ROW = re.compile(r"^(\d+)\t([^\t\n]*)\t([^\n]*)$", re.MULTILINE)


@cache
def _table() -> dict[int, tuple[str, str]]:
    """AS number -> (country or "", name), the comment lines at the table's head left out. Rows
    found by one regular expression over the whole text rather than a split per line (2x faster;
    an MRT read naming many ASes reads the columns file instead, :func:`network_rows`)."""
    text = gzip.decompress(_raw_tsv()).decode("utf-8")
    return {int(asn): (country, name) for asn, country, name in _ROW.findall(text)}


def as_table() -> dict[int, tuple[str, str]]:
    """The whole table, AS number -> (country or "", name), for callers that name many ASes."""
    return _table()


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


# The columns file: gzip (level 9, no timestamp) of a header (``MAGIC``, then row count, country
# count, label bytes, as little-endian uint32, then the SHA-256 of the as-table.tsv.gz it was
# derived from), the AS
# numbers (uint32, ascending), a country index per row (uint8: 0 none, i the i-th code), the country
# codes (2 ASCII bytes each) and the labels (UTF-8, one per row, joined by newlines).
COLUMNS_FILE = "as-table.columns.gz"
MAGIC = b"LSASCOL1"
_HEADER = struct.Struct("<8sIII32s")
_U32 = struct.Struct("<I")


def write_columns(table: dict[int, tuple[str, str]], source_digest: bytes) -> bytes:
    """The columns file's bytes for ``table`` (AS number -> (country or "", name)), derived from the
    TSV whose SHA-256 is ``source_digest``; ``scripts/build-as-table.py`` writes it beside the TSV."""
    asns = sorted(table)
    codes = sorted({table[asn][0] for asn in asns} - {""})
    index = {code: i + 1 for i, code in enumerate(codes)}
    index[""] = 0
    labels = "\n".join(as_label(asn, table[asn][1]) for asn in asns).encode("utf-8")
    body = b"".join(
        [
            _HEADER.pack(MAGIC, len(asns), len(codes), len(labels), source_digest),
            struct.pack(f"<{len(asns)}I", *asns),
            bytes(index[table[asn][0]] for asn in asns),
            "".join(codes).encode("ascii"),
            labels,
        ]
    )
    return gzip.compress(body, 9, mtime=0)


def table_digest() -> bytes:
    """SHA-256 of the packaged as-table.tsv.gz (the columns file names the TSV it was derived from)."""
    import hashlib

    return hashlib.sha256(_raw_tsv()).digest()


# The package's data files, beside this module (not through importlib.resources: 4 ms of imports in
# every fresh process that names an AS, for a package that is never zipped).
_DATA = Path(__file__).with_name("data")


def _raw_tsv() -> bytes:
    return (_DATA / "as-table.tsv.gz").read_bytes()


class Columns:
    """The columns file as read: its sections located, the numpy and list forms made on first use
    (the C path, :meth:`network_table`, reads the bytes as they are)."""

    def __init__(self, raw: bytes) -> None:
        from isal import isal_zlib  # ISA-L's inflate: 3.75 MB in ~7 ms, zlib's ~15 ms

        self.body = body = isal_zlib.decompress(raw, wbits=31)  # gzip, one C call
        magic, self.rows, n_codes, n_label_bytes, self.source_digest = _HEADER.unpack_from(body)
        if magic != MAGIC:
            raise ValueError(f"{COLUMNS_FILE}: not an AS columns file (magic {magic!r})")
        self.asns_at = _HEADER.size
        self.country_at = self.asns_at + 4 * self.rows
        codes_at = self.country_at + self.rows
        codes = body[codes_at : codes_at + 2 * n_codes].decode("ascii")
        self.countries: list[str | None] = [None] + [codes[i : i + 2] for i in range(0, 2 * n_codes, 2)]
        self.labels_at = codes_at + 2 * n_codes
        if self.labels_at + n_label_bytes != len(body):
            end = self.labels_at + n_label_bytes
            raise ValueError(f"{COLUMNS_FILE}: {len(body)} bytes, its sections end at {end}")

    @cached_property
    def asns(self) -> npt.NDArray[np.uint32]:
        import numpy as np

        return np.frombuffer(self.body, dtype="<u4", count=self.rows, offset=self.asns_at)

    @cached_property
    def country_index(self) -> npt.NDArray[np.uint8]:
        import numpy as np

        return np.frombuffer(self.body, dtype=np.uint8, count=self.rows, offset=self.country_at)

    @cached_property
    def labels(self) -> list[str]:
        labels = self.body[self.labels_at :].decode("utf-8").split("\n")
        if len(labels) != self.rows:
            raise ValueError(f"{COLUMNS_FILE}: {len(labels)} labels for {self.rows} rows")
        return labels

    @cached_property
    def network_table(self) -> Any:
        """The C extension's view of these columns (``_fastnames.NetworkTable``), or None where it
        is not built (or on a big-endian machine: the AS numbers are little-endian)."""
        try:
            from lightsout.attribution._fastnames import NetworkTable
        except ImportError:
            return None
        if sys.byteorder != "little":
            return None
        return NetworkTable(self.body, self.asns_at, self.rows, self.country_at, self.countries,
                            self.labels_at, len(self.body))  # fmt: skip


@cache
def columns() -> Columns:
    """The packaged columns file, read once."""
    return Columns((_DATA / COLUMNS_FILE).read_bytes())


def network_row(asn: int, *, fast: bool = True) -> tuple[str, str | None] | None:
    """The label (:func:`as_label` of the table's name) and the country (None when unknown) of the
    table's row for ``asn``, None when it has none: one binary search of the columns, for a source
    that names a few ASes (``make_asn_network``) without parsing the 91k-row TSV (~0.1 s). In C
    where the extension is built (``fast``), else in Python."""
    if not 0 <= asn < 1 << 32:
        return None
    cols = columns()
    table = cols.network_table if fast else None
    if table is not None:
        found: tuple[str, str | None] | None = table.row(asn)
        return found
    lo, hi = 0, cols.rows  # the same search in Python, numpy left out (a source naming a few ASes)
    while lo < hi:
        mid = (lo + hi) // 2
        if _U32.unpack_from(cols.body, cols.asns_at + 4 * mid)[0] < asn:
            lo = mid + 1
        else:
            hi = mid
    if lo == cols.rows or _U32.unpack_from(cols.body, cols.asns_at + 4 * lo)[0] != asn:
        return None
    return cols.labels[lo], cols.countries[cols.body[cols.country_at + lo]]


def network_rows(asns: list[int]) -> tuple[list[str], list[str | None]]:
    """The label (:func:`as_label` of the table's name; ``AS64500`` for an AS the table lacks) and
    the table's country (None when unknown or absent) of each AS, by one binary search of the
    columns for all of them (numpy) and C-level list lookups (the Python path of
    :func:`~lightsout.attribution.entities.make_asn_networks`)."""
    import numpy as np

    cols = columns()
    n = len(asns)
    if not n or not len(cols.asns):
        return [f"AS{asn}" for asn in asns], [None] * n
    wanted = np.fromiter(asns, dtype=np.int64, count=n)
    at = np.minimum(np.searchsorted(cols.asns, wanted), len(cols.asns) - 1)
    found = cols.asns[at] == wanted
    labels = list(map(cols.labels.__getitem__, at.tolist()))
    countries = list(map(cols.countries.__getitem__, np.where(found, cols.country_index[at], 0).tolist()))
    if not found.all():
        for i in np.flatnonzero(~found).tolist():
            labels[i] = f"AS{asns[i]}"
    return labels, countries
