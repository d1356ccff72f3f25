"""ICMP echo over IPv4: one socket, non-blocking, many probes in flight.

Two kinds of socket, chosen by :func:`open_socket`:

* **raw** (``SOCK_RAW``/``IPPROTO_ICMP``, needs root or CAP_NET_RAW): we build the echo request
  (identifier, sequence, checksum) and read every ICMP packet the host receives, keeping only echo
  replies that carry our identifier and our round's token in the payload;
* **datagram** (``SOCK_DGRAM``/``IPPROTO_ICMP``, "ping sockets"): for an unprivileged user whose
  group is inside ``net.ipv4.ping_group_range``; the kernel sets the identifier and the checksum
  and hands us only the replies to this socket.

Why our own socket rather than a library: a prober keeps hundreds of probes in flight and needs
each reply matched back to its /24 block as it arrives. icmplib's ``multiping`` sends and waits
per batch through asyncio, and scapy builds a Python object per packet; ``bench/bench_probing.py``
measures the three against the lab (figures in docs/probing.md). The code here is small: an echo
request is 8 bytes of header plus a fixed payload, and the checksum is RFC 1071's.

Safety: the socket only ever sends to addresses the caller passes, and the caller
(:mod:`lightsout.sources.probing.prober`) only passes hitlist addresses that passed the
do-not-probe list (:mod:`lightsout.sources.probing.safety`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

ECHO_REQUEST = 8
ECHO_REPLY = 0
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
MAGIC = b"LSO1"  # first bytes of our payload: a reply without them is not ours


class IcmpUnavailable(Exception):
    """Neither a raw nor a datagram ICMP socket can be opened here (says why)."""


def ping_group_allows(gid: int | None = None) -> bool:
    """Whether ``net.ipv4.ping_group_range`` lets this process's group open ping sockets."""
    try:
        text = open("/proc/sys/net/ipv4/ping_group_range").read().split()  # noqa: SIM115
    except OSError:
        return False
    low, high = int(text[0]), int(text[1])
    groups = {os.getgid() if gid is None else gid, *os.getgroups()}
    return any(low <= g <= high for g in groups)


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def payload(token: int, opt_out_url: str) -> bytes:
    """What every probe carries: our magic, the round's token, and who we are and how to opt out."""
    text = f" Lightsout internet outage research (Trinocular-style). Opt out: {opt_out_url}"
    return MAGIC + struct.pack("!I", token & 0xFFFFFFFF) + text.encode("ascii", "replace")[:200]


@dataclass(frozen=True, slots=True)
class Reply:
    address: int  # IPv4 address as an integer
    token: int


class IcmpSocket:
    """An ICMP echo socket. ``send`` never blocks for long; ``replies`` drains what has arrived."""

    def __init__(self, sock: socket.socket, raw: bool) -> None:
        self.sock = sock
        self.raw = raw
        self.sock.setblocking(False)
        self.identifier = (os.getpid() ^ id(self)) & 0xFFFF
        self._seq = 0
        self._payload = b""
        self._payload_sum = 0
        self.send_errors = 0
        # Room for a burst of replies between two reads: beyond net.core.rmem_max when allowed (root).
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)

    @property
    def kind(self) -> str:
        return "raw" if self.raw else "datagram"

    def fileno(self) -> int:
        return self.sock.fileno()

    def set_payload(self, data: bytes) -> None:
        if len(data) % 2:
            data += b" "
        self._payload = data
        self._payload_sum = sum(struct.unpack(f"!{len(data) // 2}H", data))

    def send(self, address: int) -> bool:
        """Send one echo request to ``address``; False when the kernel refused it (buffer full,
        no route): the caller counts that probe as unanswered."""
        self._seq = (self._seq + 1) & 0xFFFF
        if self.raw:
            total = self._payload_sum + (ECHO_REQUEST << 8) + self.identifier + self._seq
            while total >> 16:
                total = (total & 0xFFFF) + (total >> 16)
            header = struct.pack("!BBHHH", ECHO_REQUEST, 0, ~total & 0xFFFF, self.identifier, self._seq)
        else:
            header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, 0, self._seq)
        try:
            self.sock.sendto(header + self._payload, (socket.inet_ntoa(address.to_bytes(4, "big")), 0))
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ENOBUFS, errno.ENETUNREACH, errno.EHOSTUNREACH,
                                 errno.EPERM, errno.EACCES, errno.ENETDOWN):  # fmt: skip
                raise
            self.send_errors += 1
            return False
        return True

    def replies(self, limit: int = 4096) -> Iterator[Reply]:
        """Echo replies that arrived, up to ``limit``; stops when none is waiting."""
        recv = self.sock.recvfrom
        for _ in range(limit):
            try:
                data, peer = recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            if self.raw:
                offset = (data[0] & 0x0F) * 4
                if len(data) < offset + 16 or data[offset] != ECHO_REPLY:
                    continue
                if int.from_bytes(data[offset + 4 : offset + 6], "big") != self.identifier:
                    continue
                body = data[offset + 8 : offset + 16]
                address = int.from_bytes(data[12:16], "big")
            else:
                if len(data) < 16 or data[0] != ECHO_REPLY:
                    continue
                body = data[8:16]
                address = int.from_bytes(socket.inet_aton(peer[0]), "big")
            if body[:4] != MAGIC:
                continue
            yield Reply(address, int.from_bytes(body[4:8], "big"))

    def close(self) -> None:
        self.sock.close()


def open_socket(prefer: str = "auto") -> IcmpSocket:
    """A raw socket when allowed (root), else a datagram ping socket; ``prefer`` forces one."""
    errors: list[str] = []
    kinds = {"auto": ("raw", "datagram"), "raw": ("raw",), "datagram": ("datagram",)}[prefer]
    for kind in kinds:
        try:
            if kind == "raw":
                return IcmpSocket(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True)
            return IcmpSocket(socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), False)
        except PermissionError as exc:
            hint = "" if kind == "raw" else " (is this group inside net.ipv4.ping_group_range?)"
            errors.append(f"{kind}: {exc.strerror}{hint}")
    raise IcmpUnavailable("cannot open an ICMP socket: " + "; ".join(errors))
