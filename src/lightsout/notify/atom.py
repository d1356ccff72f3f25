"""An Atom feed (RFC 4287) of events, built with the standard library's ElementTree.

Each entry's ``id`` is a UUID derived from the event id (``urn:uuid:``, RFC 4122 version 5), so
it stays the same when the site moves; ``updated`` is the end of the event's latest alerted bin,
so an ongoing event that goes on, or ends, shows as updated. The same events give the same bytes
at the same ``now``: the clock only decides whether an open event's title says "ongoing" (its data
are live, ``report.words.is_live``) or "still open at the end of the data".
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from lightsout.model import Entity, Event
from lightsout.report.statement import make_statement
from lightsout.report.words import alerted_until, is_live

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_NAMESPACE = uuid.UUID("8f6b1b7e-2f53-5d38-9c1e-6c1c4c7a2f10")  # fixed: entry ids never change


def entry_id(event_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(FEED_NAMESPACE, 'lightsout:event:' + event_id)}"


def event_updated(event: Event) -> datetime:
    """When the evidence of ``event`` last changed: the end of its latest alerted bin."""
    return max(alerted_until(event), event.end or event.start)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _title(event: Event, live: bool) -> str:
    what = "recurring cuts" if event.schedule else event.kind.value
    state = "ended" if event.end is not None else ("ongoing" if live else "still open at the end of the data")
    return f"{event.scope.value.capitalize()} {what} in {event.entity_name}, {state}"


def make_atom_feed(
    events: Sequence[Event],
    base_url: str,
    entities: Mapping[str, Entity] | None = None,
    title: str = "Lightsout: internet shutdowns and outages",
    limit: int = 200,
    own_alerts: Collection[str] | None = None,
    data_until: Mapping[str, datetime] | None = None,
    now: datetime | None = None,
) -> bytes:
    """The newest ``limit`` events as an Atom feed; links point to ``base_url``/event/ID.
    ``own_alerts``: ids of the events whose entity alerted itself
    (:func:`lightsout.report.context.events_with_own_alerts`); None takes every event as such.
    ``data_until``: per entity, where its data end (``detect.service.data_ends``); an open event is
    "ongoing" only if they are live at ``now`` (default: the clock). Without it, an event's data
    end where its latest alerted bin does (``report.words.alerted_until``)."""
    base = base_url.rstrip("/")
    chosen = sorted(events, key=lambda e: (event_updated(e), e.event_id), reverse=True)[:limit]
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", f"urn:uuid:{uuid.uuid5(FEED_NAMESPACE, 'lightsout:feed:' + base)}")
    sub(feed, "title", title)
    updated = max((event_updated(e) for e in chosen), default=datetime(1970, 1, 1, tzinfo=UTC))
    sub(feed, "updated", _time(updated))
    sub(feed, "link", rel="self", href=f"{base}/feed.atom", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{base}/", type="text/html")
    author = sub(feed, "author")
    sub(author, "name", "Lightsout")
    sub(feed, "generator", "Lightsout")
    for event in chosen:
        own = own_alerts is None or event.event_id in own_alerts
        statement = make_statement(event, entities or {}, own_alerts=own)
        entry = sub(feed, "entry")
        sub(entry, "id", entry_id(event.event_id))
        until = data_until.get(event.entity_id) if data_until is not None else alerted_until(event)
        sub(entry, "title", _title(event, is_live(until, now)))
        sub(entry, "updated", _time(event_updated(event)))
        sub(entry, "published", _time(event.start))
        sub(entry, "link", rel="alternate", href=f"{base}/event/{quote(event.event_id)}", type="text/html")
        sub(entry, "summary", " ".join(p for p in (statement.headline, statement.body) if p), type="text")
        sub(entry, "category", term=event.scope.value, label=f"{event.scope.value} {event.kind.value}")
        if event.country_code:
            sub(entry, "category", term=f"country:{event.country_code}")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
