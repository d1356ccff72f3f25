"""Builders of :class:`Entity` records, so every source names places the same way."""

from __future__ import annotations

from lightsout.attribution.places import country_name, fold, region_code
from lightsout.model import Entity, EntityKind


def make_country(alpha2: str) -> Entity:
    return Entity(f"country/{alpha2}", EntityKind.COUNTRY, alpha2, country_name(alpha2), alpha2, None)


def make_region(alpha2: str, name: str) -> Entity:
    """A first-level subdivision, coded in ISO 3166-2 when its name can be matched."""
    code, _ = region_code(alpha2, name)
    return Entity(f"region/{code}", EntityKind.REGION, code, name, alpha2, f"country/{alpha2}")


def make_county(region: Entity, name: str) -> Entity:
    code = f"{region.code}/{fold(name) or name}"
    return Entity(f"county/{code}", EntityKind.COUNTY, code, name, region.country_code, region.entity_id)


def make_asn_network(asn: int, country: str | None = None, name: str | None = None) -> Entity:
    """An autonomous system. ``country`` is where the observations put it, when they do."""
    parent = f"country/{country}" if country else None
    return Entity(
        f"network/AS{asn}", EntityKind.NETWORK, f"AS{asn}", name or f"AS{asn}", country, parent, asn
    )


def make_isp_network(alpha2: str, isp_name: str) -> Entity:
    """A network that the source names but gives no AS number for (e.g. Monash's ``isp_name``)."""
    code = f"{alpha2}-isp-{fold(isp_name)}"
    return Entity(
        f"network/{code}", EntityKind.NETWORK, code, " ".join(isp_name.split()), alpha2, f"country/{alpha2}"
    )
