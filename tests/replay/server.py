"""A loopback HTTP server that replays recorded API answers, with injectable faults.

Every live connector is tested against it (never against the real service). Routes are functions
``Request -> Reply | None``; the first route that answers wins, else 404. Faults are queued and hit
the next matching requests:

* ``Fault.status(500)``          - an HTTP error with a small JSON body;
* ``Fault.rate_limit("7")``      - HTTP 429 with ``Retry-After: 7`` (seconds or an HTTP date);
* ``Fault.slow(delay_s)``        - the body dripped in 8 pieces, ``delay_s`` apart;
* ``Fault.truncated()``          - the full Content-Length announced, half the body sent, then closed;
* ``server.clock_skew_s = 3600`` - every ``Date`` header (and a date-form Retry-After) runs ahead.

The server records every request (``server.requests``), so a test can assert that each item was
fetched exactly once. It is the standard library's threading HTTP server: a test fixture, not a
protocol implementation; clients under test use httpx.

Run it by hand (as ``scripts/live-demo.sh`` does)::

    (cd tests && python -m replay --port 8765)     # OONI API replay over ../shared/data/api-samples/ooni
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    at: float  # time.time() when received
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(value).encode())


Route = Callable[[Request], Reply | None]


@dataclass(slots=True)
class Fault:
    kind: str  # "status" | "rate_limit" | "slow" | "truncated"
    path: str = ""  # hits requests whose path starts with this
    count: int = 1  # how many requests it hits; -1: every one until cleared
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 0.0

    @classmethod
    def status_code(cls, status: int = 500, path: str = "", count: int = 1) -> Fault:
        return cls("status", path, count, status=status)

    @classmethod
    def rate_limit(cls, retry_after: str | None = "1", path: str = "", count: int = 1) -> Fault:
        return cls("rate_limit", path, count, status=429, retry_after=retry_after)

    @classmethod
    def slow(cls, delay_s: float, path: str = "", count: int = 1) -> Fault:
        return cls("slow", path, count, delay_s=delay_s)

    @classmethod
    def truncated(cls, path: str = "", count: int = 1) -> Fault:
        return cls("truncated", path, count)


@dataclass
class ReplayServer:
    routes: list[Route]
    host: str = "127.0.0.1"
    port: int = 0
    clock_skew_s: float = 0.0
    requests: list[Request] = field(default_factory=list)
    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> ReplayServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                return server._date()  # send_response's Date header, skewed

        self._httpd = _QuietServer((self.host, self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def hits(self, path: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path)]

    # -- serving ---------------------------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path) and fault.count != 0:
                    if fault.count > 0:
                        fault.count -= 1
                    return fault
        return None

    def _date(self, offset_s: float = 0.0) -> str:
        return email.utils.formatdate(time.time() + self.clock_skew_s + offset_s, usegmt=True)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        request_headers = {k.lower(): v for k, v in handler.headers.items()}
        request = Request("GET", parts.path, urllib.parse.parse_qs(parts.query), time.time(), request_headers)
        with self._lock:
            self.requests.append(request)
        fault = self._take_fault(parts.path)
        if fault is not None and fault.kind in ("status", "rate_limit"):
            headers: tuple[tuple[str, str], ...] = ()
            if fault.retry_after is not None:
                headers = (("Retry-After", fault.retry_after),)
            reply = Reply(fault.status, json.dumps({"detail": "injected fault"}).encode(), headers=headers)
        else:
            reply = next((r for r in (route(request) for route in self.routes) if r is not None), None)
            if reply is None:
                reply = Reply(404, json.dumps({"detail": f"no recording for {parts.path}"}).encode())
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            handler.send_header(name, value)
        handler.end_headers()
        body = reply.body
        try:
            if fault is not None and fault.kind == "truncated":
                handler.wfile.write(body[: len(body) // 2])
                handler.wfile.flush()
                handler.close_connection = True
                return
            if fault is not None and fault.kind == "slow":
                step = max(1, len(body) // 8)
                for i in range(0, len(body), step):
                    handler.wfile.write(body[i : i + step])
                    handler.wfile.flush()
                    time.sleep(fault.delay_s)
                return
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a timeout, a killed service) is part of the tests, not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass
