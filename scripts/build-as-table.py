#!/usr/bin/env python3
"""Build Lightsout's table of autonomous systems (number -> name, country) from ip-location-db.

    python3 scripts/build-as-table.py              # npm pack the two pinned packages, then derive
    python3 scripts/build-as-table.py ASN.tgz COUNTRY.tgz   # tarballs already at hand
    python3 scripts/build-as-table.py --columns    # only re-derive the columns from the TSV

Writes src/lightsout/attribution/data/as-table.tsv.gz, read by lightsout.attribution.asnames, and
beside it as-table.columns.gz: the same rows as columns (AS numbers, countries, each AS's label as
``asnames.as_label`` makes it) for the MRT reader, which names ~50,000 ASes per full table
(``asnames.write_columns`` has the format; tests/test_asnames.py checks both files agree).
Run by hand when the dataset is to be refreshed (bump VERSION); never at test or run time.

The sources, both on the npm registry (the same version, built the same day):

- ``@ip-location-db/asn``: address ranges -> originating AS number and organisation name
  (RouteViews' prefix-to-AS table, then the five RIRs', then DB-IP's; names from DB-IP's
  IP to ASN Lite). CC BY 4.0: RouteViews, DB-IP.com.
- ``@ip-location-db/asn-country``: address ranges -> country the range is registered to, merged
  from the five RIRs' delegation statistics. CC BY 4.0: NRO.

Neither maps an AS to a country, so the country of an AS is derived: the country holding most of
the AS's IPv4 addresses (the address ranges it originates, each counted once per address, looked up
in the registry delegations); an AS with no IPv4 space falls back to its IPv6 space the same way.
Its name is the organisation name covering most of its addresses. ASes with ranges but no
registered country get "" (unknown), never a guess.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

VERSION = "2.3.2026061719"
PACKAGES = ("@ip-location-db/asn", "@ip-location-db/asn-country")
SRC = Path(__file__).resolve().parents[1] / "src"
OUT = SRC / "lightsout/attribution/data/as-table.tsv.gz"
COLUMNS = OUT.with_name("as-table.columns.gz")


def write_columns() -> None:
    """as-table.columns.gz from the as-table.tsv.gz beside it (this tree's asnames reads both)."""
    sys.path.insert(0, str(SRC))
    from lightsout.attribution import asnames

    table = asnames.as_table()
    COLUMNS.write_bytes(asnames.write_columns(table, hashlib.sha256(OUT.read_bytes()).digest()))
    print(f"{COLUMNS}: {len(table)} ASes, {COLUMNS.stat().st_size} bytes")


def _tarballs(argv: list[str], tmp: Path) -> list[tuple[Path, str]]:
    if len(argv) == 3:
        return [(Path(a), Path(a).name) for a in argv[1:]]
    out = []
    for package in PACKAGES:
        spec = f"{package}@{VERSION}"
        done = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True,
                              capture_output=True, text=True)  # fmt: skip
        out.append((tmp / done.stdout.strip().splitlines()[-1], f"npm {spec}"))
    return out


def _rows(tarball: Path, member: str) -> Iterator[list[str]]:
    with tarfile.open(tarball) as archive:
        handle = archive.extractfile(f"package/{member}")
        assert handle is not None, member
        yield from csv.reader(io.TextIOWrapper(handle, encoding="utf-8"))


def _space(asn_tgz: Path, country_tgz: Path, family: str) -> dict[int, tuple[Counter[str], Counter[str]]]:
    """Per AS: addresses by registered country, addresses by organisation name (one family)."""
    countries = [(int(a), int(b), cc) for a, b, cc in _rows(country_tgz, f"asn-country-{family}-num.csv")]
    countries.sort()
    per_as: dict[int, tuple[Counter[str], Counter[str]]] = defaultdict(lambda: (Counter(), Counter()))
    rows = _rows(asn_tgz, f"asn-{family}-num.csv")
    ranges = sorted((int(a), int(b), int(asn), name) for a, b, asn, name in rows)
    i = 0
    for start, end, asn, name in ranges:
        by_country, by_name = per_as[asn]
        by_name[name.strip()] += end - start + 1
        while i < len(countries) and countries[i][1] < start:
            i += 1
        j = i
        while j < len(countries) and countries[j][0] <= end:
            lo, hi = max(start, countries[j][0]), min(end, countries[j][1])
            if lo <= hi:
                by_country[countries[j][2]] += hi - lo + 1
            j += 1
    return per_as


def _clean(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("\t", " ")).strip()


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (asn_tgz, asn_src), (cc_tgz, cc_src) = _tarballs(argv, Path(tmp))
        digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (asn_tgz, cc_tgz)]
        v4 = _space(asn_tgz, cc_tgz, "ipv4")
        v6 = _space(asn_tgz, cc_tgz, "ipv6")
    table: dict[int, tuple[str, str]] = {}
    for asn in sorted(set(v4) | set(v6)):
        by_country, by_name = v4[asn] if asn in v4 else v6[asn]
        if not by_country and asn in v6:
            by_country = v6[asn][0]
        # most addresses first; ties broken by the code, so the build is reproducible
        country = min(by_country.items(), key=lambda kv: (-kv[1], kv[0]))[0] if by_country else ""
        name = min(by_name.items(), key=lambda kv: (-kv[1], kv[0]))[0] if by_name else ""
        table[asn] = (country if re.fullmatch(r"[A-Z]{2}", country) else "", _clean(name))
    text = io.StringIO()
    text.write(f"# AS table built by scripts/build-as-table.py from {asn_src}")
    text.write(f" (tarball sha256 {digests[0]})\n")
    text.write(f"# and {cc_src} (tarball sha256 {digests[1]}); CC BY 4.0: RouteViews, DB-IP.com, NRO.\n")
    text.write(f"# dataset version {VERSION}; columns: asn, country (most registered IPv4 space), name\n")
    for asn, (country, name) in table.items():
        text.write(f"{asn}\t{country}\t{name}\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(text.getvalue().encode(), compresslevel=9, mtime=0))
    print(f"{OUT}: {len(table)} ASes, {OUT.stat().st_size} bytes")
    write_columns()


if __name__ == "__main__":
    if sys.argv[1:] == ["--columns"]:
        write_columns()
    else:
        main(sys.argv)
