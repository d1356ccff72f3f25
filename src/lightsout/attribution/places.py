"""Names of places -> ISO 3166 codes, from pycountry's copy of the ISO 3166 tables.

Sources name regions in their own spelling ("Ardebil", "Kiev City", "Donets'k"). We fold
accents, drop generic words ("oblast", "province") and match against every ISO 3166-2
subdivision name of the country; a short alias table (``aliases.yaml``) covers spellings that
no string distance can bridge. A region that cannot be matched keeps the source's own name
and gets a code of the form ``CC-x-<name>`` so it is never confused with an ISO code.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_GENERIC = re.compile(
    r"\b(oblast|oblast'|province|region|state|respublika|republic|kray|krai|city|of|the|and|va|e)\b"
)


def fold(name: str) -> str:
    """Lower-case ASCII letters only, generic words removed: 'Donets'ka oblast' -> 'donetska'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    ascii_name = _GENERIC.sub(" ", ascii_name.replace("'", ""))
    return re.sub(r"[^a-z]", "", ascii_name)


@functools.cache
def country_alpha2(code: str) -> str | None:
    """ISO 3166-1 alpha-3 or alpha-2 -> alpha-2; None for codes ISO does not know."""
    code = code.strip().upper()
    if len(code) not in (2, 3):
        return None
    found = _countries().get(code)
    return found[0] if found else None


@functools.cache
def country_name(alpha2: str) -> str:
    """pycountry's common name of the country (``Iran``), else its name; the code if ISO lacks it."""
    found = _countries().get(alpha2.upper()) if len(alpha2) == 2 else None
    return found[1] if found else alpha2


@functools.cache
def _countries() -> dict[str, tuple[str, str]]:
    """Alpha-2 and alpha-3 codes (upper case) -> (alpha-2, common name or else name) of every
    country of ISO 3166-1, read from pycountry's own copy of the table (its
    ``databases/iso3166-1.json``, the records ``pycountry.countries`` is made of) without importing
    pycountry: its import reads the metadata of the installed packages for its own version, ~25 ms
    of every command's start-up, against ~2 ms for the file. Falls back to pycountry's API should
    the file move; tests compare both for every country."""
    table: dict[str, tuple[str, str]] = {}
    for alpha2, alpha3, name in _iso3166_file() or _pycountry_countries():
        table[alpha2.upper()] = table[alpha3.upper()] = (alpha2, name)
    return table


def _iso3166_file() -> list[tuple[str, str, str]] | None:
    """(alpha-2, alpha-3, common name or else name) of every country, from pycountry's
    iso3166-1.json found without importing pycountry; None if it is not there as expected."""
    import json
    from importlib.util import find_spec

    spec = find_spec("pycountry")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        try:
            with open(f"{location}/databases/iso3166-1.json", encoding="utf-8") as handle:
                return [
                    (r["alpha_2"], r["alpha_3"], r.get("common_name") or r["name"])
                    for r in json.load(handle)["3166-1"]
                ]
        except (OSError, KeyError, TypeError, ValueError):
            continue
    return None


def _pycountry_countries() -> list[tuple[str, str, str]]:
    """(alpha-2, alpha-3, common name or else name) of every country, through pycountry's API."""
    import pycountry

    return [
        (str(c.alpha_2), str(c.alpha_3), str(getattr(c, "common_name", None) or c.name))
        for c in pycountry.countries
    ]


@functools.cache
def _aliases() -> dict[str, dict[str, str]]:
    from importlib import resources

    import yaml  # here, not at import: most readers name countries only (saves 20-40 ms of start-up)

    text = resources.files("lightsout.attribution").joinpath("aliases.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, str]] = yaml.safe_load(text)
    return {cc: {fold(k): v for k, v in names.items()} for cc, names in data.items()}


@functools.cache
def _subdivisions(alpha2: str) -> dict[str, tuple[str, str]]:
    """folded name -> (ISO 3166-2 code, ISO name) for every subdivision of a country."""
    import pycountry  # here, not at import (see _countries); only regions need its subdivisions

    table: dict[str, tuple[str, str]] = {}
    for sub in pycountry.subdivisions.get(country_code=alpha2) or []:
        table.setdefault(fold(sub.name), (str(sub.code), str(sub.name)))
    return table


@functools.cache
def region_code(alpha2: str, name: str) -> tuple[str, bool]:
    """(ISO 3166-2 code, True) for a region name, or (``CC-x-<folded>``, False) when unmatched."""
    folded = fold(name)
    alias = _aliases().get(alpha2, {}).get(folded)
    if alias:
        return alias, True
    table = _subdivisions(alpha2)
    if folded in table:
        return table[folded][0], True
    import difflib

    close = difflib.get_close_matches(folded, list(table), n=2, cutoff=0.8)
    if len(close) == 1 or (len(close) == 2 and _ratio(folded, close[0]) > _ratio(folded, close[1]) + 0.05):
        return table[close[0]][0], True
    return f"{alpha2}-x-{folded}", False


def _ratio(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio()
