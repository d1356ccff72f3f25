"""Other observatories' outage events (:class:`lightsout.model.ExternalEvent`: IODA, Cloudflare
Radar) as the command line, the API and the dashboard show them: always apart from Lightsout's own
events, labelled with their source, never counted or fused with them.

Filters mean what they mean for Lightsout's events (``lightsout.detect.service.EventFilter``):
``since`` keeps events still going on at or after it (ongoing, or ended after it), ``until`` events
that started before it.
"""

from __future__ import annotations

from datetime import datetime

from lightsout.model import Entity, EntityKind, Event, ExternalEvent, Scope
from lightsout.store import Store

SOURCE_NAMES = {"ioda": "IODA", "cloudflare-radar": "Cloudflare Radar"}


def select_external(
    store: Store,
    country: str | None = None,
    scope: Scope | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    entity_id: str | None = None,
    source: str | None = None,
) -> list[ExternalEvent]:
    rows = store.external_events(entity_id, country, since, until)
    return [e for e in rows if (scope is None or e.scope == scope) and (source is None or e.source == source)]


def external_of(store: Store, entity: Entity) -> list[ExternalEvent]:
    """What other observatories reported for an entity's page: a country's include those of its
    regions and networks (by country code), any other entity's only its own."""
    if entity.kind == EntityKind.COUNTRY:
        return store.external_events(country=entity.code)
    return store.external_events(entity_id=entity.entity_id)


def external_during(store: Store, event: Event) -> list[ExternalEvent]:
    """What other observatories reported for an event's country (or its entity, when it has no
    country) while it went on: their events that overlap it."""
    if event.country_code is not None:
        return store.external_events(country=event.country_code, since=event.start, until=event.end)
    return store.external_events(entity_id=event.entity_id, since=event.start, until=event.end)


def source_name(source: str) -> str:
    return SOURCE_NAMES.get(source, source)


def external_line(event: ExternalEvent) -> str:
    """``IODA: bgp outage in Tunisia (country/TN), 2026-10-06 18:15 - 18:55 UTC``; ``Cloudflare
    Radar: power outage in Ukraine (country/UA), since 2022-10-25 00:00 UTC, ongoing``."""
    cause = event.cause.replace("_", " ").lower() if event.cause else None
    if cause:
        what = cause if cause.endswith("outage") else f"{cause} outage"
    else:
        what = f"{event.datasource} outage" if event.datasource else "outage"
    place = f"{event.entity_name} ({event.entity_id})" if event.entity_id else event.entity_name
    start = f"{event.start_time:%Y-%m-%d %H:%M}"
    if event.end_time is None:
        when = f"since {start} UTC, ongoing"
    elif event.end_time.date() == event.start_time.date():
        when = f"{start} - {event.end_time:%H:%M} UTC"
    else:
        when = f"{start} - {event.end_time:%Y-%m-%d %H:%M} UTC"
    return f"{source_name(event.source)}: {what} in {place}, {when}"


EXTERNAL_CSV_COLUMNS = [
    "event_id", "source", "entity_id", "entity_name", "country_code", "scope", "start", "end", "cause",
    "datasource", "score", "description", "link",
]  # fmt: skip
_RISKY = ("=", "+", "-", "@", "\t", "\r", "\n")


def _cell(text: str | None) -> str:
    """Text from another service, kept from running as a spreadsheet formula."""
    if not text:
        return ""
    return "'" + text if text.startswith(_RISKY) else text


def external_csv_row(event: ExternalEvent) -> list[str]:
    return [
        event.event_id, event.source, event.entity_id or "", _cell(event.entity_name),
        event.country_code or "", event.scope.value if event.scope else "", event.start_time.isoformat(),
        event.end_time.isoformat() if event.end_time else "", event.cause or "", event.datasource or "",
        "" if event.score is None else f"{event.score:g}", _cell(event.description), _cell(event.link),
    ]  # fmt: skip
