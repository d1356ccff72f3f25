"""The web layer's privacy and cost (issue 13): feed links from a configured base URL, never the
Host header; no access log unless asked, and then truncated addresses and no query strings;
dashboard and feed pages cached per store generation, never stale after a write."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from lightsout.api.app import create_app
from lightsout.api.pagecache import PageCache, truncate_address
from lightsout.detect.run import detect_batch
from lightsout.ingest import ingest_file
from lightsout.store import open_store

MONASH = "monash-ip-observatory"
TOKEN = "privacy-test-token-0123456789"


@pytest.fixture(scope="module")
def ven_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("ven") / "ven.duckdb"
    store = open_store(db)
    try:
        ingest_file(store, shared_data / MONASH / "ven-2019-07-22_gif.csv")
        detect_batch(store)
    finally:
        store.close()
    return db


def _links(feed: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', feed))


def test_feed_links_ignore_the_host_header(ven_db: Path) -> None:
    app = create_app(ven_db, None, base_url="https://observatory.example/dash/")
    with TestClient(app) as client:
        feed = client.get("/feed.atom", headers={"Host": "evil.example"}).text
    links = _links(feed)
    assert links and all(link.startswith("https://observatory.example/dash") for link in links), links
    assert "evil.example" not in feed


def test_feed_links_without_a_base_url_name_the_server_not_the_host_header(ven_db: Path) -> None:
    with TestClient(create_app(ven_db, None, page_cache_s=0)) as client:
        feed = client.get("/feed.atom", headers={"Host": "evil.example:666"}).text
    assert "evil.example" not in feed
    assert all(link.startswith("http://testserver") for link in _links(feed)), _links(feed)


def test_no_access_log_by_default(ven_db: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with TestClient(create_app(ven_db, None), client=("203.0.113.77", 4000)) as client:
        client.get("/api/v1/entities?country=VE")
    assert not [r for r in caplog.records if r.name == "lightsout.access"]
    assert "203.0.113" not in caplog.text


def test_access_log_truncates_addresses_and_drops_query_strings(
    ven_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lightsout.access")
    with TestClient(create_app(ven_db, None, log_access=True), client=("203.0.113.77", 4000)) as client:
        client.get("/api/v1/entities?country=VE&secret=reader-query")
    [line] = [r.getMessage() for r in caplog.records if r.name == "lightsout.access"]
    # (an unknown parameter is a 400: still one line, still without it)
    assert re.fullmatch(r"203\.0\.113\.0/24 GET /api/v1/entities 400 [\d.]+ms", line), line
    assert "203.0.113.77" not in caplog.text and "reader-query" not in caplog.text
    assert truncate_address("2001:db8:1234:5678::1") == "2001:db8:1234::/48"


def test_pages_follow_writes(shared_data: Path, tmp_path: Path) -> None:
    """A cached page is dropped by the next write: the feed shows the new event at once."""
    with TestClient(create_app(tmp_path / "w.duckdb", TOKEN)) as client:
        before = client.get("/feed.atom").text
        assert client.get("/feed.atom").text == before
        body = (shared_data / MONASH / "ven-2019-07-22_gif.csv").read_bytes()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        done = client.post("/api/v1/ingest?filename=ven.csv&detect=true", content=body, headers=auth)
        assert done.status_code == 200, done.text
        after = client.get("/feed.atom").text
    assert after != before and "Venezuela" in after


class _Counting:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        status = 200 if scope["path"] != "/missing" else 404
        headers = [(b"x-n", b"%d" % self.calls)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"page %d" % self.calls, "more_body": False})


def test_page_cache_keeps_pages_per_generation_and_ttl() -> None:
    inner = _Counting()
    state = {"generation": 0, "now": 0.0}
    cache = PageCache(inner, generation=lambda: state["generation"], ttl_s=30, clock=lambda: state["now"])

    async def get(path: str, method: str = "GET") -> bytes:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": []}
        await cache(scope, receive, send)
        return bytes(sent[-1]["body"])

    import asyncio

    run = asyncio.run
    assert run(get("/")) == b"page 1" and run(get("/")) == b"page 1"  # hit
    state["generation"] = 1  # a write
    assert run(get("/")) == b"page 2"
    state["now"] = 31.0  # older than the TTL
    assert run(get("/")) == b"page 3"
    assert run(get("/api/v1/events")) == b"page 4" and run(get("/api/v1/events")) == b"page 5"  # API: never
    assert run(get("/missing")) == b"page 6" and run(get("/missing")) == b"page 7"  # errors: never
    assert run(get("/", method="HEAD")) == b"page 8"
    assert (cache.hits, inner.calls) == (1, 8)



def test_readers_arriving_together_cost_one_rendering() -> None:
    import asyncio

    class Slow:
        calls = 0

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            Slow.calls += 1
            await asyncio.sleep(0.05)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"page", "more_body": False})

    cache = PageCache(Slow(), generation=lambda: 0)

    async def get() -> bytes:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await cache({"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []},
                    receive, send)
        return bytes(sent[-1]["body"])

    async def twenty() -> list[bytes]:
        return await asyncio.gather(*(get() for _ in range(20)))

    assert asyncio.run(twenty()) == [b"page"] * 20
    assert Slow.calls == 1 and cache.hits == 19
