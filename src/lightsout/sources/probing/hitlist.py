"""The hitlist: the /24 blocks to watch, whom they belong to, and which of their addresses answer.

Blocks come from the BGP routing tables in the store (the prefixes that full-feed peers of every
ingested collector route, ``lightsout.sources.mrt``) or from a prefix file, cut into /24 blocks
and filtered by country or origin AS and by the do-not-probe list (:mod:`.safety`). Each block is
attributed to its origin AS (the most specific covering prefix), its country and region
(GeoLite2 City, per block, or the file's columns).

Per block, *discovery* (:func:`lightsout.sources.probing.prober.discover`) finds ``E(b)``, the
addresses that answer ICMP echo (Trinocular's ever-responsive set, found there from ISI's census),
and a first ``A(b)``. A block is *probeable* when ``|E(b)|`` and ``A(b)`` are large enough for
the belief to become decisive in a round (defaults: 15 addresses, A >= 0.1).

Stored as one ``.npz`` file of arrays (a million blocks with 30 addresses each is ~45 MB), written
atomically so a killed run never leaves half a hitlist.
"""

from __future__ import annotations

import csv
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lightsout.errors import InputError, UserError
from lightsout.sources.probing.safety import DoNotProbe, iter_first_columns

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]

MIN_RESPONSIVE = 15
MIN_AVAILABILITY = 0.1


@dataclass(frozen=True, slots=True)
class PrefixRow:
    """A prefix to watch, with what is known of it (``None``: look it up)."""

    prefix: str
    asn: int | None = None
    country: str | None = None
    region: str | None = None


@dataclass(slots=True)
class Hitlist:
    """Arrays indexed by block (sorted by block number)."""

    blocks: U32  # /24 block number: network address >> 8
    asn: U32  # origin AS, 0 when unknown
    country: npt.NDArray[np.int32]  # index into ``countries``, -1 unknown
    region: npt.NDArray[np.int32]  # index into ``regions``, -1 unknown
    countries: list[str]  # ISO 3166-1 alpha-2
    regions: list[tuple[str, str]]  # (country, region name)
    e_offsets: I64  # E(b) of block i is e_octets[e_offsets[i]:e_offsets[i + 1]]
    e_octets: npt.NDArray[np.uint8]  # last octet of each ever-responsive address
    availability: F32  # A(b) from discovery, NaN before it
    discovered_s: I64  # when the block was last discovered (UTC epoch seconds), 0 never
    lab: bool = False

    def __len__(self) -> int:
        return int(self.blocks.size)

    def responsive_counts(self) -> I64:
        return np.diff(self.e_offsets)

    def probeable(
        self, min_responsive: int = MIN_RESPONSIVE, min_availability: float = MIN_AVAILABILITY
    ) -> npt.NDArray[np.bool_]:
        a = np.nan_to_num(self.availability, nan=0.0)
        return (self.responsive_counts() >= min_responsive) & (a >= min_availability)

    def addresses_of(self, i: int) -> list[int]:
        base = int(self.blocks[i]) << 8
        return [base + int(o) for o in self.e_octets[self.e_offsets[i] : self.e_offsets[i + 1]]]

    def with_discovery(
        self, indices: Iterable[int], found: dict[int, list[int]], availability: dict[int, float], now_s: int
    ) -> Hitlist:
        """A copy with E(b) and A(b) of ``indices`` replaced by a discovery's results."""
        chosen = set(indices)
        sizes = self.responsive_counts().copy()
        for i in chosen:
            sizes[i] = len(found.get(i, []))
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        octets = np.empty(int(offsets[-1]), dtype=np.uint8)
        old = self.e_offsets
        for i in range(len(self)):
            if i in chosen:
                octets[offsets[i] : offsets[i + 1]] = sorted(found.get(i, []))
            else:
                octets[offsets[i] : offsets[i + 1]] = self.e_octets[old[i] : old[i + 1]]
        a = self.availability.copy()
        discovered = self.discovered_s.copy()
        for i in chosen:
            a[i] = availability.get(i, np.nan)
            discovered[i] = now_s
        return Hitlist(self.blocks, self.asn, self.country, self.region, self.countries, self.regions,
                       offsets, octets, a, discovered, self.lab)  # fmt: skip

    def with_census(self, addresses: Iterable[int]) -> Hitlist:
        """A copy whose E(b) are the given addresses (e.g. ISI's census of responsive addresses,
        :func:`read_address_file`) that fall in the hitlist's blocks; A(b) is left to a survey."""
        found: dict[int, list[int]] = {}
        where = {int(b): i for i, b in enumerate(self.blocks.tolist())}
        for address in addresses:
            i = where.get(address >> 8)
            if i is not None:
                found.setdefault(i, []).append(address & 255)
        found = {i: sorted(set(v)) for i, v in found.items()}
        return self.with_discovery(range(len(self)), found, {}, 0)

    # -- files --------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("wb") as out:
            np.savez(
                out,
                blocks=self.blocks, asn=self.asn, country=self.country, region=self.region,
                countries=np.array(self.countries, dtype="U2"),
                region_cc=np.array([c for c, _ in self.regions], dtype="U2"),
                region_name=np.array([n for _, n in self.regions], dtype="U128"),
                e_offsets=self.e_offsets, e_octets=self.e_octets, availability=self.availability,
                discovered_s=self.discovered_s, lab=np.array(self.lab),
            )  # fmt: skip
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> Hitlist:
        if not path.exists():
            raise UserError(f"{path}: no hitlist here; build one with `lightsout probing hitlist`")
        try:
            data = np.load(path, allow_pickle=False)
            regions = list(zip(data["region_cc"].tolist(), data["region_name"].tolist(), strict=True))
            return cls(
                data["blocks"], data["asn"], data["country"], data["region"], data["countries"].tolist(),
                regions, data["e_offsets"], data["e_octets"], data["availability"], data["discovered_s"],
                bool(data["lab"]),
            )  # fmt: skip
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(str(path), "", f"not a Lightsout hitlist ({exc})") from exc


def read_address_file(path: Path) -> list[int]:
    """Responsive IPv4 addresses, one per line (``#`` comments; further columns ignored), as
    ISI's census and hitlist files list them (dotted quad, or 8 hex digits as in ISI's files)."""
    addresses = []
    for number, first in iter_first_columns(path):
        try:
            if len(first) == 8 and "." not in first:
                addresses.append(int(first, 16))
            else:
                addresses.append(int(ipaddress.IPv4Address(first)))
        except ValueError:
            raise InputError(str(path), f"line {number}", f"not an IPv4 address: {first!r}") from None
    return addresses


def block_address(block: int, octet: int = 0) -> str:
    """``a.b.c.octet`` of /24 block number ``block``."""
    return f"{block >> 16}.{(block >> 8) & 255}.{block & 255}.{octet}"


# -- building ---------------------------------------------------------------------------------------


def read_prefix_rows(path: Path) -> list[PrefixRow]:
    """A prefix file: ``prefix[,asn[,country[,region]]]`` per line (``#`` comments; the AS as
    ``64500`` or ``AS64500``). IPv6 prefixes are left out (the prober is IPv4 for now)."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(str(path), "", f"cannot read: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = [f.strip() for f in next(csv.reader([text]))]
        try:
            net = ipaddress.ip_network(fields[0], strict=False)
            asn_text = fields[1].upper().removeprefix("AS") if len(fields) > 1 and fields[1] else ""
            asn = int(asn_text) if asn_text else None
        except ValueError:
            raise InputError(
                str(path), f"line {number}", f"not 'prefix[,asn[,country[,region]]]': {text!r}"
            ) from None
        if net.version != 4:
            continue
        country = fields[2].upper() if len(fields) > 2 and fields[2] else None
        if country is not None and (len(country) != 2 or not country.isalpha()):
            raise InputError(str(path), f"line {number}", f"not an ISO 3166 country code: {fields[2]!r}")
        region = fields[3] if len(fields) > 3 and fields[3] else None
        rows.append(PrefixRow(str(net), asn, country, region))
    if not rows:
        raise InputError(str(path), "", "no IPv4 prefix in the file")
    return rows


def rows_from_store(store: Any) -> list[PrefixRow]:
    """Prefixes routed by the full-feed peers of every collector whose tables the store holds
    (its MRT ingests keep each collector's tables, ``mrt/<collector>``), with their origin AS."""
    from lightsout.sources.mrt import RouteTables, collector_name, full_feed_routes

    rows: dict[str, PrefixRow] = {}
    keys = {f"mrt/{collector_name(Path(s.path))}" for s in store.sources() if s.format.startswith("mrt")}
    for key in sorted(keys):
        carry = store.load_carry(key)
        if carry is None:
            continue
        try:
            tables = RouteTables.load(carry.payload)
        except ValueError:
            continue  # tables stored by an older version: re-ingest the RIB dump
        for prefix, origins in full_feed_routes(tables):
            if ":" in prefix or prefix in rows:
                continue
            rows[prefix] = PrefixRow(prefix, origins[-1] if origins else None)
    if not rows:
        raise UserError("no routing tables in the store: ingest a RIB dump first, or pass --prefixes FILE")
    return list(rows.values())


def _geolocate(addresses: list[str]) -> list[tuple[str | None, str | None]]:
    """(country, region name) per address, from the GeoLite2 City database."""
    from geolite2 import geolite2

    reader = geolite2.reader()
    located: list[tuple[str | None, str | None]] = []
    for address in addresses:
        record = reader.get(address)
        country = region = None
        if isinstance(record, dict):
            for key in ("country", "registered_country"):
                part = record.get(key)
                if isinstance(part, dict) and isinstance(part.get("iso_code"), str):
                    country = part["iso_code"]
                    break
            subdivisions = record.get("subdivisions")
            if isinstance(subdivisions, list) and subdivisions and "country" in record:
                names = subdivisions[0].get("names", {})
                region = names.get("en") if isinstance(names, dict) else None
        located.append((country, region))
    return located


def build_hitlist(
    rows: list[PrefixRow],
    dnp: DoNotProbe,
    countries: set[str] | None = None,
    asns: set[int] | None = None,
    geolocate: bool = True,
) -> tuple[Hitlist, int]:
    """Cut prefixes into /24 blocks (a prefix longer than /24 contributes its /24), attribute them,
    keep those of ``countries``/``asns`` that the do-not-probe list allows. Returns the hitlist
    and how many blocks the do-not-probe list removed."""
    nets = [ipaddress.IPv4Network(row.prefix, strict=False) for row in rows]
    first = np.array([int(n.network_address) >> 8 for n in nets], dtype=np.int64)
    count = np.array([max(1, n.num_addresses >> 8) for n in nets], dtype=np.int64)
    length = np.array([n.prefixlen for n in nets], dtype=np.int64)
    # every (block, prefix) pair, then per block the most specific prefix (the longest)
    total = int(count.sum())
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    all_blocks = np.repeat(first, count) + offset
    all_owner = np.repeat(np.arange(len(rows), dtype=np.int64), count)
    order = np.lexsort((np.repeat(length, count), all_blocks))
    all_blocks, all_owner = all_blocks[order], all_owner[order]
    last = np.ones(total, dtype=bool)
    last[:-1] = all_blocks[1:] != all_blocks[:-1]
    blocks, owner = all_blocks[last].astype(np.uint32), all_owner[last]
    allowed = dnp.allowed(blocks)
    excluded = int((~allowed).sum())
    blocks, owner = blocks[allowed], owner[allowed]
    asn_of_row = np.array([r.asn or 0 for r in rows], dtype=np.int64)
    cc = [rows[o].country for o in owner.tolist()]
    need = [i for i, c in enumerate(cc) if c is None] if geolocate else []
    if need:
        from lightsout.attribution.geo import default_locator

        found = default_locator().countries_v4(((blocks[need].astype(np.int64) << 8) | 1).astype(np.uint32))
        for i, code in zip(need, found, strict=True):
            cc[i] = code
    keep = [
        i for i, code in enumerate(cc)
        if (countries is None or code in countries) and (asns is None or int(asn_of_row[owner[i]]) in asns)
    ]  # fmt: skip
    located = set(need)
    lookup = [i for i in keep if i in located] if geolocate else []
    regions_found = dict(
        zip(lookup, _geolocate([block_address(int(blocks[i]), 1) for i in lookup]), strict=True)
    )
    country_ids: dict[str, int] = {}
    region_ids: dict[tuple[str, str], int] = {}
    asn_col, cc_col, region_col = [], [], []
    for i in keep:
        code = cc[i]
        row = rows[int(owner[i])]
        if i in regions_found:
            where_cc, where_region = regions_found[i]
            region = where_region if where_cc == code else None
        else:
            region = row.region
        asn_col.append(row.asn or 0)
        cc_col.append(country_ids.setdefault(code, len(country_ids)) if code else -1)
        region_col.append(region_ids.setdefault((code, region), len(region_ids)) if code and region else -1)
    n = len(keep)
    hitlist = Hitlist(
        blocks[keep] if n else np.zeros(0, dtype=np.uint32),
        np.array(asn_col, dtype=np.uint32),
        np.array(cc_col, dtype=np.int32),
        np.array(region_col, dtype=np.int32),
        list(country_ids),
        list(region_ids),
        np.zeros(n + 1, dtype=np.int64),
        np.zeros(0, dtype=np.uint8),
        np.full(n, np.nan, dtype=np.float32),
        np.zeros(n, dtype=np.int64),
        dnp.lab,
    )
    return hitlist, excluded
