"""The dashboard's pages through FastAPI's TestClient: content, links, escaping, errors, stores."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lightsout.detect.run import detect_batch
from lightsout.detect.service import list_events
from lightsout.model import Entity, EntityKind, Scope, SignalKind, SignalPoint, SourceFile
from lightsout.store import IngestBatch, Store, open_store
from lightsout.web import StoreOpener, make_router

MONASH = "monash-ip-observatory"
EVIL = "<script>alert('x')</script> & \"Co\""
ODD_ID = "network/XX-isp-a b?c#d%e"


@pytest.fixture(scope="module")
def evil_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A country and a network with hostile names and an awkward id, each with a 10-hour cut."""
    db = tmp_path_factory.mktemp("evil") / "evil.duckdb"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    entities = [
        Entity("country/XX", EntityKind.COUNTRY, "XX", EVIL, "XX", None),
        Entity(ODD_ID, EntityKind.NETWORK, "a b?c#d%e", f"{EVIL} net", "XX", "country/XX"),
    ]
    points = []
    for entity in entities:
        for hour in range(5 * 24):
            cut = 4 * 24 <= hour < 4 * 24 + 10
            value = 5.0 if cut else 100.0 + (hour % 3)
            points.append(
                SignalPoint(
                    entity.entity_id,
                    SignalKind.CONNECTIVITY_INDEX,
                    "test",
                    start + timedelta(hours=hour),
                    3600,
                    value,
                )
            )
    source = SourceFile("e" * 64, f"/data/{EVIL}.csv", "monash-test", start, len(points), 0, len(points))
    store = open_store(db)
    try:
        store.write_batch(IngestBatch(source, entities, points))
        detect_batch(store)
        assert list_events(store), "the made-up cut must be an event"
    finally:
        store.close()
    return db


def _client(opener: StoreOpener, prefix: str = "") -> TestClient:
    app = FastAPI()
    app.include_router(make_router(opener), prefix=prefix)
    return TestClient(app)


@pytest.fixture(scope="module")
def iran(iran_db: Path) -> TestClient:
    return _client(lambda: open_store(iran_db, read_only=True))


def _national(db: Path) -> str:
    store = open_store(db, read_only=True)
    try:
        return next(e.event_id for e in list_events(store) if e.scope == Scope.NATIONAL)
    finally:
        store.close()


def _links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


def test_index_lists_iran_open_at_the_end_of_its_data(iran: TestClient, iran_db: Path) -> None:
    response = iran.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert re.search(r'<li class="country ongoing">\s*<a href="/entity/country/IR">Iran</a>', html)
    # "ongoing" needs live data: the archive of 2019 ends with the shutdown open, not ongoing
    assert "open at end of data (national)" in html and "ongoing (national)" not in html
    assert "<title>Iran: open at end of data</title>" in html
    assert f'href="/event/{_national(iran_db)}"' in html
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "<script" not in html  # no script anywhere


def test_entity_page_lists_events_signals_affected_and_children(iran: TestClient, iran_db: Path) -> None:
    html = iran.get("/entity/country/IR").text
    event_id = _national(iran_db)
    assert f'<a class="event-link" href="/event/{event_id}">{event_id}</a>' in html
    assert '<img id="entity-chart" src="/chart/entity/country/IR.svg"' in html
    assert "connectivity_index" in html and "Monash IP Observatory" in html
    assert ">Sistan and Baluchestan</a>" in html and "province" in html and ">Theran</a>" in html
    # a province: its own events, and the national event that lists it as affected
    province = iran.get("/entity/region/IR-06").text
    assert "Listed as affected in" in province and f"/event/{event_id}" in province
    assert '<a href="/entity/country/IR">Iran</a>' in province  # breadcrumb


def test_event_page_has_statement_chart_and_evidence(iran: TestClient, iran_db: Path) -> None:
    event_id = _national(iran_db)
    html = iran.get(f"/event/{event_id}").text
    assert (
        "Metrics show a nationwide internet shutdown in Iran since 17:30 UTC on 16 November 2019; "
        "connectivity at 7% of ordinary levels." in html
    )
    assert "All 30 provinces are affected." in html
    assert f'src="/chart/event/{event_id}.svg"' in html
    assert "<h2>Evidence</h2>" in html and "irn-2019-11-11_gif.csv" in html
    assert "<h2>Affected (103)</h2>" in html
    assert iran.get(f"/event/{event_id[:9]}").status_code == 200  # a unique prefix works too
    store = open_store(iran_db, read_only=True)
    try:
        regional = next(e.event_id for e in list_events(store) if e.entity_id == "region/IR-06")
    finally:
        store.close()
    assert (
        "Metrics show a major internet outage in 2 counties of Khuzestan, Iran"
        in iran.get(f"/event/{regional}").text
    )


def test_charts_are_svg(iran: TestClient, iran_db: Path) -> None:
    for path in ["/chart/entity/country/IR.svg", f"/chart/event/{_national(iran_db)}.svg"]:
        response = iran.get(path)
        assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
        root = ET.fromstring(response.content)
        assert (
            root.tag == "{http://www.w3.org/2000/svg}svg" and float(root.attrib["width"].rstrip("pt")) > 500
        )
        assert len(response.content) > 50_000


def test_unknown_pages_are_html_404(iran: TestClient) -> None:
    for path in [
        "/entity/country/QQ",
        "/event/ev-nothing",
        "/chart/entity/country/QQ.svg",
        "/chart/event/x.svg",
    ]:
        response = iran.get(path)
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert "in the store" in response.text


def test_unreadable_store_is_html_503(tmp_path: Path) -> None:
    client = _client(lambda: open_store(tmp_path / "missing.duckdb", read_only=True))
    response = client.get("/")
    assert response.status_code == 503 and "no store here yet" in response.text


def test_hostile_names_are_escaped_and_odd_ids_linked(evil_db: Path) -> None:
    client = _client(lambda: open_store(evil_db, read_only=True))
    pages = [client.get("/").text, client.get("/entity/country/XX").text]
    event_links = [h for h in _links(pages[0]) if h.startswith("/event/")]
    pages.append(client.get(event_links[0]).text)
    for html in pages:
        assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;Co&#34;" in pages[0]
    odd = [h for h in _links(pages[1]) if "XX-isp" in h]
    assert odd and odd[0] == "/entity/network/XX-isp-a%20b%3Fc%23d%25e"
    network = client.get(odd[0])
    assert network.status_code == 200 and "XX-isp-a b?c#d%e" in unescape(network.text)
    chart = client.get("/chart/entity/network/XX-isp-a%20b%3Fc%23d%25e.svg")
    assert chart.status_code == 200 and b"<script" not in chart.content


def test_links_follow_a_prefix_and_every_link_resolves(iran_db: Path) -> None:
    client = _client(lambda: open_store(iran_db, read_only=True), prefix="/web")
    html = client.get("/web/").text
    links = [h for h in _links(html) if h.startswith("/")]
    assert links and all(h.startswith("/web/") for h in links)
    assert '<link rel="stylesheet" href="/web/lightsout.css">' in html
    for link in sorted(set(links))[:12]:
        assert client.get(link).status_code == 200, link


def test_store_is_closed_after_each_request_or_given_back(iran_db: Path) -> None:
    opened: list[Store] = []
    closed: list[Store] = []

    class Tracking:
        def __init__(self) -> None:
            self.store = open_store(iran_db, read_only=True)
            opened.append(self.store)

        def __getattr__(self, name: str) -> object:
            return getattr(self.store, name)

        def close(self) -> None:
            closed.append(self.store)
            self.store.close()

    client = _client(lambda: Tracking())  # type: ignore[arg-type, return-value]
    assert client.get("/").status_code == 200 and client.get("/entity/country/QQ").status_code == 404
    assert len(opened) == 2 and closed == opened

    borrowed: list[str] = []
    pool = open_store(iran_db, read_only=True)

    @contextmanager
    def borrow() -> Iterator[Store]:
        borrowed.append("out")
        yield pool
        borrowed.append("back")

    try:
        assert _client(borrow).get("/entity/country/IR").status_code == 200
        assert borrowed == ["out", "back"]
        assert pool.entity("country/IR") is not None  # a borrowed store is not closed
    finally:
        pool.close()


def test_feed_is_served(iran: TestClient) -> None:
    response = iran.get("/feed.atom")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    entries = root.findall("{http://www.w3.org/2005/Atom}entry")
    assert len(entries) == 12
    link = entries[0].find("{http://www.w3.org/2005/Atom}link")
    assert link is not None and link.attrib["href"].startswith("http://testserver/event/ev-")


def test_open_end_in_historical_data_is_end_of_data_not_ongoing(iran: TestClient, iran_db: Path) -> None:
    """An open end needs live data to be "ongoing" (report.words.is_live): the bundled November 2019
    archive ends with Iran's shutdown open, which the event tables write "end of data"; no child is hit."""
    from lightsout.report.words import alerted_until
    from lightsout.web.router import _event_end, _is_ongoing

    store = open_store(iran_db, read_only=True)
    try:
        national = next(e for e in list_events(store) if e.scope == Scope.NATIONAL)
    finally:
        store.close()
    assert national.end is None
    html = iran.get("/entity/country/IR").text
    row = re.search(rf'<tr class="(\w+)">((?:(?!</tr>).)*?/event/{national.event_id}")', html, re.S)
    assert row is not None and row.group(1) == "ended"
    assert "<td>end of data</td>" in row.group(2) and "ongoing" not in row.group(2)
    assert 'class="hit"' not in html
    assert ">ongoing<" not in iran.get(f"/event/{national.event_id}").text
    # the same event read while its data are live is ongoing
    live_now = alerted_until(national) + timedelta(hours=1)
    assert _is_ongoing(national, live_now) and _event_end(national, live_now) == "ongoing"
    assert _event_end(national) == "end of data"
