"""Places in words: "in Bago, Myanmar", "on AS12880 (Information Technology Company (ITC)) in
Iran", "16 counties"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lightsout.attribution.asnames import as_label
from lightsout.model import Entity, EntityKind, Event, Scope


def country_name(code: str | None, entities: Mapping[str, Entity]) -> str | None:
    if code is None:
        return None
    entity = entities.get(f"country/{code}")
    if entity is not None:
        return entity.name
    import pycountry

    found = pycountry.countries.get(alpha_2=code)
    return str(found.name) if found is not None else code


def kind_of(entity_id: str, entities: Mapping[str, Entity]) -> EntityKind | None:
    entity = entities.get(entity_id)
    if entity is not None:
        return entity.kind
    prefix = entity_id.split("/", 1)[0]
    return EntityKind(prefix) if prefix in {k.value for k in EntityKind} else None


def _subdivision_type(entity: Entity) -> str | None:
    import pycountry

    found = pycountry.subdivisions.get(code=entity.code)
    return str(found.type).lower() if found is not None else None


def _plural(word: str) -> str:
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy")):
        return word[:-1] + "ies"
    return word if word.endswith("s") else word + "s"


def unit_words(kind: EntityKind, members: Sequence[Entity]) -> tuple[str, str]:
    """(singular, plural) for a group of sub-entities: "province"/"provinces" when ISO 3166-2 says
    every region of the group is a province, else "region"/"regions"; "county", "network"."""
    if kind == EntityKind.REGION:
        types = {_subdivision_type(e) for e in members}
        if len(types) == 1 and None not in types:
            word = str(next(iter(types)))
            return word, _plural(word)
        return "region", "regions"
    if kind == EntityKind.COUNTY:
        return "county", "counties"
    if kind == EntityKind.NETWORK:
        return "network", "networks"
    return "country", "countries"


def place_text(event: Event, entities: Mapping[str, Entity]) -> str:
    """Where, as a phrase: "in Iran", "in Bago, Myanmar", "on the Myanma Post Telecommunication network
    in Myanmar", "on AS12880 (Iran Telecommunication Company) in Iran"."""
    country = country_name(event.country_code, entities)
    entity = entities.get(event.entity_id)
    if event.scope == Scope.NATIONAL:
        return f"in {event.entity_name}"
    if event.scope == Scope.NETWORK:
        asn = entity.asn if entity is not None else None
        network = as_label(asn, event.entity_name) if asn else f"the {event.entity_name} network"
        return f"on {network}" + (f" in {country}" if country else "")
    names = [event.entity_name]
    parent = entities.get(entity.parent_id) if entity is not None and entity.parent_id else None
    while parent is not None and parent.kind != EntityKind.COUNTRY:
        names.append(parent.name)
        parent = entities.get(parent.parent_id) if parent.parent_id else None
    if country:
        names.append(country)
    return "in " + ", ".join(names)


def sub_units(event: Event, entities: Mapping[str, Entity]) -> str:
    """ "2 counties": the affected sub-entities, named by their kind."""
    kinds = {kind_of(a.entity_id, entities) for a in event.affected}
    n = len(event.affected)
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kind is None:
        return f"{n} sub-entit{'y' if n == 1 else 'ies'}"
    singular, plural = unit_words(
        kind, [entities[a.entity_id] for a in event.affected if a.entity_id in entities]
    )
    return f"{n} {singular if n == 1 else plural}"
