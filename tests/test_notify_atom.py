"""The Atom feed: valid RFC 4287 structure, one entry per event, stable ids, escaped text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lightsout.cli.notify import feed
from lightsout.detect.service import list_events
from lightsout.model import Event, Scope
from lightsout.notify.atom import entry_id, event_updated, make_atom_feed
from lightsout.store import Store, open_store

A = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def iran(iran_db: Path) -> Iterator[Store]:
    store = open_store(iran_db, read_only=True)
    yield store
    store.close()


def _rfc3339(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00")


def test_feed_has_one_valid_entry_per_event(iran: Store) -> None:
    events = list_events(iran)
    entities = {e.entity_id: e for e in iran.entities()}
    body = make_atom_feed(events, "https://observatory.example/", entities)
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(body)
    assert root.tag == f"{A}feed"
    for required in ("id", "title", "updated", "author"):
        assert root.find(f"{A}{required}") is not None, required
    entries = root.findall(f"{A}entry")
    assert len(entries) == len(events) == 12
    by_id = {entry_id(e.event_id): e for e in events}
    updated = []
    for entry in entries:
        texts = {child.tag.removeprefix(A): (child.text or "") for child in entry}
        assert {"id", "title", "updated", "published", "summary", "link"} <= texts.keys()
        event = by_id[texts["id"]]  # every id is one event's, as a urn:uuid
        assert texts["id"].startswith("urn:uuid:")
        assert _rfc3339(texts["updated"]) == event_updated(event)
        assert _rfc3339(texts["published"]) == event.start <= _rfc3339(texts["updated"])
        assert texts["summary"].startswith("Metrics show")
        link = entry.find(f"{A}link")
        assert (
            link is not None and link.attrib["href"] == f"https://observatory.example/event/{event.event_id}"
        )
        updated.append(_rfc3339(texts["updated"]))
    assert updated == sorted(updated, reverse=True)  # newest first
    feed_updated = root.find(f"{A}updated")
    assert feed_updated is not None and _rfc3339(feed_updated.text or "") == max(updated)
    national = next(e for e in events if e.scope == Scope.NATIONAL)
    entry = next(x for x in entries if (x.findtext(f"{A}id") or "") == entry_id(national.event_id))
    # open at the end of 2019's data: not "ongoing" (the data are not live)
    assert entry.findtext(f"{A}title") == "National outage in Iran, still open at the end of the data"
    assert "All 30 provinces are affected." in (entry.findtext(f"{A}summary") or "")
    # the ongoing event's updated time is the end of its last alerted bin
    assert event_updated(national) == datetime(2019, 11, 20, 3, 30, tzinfo=UTC)


def test_feed_is_deterministic_and_ids_do_not_depend_on_the_site(iran: Store) -> None:
    events = list_events(iran)
    one = make_atom_feed(events, "https://a.example")
    assert one == make_atom_feed(list(reversed(events)), "https://a.example")
    ids_a = [x.findtext(f"{A}id") for x in ET.fromstring(one).findall(f"{A}entry")]
    ids_b = [
        x.findtext(f"{A}id")
        for x in ET.fromstring(make_atom_feed(events, "https://b.example")).iter(f"{A}entry")
    ]
    assert ids_a == ids_b and len(set(ids_a)) == len(ids_a)


def test_an_open_event_is_ongoing_only_while_its_data_are_live(iran: Store) -> None:
    """The rule of the events table, `watch` and the event page (report.words.is_live): an event
    open where the data end is "ongoing" only within LIVE_WINDOW of those data's end."""
    national = next(e for e in list_events(iran) if e.scope == Scope.NATIONAL)
    assert national.end is None
    data_end = datetime(2019, 11, 20, 3, 30, tzinfo=UTC)  # the end of Iran's last hourly bin

    def title(now: datetime, data_until: dict[str, datetime] | None = None) -> str | None:
        root = ET.fromstring(make_atom_feed([national], "https://x.example", now=now, data_until=data_until))
        return root.findtext(f"{A}entry/{A}title")

    stale = "National outage in Iran, still open at the end of the data"
    assert title(data_end + timedelta(hours=5)) == "National outage in Iran, ongoing"
    assert title(data_end + timedelta(days=3)) == stale
    # the entity's own data end, when given, decides (here: a series of it still measured later)
    later = {national.entity_id: data_end + timedelta(days=3)}
    assert title(data_end + timedelta(days=4), later) == "National outage in Iran, ongoing"
    ended = replace(national, end=data_end)
    root = ET.fromstring(make_atom_feed([ended], "https://x.example", now=data_end))
    assert root.findtext(f"{A}entry/{A}title") == "National outage in Iran, ended"


def test_hostile_text_is_escaped_and_limit_applies(iran: Store) -> None:
    event: Event = next(e for e in list_events(iran) if e.scope == Scope.NATIONAL)
    hostile = replace(event, entity_name="<b>Évil & co</b>]]>", event_id="ev-<&>")
    later = replace(event, event_id="ev-later", start=event.start + timedelta(days=1))
    root = ET.fromstring(make_atom_feed([hostile, later], "https://x.example", limit=1))
    entries = root.findall(f"{A}entry")
    assert len(entries) == 1
    root = ET.fromstring(make_atom_feed([hostile], "https://x.example"))
    title = "National outage in <b>Évil & co</b>]]>, still open at the end of the data"
    assert root.findtext(f"{A}entry/{A}title") == title
    link = root.find(f"{A}entry/{A}link")
    assert link is not None and link.attrib["href"] == "https://x.example/event/ev-%3C%26%3E"
    empty = ET.fromstring(make_atom_feed([], "https://x.example"))
    assert empty.findall(f"{A}entry") == [] and empty.findtext(f"{A}updated") == "1970-01-01T00:00:00Z"


def test_feed_command_writes_file_and_stdout(iran_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.atom"
    runner = CliRunner()
    result = runner.invoke(feed, ["--db", str(iran_db), "--out", str(out), "--base-url", "https://o.example"])
    assert result.exit_code == 0, result.output
    assert "12 events written" in result.output
    assert len(ET.parse(out).getroot().findall(f"{A}entry")) == 12
    result = runner.invoke(feed, ["--db", str(iran_db), "--country", "IRN", "--limit", "2"])
    assert result.exit_code == 0
    assert len(ET.fromstring(result.stdout_bytes).findall(f"{A}entry")) == 2
