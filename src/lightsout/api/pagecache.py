"""Two ASGI middlewares of the web layer: a cache of dashboard and feed pages per store
generation, and a privacy-preserving access log.

**Page cache.** A dashboard page or the feed costs about ten API calls (every event fused, a
chart drawn), and under twenty readers their p99 reached seconds. Their content changes only
when the store does: every write through the server's :class:`~lightsout.api.access.StoreAccess`
bumps its generation. A successful GET answer of a page (anything outside ``/api/`` and the
OpenAPI schema) is kept with the generation read *before* it was computed, so a write landing
meanwhile makes it stale at once; it is also kept at most ``ttl_s`` seconds, for what changes
without a write through this process (another process writing a store this one reads, the
freshness banner's clock). At most ``max_entries`` answers are kept (least recently used go).
Requests for a page that is being computed wait for that computation instead of repeating it
(twenty readers arriving together cost one rendering, not twenty).

**Access log.** Off unless asked for (``lightsout serve --access-log``): readers' addresses and
query strings are personal data an observatory does not need. When on, one line per request:
method, path *without* the query string, status, duration, and the client's address truncated to
its /24 (IPv4) or /48 (IPv6).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("lightsout.access")

_NOT_CACHED_PREFIXES = ("/api/", "/openapi.json")


@dataclass(frozen=True, slots=True)
class _Page:
    generation: int
    stored_at: float
    start: Message
    body: bytes


class PageCache:
    """See the module docstring. ``generation()`` names the store's state (bumped by every write)."""

    def __init__(
        self,
        app: ASGIApp,
        generation: Callable[[], int],
        ttl_s: float = 30.0,
        max_entries: int = 512,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.generation = generation
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._pages: OrderedDict[tuple[str, bytes], _Page] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple[str, bytes], asyncio.Event] = {}  # in flight, on the event loop
        self.hits = 0
        self.misses = 0

    def _cacheable(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        path: str = scope["path"]
        return not path.startswith(_NOT_CACHED_PREFIXES)

    def _lookup(self, key: tuple[str, bytes], generation: int) -> _Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if page.generation != generation or self.clock() - page.stored_at > self.ttl_s:
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return page

    def _store(self, key: tuple[str, bytes], page: _Page) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_entries:
                self._pages.popitem(last=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._cacheable(scope):
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        generation = self.generation()  # before computing: a write meanwhile makes the answer stale
        page = self._lookup(key, generation)
        computing = self._computing.get(key)
        if page is None and computing is not None:  # another request is rendering it: wait for it
            await computing.wait()
            page = self._lookup(key, generation)
        if page is not None:
            self.hits += 1
            await send({**page.start, "headers": list(page.start.get("headers", []))})
            await send({"type": "http.response.body", "body": page.body, "more_body": False})
            return
        self.misses += 1
        done = asyncio.Event()
        if key not in self._computing:
            self._computing[key] = done
        try:
            await self._compute(key, generation, scope, receive, send)
        finally:
            if self._computing.get(key) is done:
                del self._computing[key]
            done.set()

    async def _compute(
        self, key: tuple[str, bytes], generation: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        cacheable = True

        async def capture(message: Message) -> None:
            nonlocal start, cacheable
            if message["type"] == "http.response.start":
                start = message
                headers = dict(message.get("headers", []))
                cacheable = message["status"] == 200 and b"set-cookie" not in headers
            elif message["type"] == "http.response.body" and cacheable:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and start is not None:
                    self._store(key, _Page(generation, self.clock(), start, b"".join(chunks)))
            await send(message)

        await self.app(scope, receive, capture)


def truncate_address(address: str) -> str:
    """The client address as logged: its /24 (IPv4) or /48 (IPv6) network; unparsable -> '-'."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "-"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class AccessLog:
    """One log line per request, without the query string and with the client's address truncated."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            client = scope.get("client")
            access_log.info(
                "%s %s %s %d %.1fms",
                truncate_address(client[0]) if client else "-",
                scope["method"],
                scope["path"][:200],
                status,
                1000 * (time.monotonic() - started),
            )
