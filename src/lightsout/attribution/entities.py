"""Builders of :class:`Entity` records, so every source names places the same way."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import fields
from itertools import repeat

from lightsout.attribution.asnames import as_label, columns, network_row, network_rows
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


def make_asn_network(
    asn: int, country: str | None = None, name: str | None = None, *, place: bool = True
) -> Entity:
    """An autonomous system, named ``AS12880 (Information Technology Company (ITC))``.

    ``country`` is where the observations put it, when they do; otherwise the packaged AS table's
    country (the one holding most of its registered address space, see
    :mod:`lightsout.attribution.asnames`), unless ``place`` is False (the observations saw it in
    several countries: it belongs to none). ``name`` is the source's name for it, else the table's.
    """
    found = network_row(asn)  # the table's label and country, from its columns (the TSV not parsed)
    if found is not None:
        country = country or (found[1] if place else None)
    label = as_label(asn, name) if name or found is None else found[0]
    parent = f"country/{country}" if country else None
    return Entity(f"network/AS{asn}", EntityKind.NETWORK, f"AS{asn}", label, country, parent, asn)


def make_asn_networks(asns: Iterable[int], *, fast: bool = True) -> list[Entity]:
    """``[make_asn_network(asn) for asn in asns]``, placed by the table: the same entities, made in
    bulk (the MRT reader names ~50,000 ASes from one full table; tests compare all three ways).

    Labels and countries come from the table's columns file (``as-table.columns.gz``: labels made
    when the table was built, see :mod:`lightsout.attribution.asnames`), not from parsing the TSV.
    With the C extension (``_fastnames``, ``fast=True``) each entity is made in one C loop (binary
    search, its label's bytes decoded, seven slot stores); without it, in Python, each field is set
    on all the entities by one ``map`` (:func:`_entities`) rather than by an ``__init__`` per entity.
    Figures in docs/mrt.md, "AS entities".
    """
    asns = list(asns)
    table = columns().network_table if fast else None
    if table is not None:
        entities: list[Entity] = table.entities(Entity, EntityKind.NETWORK, asns)
        return entities
    labels, countries = network_rows(asns)
    codes = list(map("AS{}".format, asns))
    parents: dict[str | None, str | None] = {cc: f"country/{cc}" for cc in set(countries) if cc}
    parents[None] = None
    return _entities(
        len(asns),
        entity_id=map("network/".__add__, codes),
        kind=repeat(EntityKind.NETWORK),
        code=codes,
        name=labels,
        country_code=countries,
        parent_id=map(parents.__getitem__, countries),
        asn=asns,
    )


# Each field of Entity, by name: its slot's descriptor (what a frozen dataclass's __init__ sets
# through object.__setattr__).
_SLOTS = {f.name: getattr(Entity, f.name) for f in fields(Entity)}


def _entities(n: int, **values: Iterable[object]) -> list[Entity]:
    """``n`` entities whose fields are given as columns (every field, each of ``n`` values): made
    without ``__init__`` (Entity has no ``__post_init__``; frozen, so its ``__init__`` sets each
    slot through ``object.__setattr__``, 1-2 us an entity) by setting each slot on all of them in
    one ``map`` of the slot's descriptor (~2x faster)."""
    if values.keys() != _SLOTS.keys():
        raise TypeError(f"Entity fields {list(_SLOTS)}, given {list(values)}")
    out = list(map(object.__new__, repeat(Entity, n)))
    for name, column in values.items():
        deque(map(_SLOTS[name].__set__, out, column), maxlen=0)
    return out


def make_isp_network(alpha2: str, isp_name: str) -> Entity:
    """A network that the source names but gives no AS number for (e.g. Monash's ``isp_name``)."""
    code = f"{alpha2}-isp-{fold(isp_name)}"
    return Entity(
        f"network/{code}", EntityKind.NETWORK, code, " ".join(isp_name.split()), alpha2, f"country/{alpha2}"
    )
