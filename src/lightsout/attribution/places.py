"""Names of places -> ISO 3166 codes, from pycountry's copy of the ISO 3166 tables.

Sources name regions in their own spelling ("Ardebil", "Kiev City", "Donets'k"). We fold
accents, drop generic words ("oblast", "province") and match against every ISO 3166-2
subdivision name of the country; a short alias table (``aliases.yaml``) covers spellings that
no string distance can bridge. A region that cannot be matched keeps the source's own name
and gets a code of the form ``CC-x-<name>`` so it is never confused with an ISO code.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from importlib import resources

import pycountry

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
    if len(code) == 2:
        country = pycountry.countries.get(alpha_2=code)
    elif len(code) == 3:
        country = pycountry.countries.get(alpha_3=code)
    else:
        return None
    return str(country.alpha_2) if country else None


@functools.cache
def country_name(alpha2: str) -> str:
    country = pycountry.countries.get(alpha_2=alpha2)
    if country is None:
        return alpha2
    return str(getattr(country, "common_name", None) or country.name)


@functools.cache
def _aliases() -> dict[str, dict[str, str]]:
    import yaml  # here, not at import: most readers name countries only (saves 20-40 ms of start-up)

    text = resources.files("lightsout.attribution").joinpath("aliases.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, str]] = yaml.safe_load(text)
    return {cc: {fold(k): v for k, v in names.items()} for cc, names in data.items()}


@functools.cache
def _subdivisions(alpha2: str) -> dict[str, tuple[str, str]]:
    """folded name -> (ISO 3166-2 code, ISO name) for every subdivision of a country."""
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
    close = difflib.get_close_matches(folded, list(table), n=2, cutoff=0.8)
    if len(close) == 1 or (len(close) == 2 and _ratio(folded, close[0]) > _ratio(folded, close[1]) + 0.05):
        return table[close[0]][0], True
    return f"{alpha2}-x-{folded}", False


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()
