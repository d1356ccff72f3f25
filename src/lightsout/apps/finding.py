"""What an analysis concludes, before it is stamped with the measurement's identity (see verdict.py)."""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass


class Status(enum.StrEnum):
    ACCESSIBLE = "accessible"  # the target worked from the probe's network
    BLOCKED = "blocked"  # it failed there where the control (or the service's known behaviour) says it works
    DOWN = "down"  # it failed for the control too: the site itself is broken or gone
    INCONCLUSIVE = "inconclusive"  # the measurement cannot tell (no control, probe bug, unsupported test)


class Method(enum.StrEnum):
    """How the blocking was done: the first step of the access that the network interfered with."""

    DNS = "dns"  # no answer, a bogon, an address of someone else, a known blockpage address
    TCP_IP = "tcp_ip"  # the connection to the server's address failed
    TLS = "tls"  # the TLS handshake failed (reset, timeout, forged certificate)
    HTTP_BLOCKPAGE = "http_blockpage"  # a known blockpage, or a redirect to one / to a private address
    HTTP_DIFF = "http_diff"  # a page unlike the control's (status, size, headers, title)
    HTTP_FAILURE = "http_failure"  # the HTTP exchange failed after connecting (reset, EOF, timeout)
    THROTTLING = "throttling"  # the response started but the body did not arrive in time

    def phrase(self) -> str:
        """How a sentence names it: "blocked ... by <phrase>"."""
        return _PHRASES[self]


_PHRASES = {
    Method.DNS: "DNS tampering",
    Method.TCP_IP: "TCP/IP blocking",
    Method.TLS: "TLS interference",
    Method.HTTP_BLOCKPAGE: "a blockpage",
    Method.HTTP_DIFF: "altered HTTP responses",
    Method.HTTP_FAILURE: "HTTP interference",
    Method.THROTTLING: "throttling",
}


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    method: Method | None
    reason: str
    fingerprint: str | None = None  # the OONI fingerprint that confirmed the blocking


def accessible(reason: str) -> Finding:
    return Finding(Status.ACCESSIBLE, None, reason)


def blocked(method: Method, reason: str, fingerprint: str | None = None) -> Finding:
    return Finding(Status.BLOCKED, method, reason, fingerprint)


def down(reason: str) -> Finding:
    return Finding(Status.DOWN, None, reason)


def inconclusive(reason: str) -> Finding:
    return Finding(Status.INCONCLUSIVE, None, reason)


def clean(value: str, limit: int) -> str:
    """Untrusted text made safe to show: control and format characters (escapes, bidi overrides)
    replaced, at most ``limit`` characters."""
    cleaned = "".join(
        "\N{REPLACEMENT CHARACTER}" if unicodedata.category(ch).startswith("C") else ch for ch in value
    )
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return cleaned


def quote(value: str | None, limit: int = 80) -> str:
    """Untrusted text (a URL, a page title, a header) quoted for a reason: cleaned and cut."""
    if value is None:
        return "(none)"
    return "'" + clean(value, limit).replace("'", "\N{RIGHT SINGLE QUOTATION MARK}") + "'"
