"""The RIS Live websocket, held by one reader thread (the ``websockets`` library's client).

The thread connects, sends the subscriptions, and queues every frame with its connection number,
its position on that connection and the time it arrived, so the connector never stops reading
while it parses or stores (RIS Live closes a client that falls behind: ``ris_error`` "Closing
connection after being behind by more than 262144000 bytes over 30 seconds"). A dropped
connection (closed, reset, a ``ris_error`` followed by a close, a dead peer found by the
websocket pings) is queued as an event and retried after a jittered exponential wait
(:class:`~lightsout.sources.connector.Backoff`), reset once a connection delivers a frame.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lightsout.sources.connector import Backoff, user_agent

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Frames queued at most (~50 MB of text): past it the reader stops reading, the socket's buffers
# fill and RIS Live itself ends the connection if the connector stays behind (a gap), instead of
# this process growing without bound.
MAX_QUEUED = 100_000


@dataclass(slots=True)  # not frozen: one per frame, and a frozen init costs 3x
class StreamEvent:
    kind: str  # "frame" | "connected" | "dropped"
    connection: int
    position: int = 0  # the frame's number on its connection (1-based)
    text: str | None = None
    received: float = 0.0  # time.time() when it arrived
    reason: str = ""


def subscriptions(collector: str, prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """``ris_subscribe`` frames: the collector's UPDATEs (only the prefixes of interest, and their
    more-specifics, when some are configured) and its peers' session states. Raw BGP bytes are not
    asked for (``includeRaw`` false): the parsed fields carry everything the tables need."""
    options = {"includeRaw": False, "acknowledge": False}
    update: dict[str, Any] = {"host": collector, "type": "UPDATE", "socketOptions": options}
    if prefixes:
        update["prefix"] = list(prefixes)
        update["moreSpecific"] = True
    state = {"host": collector, "type": "RIS_PEER_STATE", "socketOptions": options}
    return [{"type": "ris_subscribe", "data": update}, {"type": "ris_subscribe", "data": state}]


class StreamReader(threading.Thread):
    def __init__(
        self,
        url: str,
        subscribe: list[dict[str, Any]],
        *,
        base_s: float = 1.0,
        cap_s: float = 120.0,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        super().__init__(name=f"ris-live {url}", daemon=True)
        self.url = url
        self.subscribe = subscribe
        self.backoff = Backoff(base_s=base_s, cap_s=cap_s)
        self.events: queue.SimpleQueue[StreamEvent] = queue.SimpleQueue()
        self.halt = threading.Event()
        self.connection = 0
        self.connected = False
        self.down_since: float | None = time.monotonic()
        self.last_drop: str | None = None
        self.max_queued = max_queued
        self.waited_s = 0.0  # time the reader stopped reading because the connector was behind

    def next(self, timeout: float) -> StreamEvent | None:
        try:
            return self.events.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def drain(self, limit: int) -> list[StreamEvent]:
        """Up to ``limit`` events already queued, without waiting."""
        out: list[StreamEvent] = []
        get = self.events.get_nowait
        try:
            while len(out) < limit:
                out.append(get())
        except queue.Empty:
            pass
        return out

    def _wait_for_room(self) -> None:
        while self.events.qsize() > self.max_queued and not self.halt.is_set():
            self.waited_s += 0.05
            time.sleep(0.05)

    def down_for(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)

    def run(self) -> None:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        host = urlsplit(self.url).hostname or ""
        while not self.halt.is_set():
            self.connection += 1
            number, delivered = self.connection, False
            try:
                with connect(
                    self.url,
                    open_timeout=10,
                    close_timeout=2,
                    max_size=16 * 1024 * 1024,
                    user_agent_header=user_agent(),
                    proxy=None if host in LOOPBACK else True,
                ) as ws:
                    for frame in self.subscribe:
                        ws.send(json.dumps(frame))
                    self.connected, self.down_since = True, None
                    put = self.events.put
                    put(StreamEvent("connected", number, received=time.time()))
                    position = 0
                    while not self.halt.is_set():
                        try:
                            text = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        position += 1
                        if not position & 1023:
                            self._wait_for_room()
                        put(StreamEvent("frame", number, position, text if isinstance(text, str) else
                                        text.decode("utf-8", "replace"), time.time()))  # fmt: skip
                        if not delivered:
                            delivered = True
                            self.backoff.reset()
                    return
            except (OSError, TimeoutError, WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if self.connected:
                self.connected, self.down_since = False, time.monotonic()
            self.last_drop = f"connection {number}: {reason}"
            self.events.put(StreamEvent("dropped", number, received=time.time(), reason=reason))
            self.halt.wait(self.backoff.next_delay())
