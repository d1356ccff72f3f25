"""RIPE RIS Live replayed on a loopback websocket (the ``websockets`` library's server), with faults.

The playlist is the recorded firehose (``../shared/data/api-samples/ris-live/
firehose-1000-msgs-2019-05-23.jsonl``: 1,000 real frames of 2019-05-23 14:00:47 UTC) played
``passes`` times; pass ``k`` runs ``k * shift_s`` seconds later (timestamps moved, and ``~k``
appended to each ``id``, as the collector would number new messages). ``extra`` frames (e.g. the
2025-format sample) are appended to every pass. The server honours the subscription's ``host``
and ``type`` as RIS Live does. One playback position is shared by all connections: a new
connection goes on where the last one stopped (the live stream went on meanwhile), ``rewind``
frames earlier (the server sends some again: duplicates) or ``skip`` frames later (lost).

Faults, each at a position of the playlist (frames sent so far on all connections):
``drop_at`` (the TCP connection closed without a close frame), ``error_at`` (a slow-consumer
``ris_error`` frame, then the close), ``malformed`` (position -> a frame sent in place, before
the real one), ``clock_skew_s`` added to every timestamp, ``hold`` (no frame is sent while set; ``pause_at``
sets it on reaching a position).

Run by hand: ``(cd tests && python -m replay.ris_live --passes 12)`` prints ``ws://127.0.0.1:PORT``
(``scripts/live-demo.sh`` runs it on port 8766, with ``--rib`` writing the RIB dump to start from).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "api-samples" / "ris-live"
FIREHOSE = DATA / "firehose-1000-msgs-2019-05-23.jsonl"
SLOW_CONSUMER = DATA / "ws-ris_error-slow-consumer-disconnect.json"


@dataclass(frozen=True, slots=True)
class Frame:
    ts: float
    host: str
    mtype: str
    template: str  # the frame with "__TS__" and "__ID__" in place of its timestamp and id
    mid: str
    decimals: int

    def text(self, shift: float, suffix: str) -> str:
        return self.template.replace('"__TS__"', f"{self.ts + shift:.{self.decimals}f}").replace(
            "__ID__", self.mid + suffix
        )


def load_frames(paths: list[Path]) -> list[Frame]:
    frames = []
    for path in paths:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            frame = json.loads(line)
            data = frame["data"]
            raw_ts = line.split('"timestamp":', 1)[1].split(",", 1)[0]
            decimals = len(raw_ts.partition(".")[2])
            ts, mid = float(data["timestamp"]), str(data.get("id", ""))
            data["timestamp"], data["id"] = "__TS__", "__ID__"
            host = str(data.get("host", "")).split(".")[0]
            template = json.dumps(frame, separators=(",", ":"))
            frames.append(Frame(ts, host, str(data.get("type", "")), template, mid, decimals))
    return frames


@dataclass
class RisLiveReplay:
    passes: int = 1
    shift_s: float = 300.0
    extra: list[Path] = field(default_factory=list)
    rewind: int = 0
    skip: int = 0
    drop_at: set[int] = field(default_factory=set)
    error_at: set[int] = field(default_factory=set)
    malformed: dict[int, str] = field(default_factory=dict)
    clock_skew_s: float = 0.0
    pace_s: float = 0.0  # pause between frames
    pause_at: set[int] = field(default_factory=set)  # hold is set on reaching these positions
    hold: threading.Event = field(default_factory=threading.Event)
    position: int = 0  # frames of the playlist sent so far
    connections: int = 0
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)  # every route frame sent, in order (with repeats)
    record_sent: bool = True
    all_hosts: bool = False  # every collector's frames whatever the subscription (the whole firehose)
    port: int = 0

    def __post_init__(self) -> None:
        self.frames = load_frames([FIREHOSE, *self.extra])
        self.lock = threading.Lock()
        self._server: Any = None

    def __len__(self) -> int:
        return self.passes * len(self.frames)

    def playlist(self, start: int) -> Iterator[tuple[int, Frame, float, str]]:
        n = len(self.frames)
        for index in range(start, self.passes * n):
            k, i = divmod(index, n)
            yield index, self.frames[i], k * self.shift_s + self.clock_skew_s, f"~{k}" if k else ""

    def start(self) -> RisLiveReplay:
        from websockets.sync.server import serve

        self._server = serve(self._handle, "127.0.0.1", self.port, compression=None, max_size=None)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    def __enter__(self) -> RisLiveReplay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/v1/ws/?client=lightsout-test"

    def _handle(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        wanted: list[dict[str, Any]] = []
        with self.lock:
            self.connections += 1
            number = self.connections
            first = number == 1
        try:
            while len(wanted) < 2:  # the connector subscribes twice (UPDATE, RIS_PEER_STATE)
                frame = json.loads(ws.recv(timeout=5))
                if frame.get("type") == "ris_subscribe":
                    wanted.append(frame["data"])
            self.subscriptions += wanted
            hosts = {w.get("host") for w in wanted}
            types = {w.get("type") for w in wanted}
            with self.lock:
                start = self.position if first else max(0, self.position - self.rewind + self.skip)
            for index, frame, shift, suffix in self.playlist(start):
                if index in self.pause_at:
                    self.pause_at.discard(index)
                    self.hold.set()
                while self.hold.is_set():
                    time.sleep(0.01)
                if self.connections != number:
                    return  # a newer connection took over the stream
                with self.lock:
                    self.position = index + 1
                if index in self.malformed:
                    ws.send(self.malformed.pop(index))
                if index in self.error_at:
                    self.error_at.discard(index)
                    self.position = index
                    ws.send(SLOW_CONSUMER.read_text().strip())
                    ws.close_socket()
                    return
                if index in self.drop_at:
                    self.drop_at.discard(index)
                    self.position = index
                    ws.close_socket()
                    return
                if self.all_hosts:
                    pass
                elif (None not in hosts and frame.host not in hosts) or frame.mtype not in types:
                    continue
                ws.send(frame.text(shift, suffix))
                if self.record_sent:
                    self.sent_ids.append(frame.mid + suffix)
                if self.pace_s:
                    time.sleep(self.pace_s)
            while True:  # the end of the recording: an idle live stream
                ws.recv(timeout=None)
        except (ConnectionClosed, OSError, TimeoutError):
            return


# -- the routing state the recording acts on, and an independent count of its result -------------

DOC_AS_UNKNOWN = 64496  # RFC 5398 documentation AS: "origin not known before the recording"
DOC_AS_REPLACED = 64497  # RFC 5398: the origin the recording's announcements replace


def rrc00_rib_routes(frames: list[Frame] | None = None) -> dict[str, dict[str, tuple[int, ...]]]:
    """DERIVED starting tables for rrc00, so that the recording acts on them: every prefix a peer
    withdraws in the recording is in that peer's table (origin: the one the recording announces for
    it, else AS64496), and every prefix announced in the recording is in the busiest peer's table
    with origin AS64497 (the announcements replace it). Peers: the recording's rrc00 peers."""
    frames = frames or load_frames([FIREHOSE])
    origin: dict[str, tuple[int, ...]] = {}
    routes: dict[str, dict[str, tuple[int, ...]]] = {}
    busiest: dict[str, int] = {}
    for frame in frames:
        data = json.loads(frame.template)["data"]
        if frame.host != "rrc00" or frame.mtype != "UPDATE":
            continue
        busiest[data["peer"]] = busiest.get(data["peer"], 0) + 1
        for group in data.get("announcements") or ():
            for text in group["prefixes"]:
                origin[text] = _origins(data["path"])
    for frame in frames:
        data = json.loads(frame.template)["data"]
        if frame.host == "rrc00" and frame.mtype == "UPDATE":
            table = routes.setdefault(data["peer"], {})
            for text in data.get("withdrawals") or ():
                table[text] = origin.get(text, (DOC_AS_UNKNOWN,))
    top = max(busiest, key=lambda p: busiest[p])
    for text in origin:
        routes[top].setdefault(text, (DOC_AS_REPLACED,))
    return routes


def _origins(path: list[Any]) -> tuple[int, ...]:
    if not path:
        return ()
    last = path[-1]
    return tuple(sorted(set(last))) if isinstance(last, list) else (int(last),)


def write_rib(path: Path, ts: int, routes: dict[str, dict[str, tuple[int, ...]]]) -> Path:
    """A TABLE_DUMP_V2 RIB dump (RFC 6396 4.3) of ``routes`` (peer -> prefix -> origin set), gzip."""
    import gzip
    import ipaddress
    import struct

    peers = sorted(routes)
    index = b"\xc0\x00\x02\x01" + struct.pack(">HH", 0, len(peers))
    for n, peer in enumerate(peers):
        address = ipaddress.ip_address(peer)
        index += bytes((0x02 | (1 if address.version == 6 else 0),)) + address.packed[:4].rjust(4, b"\0")
        index += address.packed + struct.pack(">I", 65000 + n)
    by_prefix: dict[Any, list[tuple[int, tuple[int, ...]]]] = {}
    for n, peer in enumerate(peers):
        for text, origins in routes[peer].items():
            by_prefix.setdefault(ipaddress.ip_network(text, strict=False), []).append((n, origins))
    records = [struct.pack(">IHHI", ts, 13, 1, len(index)) + index]
    for seq, (net, entries) in enumerate(sorted(by_prefix.items(), key=lambda kv: (kv[0].version, kv[0]))):
        plen = net.prefixlen
        body = struct.pack(">IB", seq, plen) + net.network_address.packed[: (plen + 7) // 8]
        body += struct.pack(">H", len(entries))
        for n, origins in entries:
            segments = struct.pack(">BB", 2, 1) + struct.pack(">I", 65000 + n)
            if len(origins) == 1:
                segments = struct.pack(">BBII", 2, 2, 65000 + n, origins[0])
            elif origins:
                members = b"".join(struct.pack(">I", a) for a in origins)
                segments += struct.pack(">BB", 1, len(origins)) + members
            attrs = b"\x40\x01\x01\x00" + struct.pack(">BBB", 0x40, 2, len(segments)) + segments
            body += struct.pack(">HIH", n, ts, len(attrs)) + attrs
        records.append(struct.pack(">IHHI", ts, 13, 2 if net.version == 4 else 4, len(body)) + body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(records)))
    return path


def write_updates(path: Path, shift: float, peer_asn: int = 12654) -> Path:
    """An MRT update file (BGP4MP_MESSAGE_AS4, RFC 6396 4.4.3; gzip) of the recording's rrc00 UPDATEs
    as ``raw`` gives them (the BGP messages themselves), ``shift`` seconds later: what the RIS
    archive holds for the same minutes."""
    import gzip
    import ipaddress
    import struct

    out = []
    for line in FIREHOSE.read_text().splitlines():
        data = json.loads(line)["data"]
        if data["host"] != "rrc00" or data["type"] != "UPDATE":
            continue
        peer = ipaddress.ip_address(data["peer"])
        body = struct.pack(">IIHH", int(data["peer_asn"]), peer_asn, 0, 1 if peer.version == 4 else 2)
        body += peer.packed + bytes(len(peer.packed)) + bytes.fromhex(data["raw"])
        out.append(struct.pack(">IHHI", int(data["timestamp"] + shift), 16, 4, len(body)) + body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(out)))
    return path


def expected_counts(
    routes: dict[str, dict[str, tuple[int, ...]]], messages: list[dict[str, Any]]
) -> dict[int, int]:
    """Visible prefixes per origin AS after ``messages`` (RIS Live ``data`` objects, in order, each
    once) on ``routes``, counted independently of Lightsout's tables: per address family, a peer is
    full-feed when its largest table of that family holds >= 50 % of the largest one of that
    family; a prefix counts for every AS that a full feed of its family names as origin; prefixes
    shorter than /8 (IPv4) or /12 (IPv6) count for none."""
    import ipaddress

    def norm(text: str) -> Any:
        return ipaddress.ip_network(text, strict=False)

    tables = {peer: {norm(p): o for p, o in t.items()} for peer, t in routes.items()}
    peaks: dict[tuple[str, int], int] = {}

    def note(peer: str) -> None:
        for version in (4, 6):
            held = sum(1 for net in tables[peer] if net.version == version)
            peaks[peer, version] = max(peaks.get((peer, version), 0), held)

    for peer in tables:
        note(peer)
    for data in messages:
        if data.get("type") == "RIS_PEER_STATE" and data.get("state") == "down":
            tables[data["peer"]] = {}
            continue
        table = tables.setdefault(data["peer"], {})
        for text in data.get("withdrawals") or ():
            table.pop(norm(text), None)
        for group in data.get("announcements") or ():
            for text in group["prefixes"]:
                table[norm(text)] = _origins(data["path"])
        note(data["peer"])
    largest = {v: max(n for (_, w), n in peaks.items() if w == v) for v in (4, 6)}
    full = {(p, v) for (p, v), n in peaks.items() if n and n >= 0.5 * largest[v]}
    pairs = {
        (net, asn)
        for peer, table in tables.items()
        for net, origins in table.items()
        if (peer, net.version) in full and net.prefixlen >= (8 if net.version == 4 else 12)
        for asn in origins
    }
    counts: dict[int, int] = {}
    for _, asn in pairs:
        counts[asn] = counts.get(asn, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=12)
    parser.add_argument("--shift", type=float, default=300.0, help="seconds between passes")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between frames")
    parser.add_argument("--all-hosts", action="store_true", help="every collector's frames (the firehose)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rib", type=Path, help="write the DERIVED rrc00 RIB dump of 14:00 there first")
    args = parser.parse_args()
    if args.rib is not None:
        write_rib(args.rib, 1558620000, rrc00_rib_routes())
    replay = RisLiveReplay(passes=args.passes, shift_s=args.shift, pace_s=args.pace, record_sent=False,
                           all_hosts=args.all_hosts, port=args.port)  # fmt: skip
    replay.start()
    print(replay.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
