"""Country -> IANA time zone, from the ``zone.tab`` that the tzdata package ships."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def _zones() -> dict[str, list[str]]:
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        zones.setdefault(fields[0], []).append(fields[2])
    return zones


def country_zone(alpha2: str | None) -> str:
    """The country's main zone (zone.tab lists it first); UTC when unknown."""
    if alpha2 is None:
        return "UTC"
    return _zones().get(alpha2.upper(), ["UTC"])[0]


def country_zone_count(alpha2: str) -> int:
    return len(_zones().get(alpha2.upper(), []))
