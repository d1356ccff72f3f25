"""The operations a test is made of - DNS lookup, TCP connect, TLS handshake, HTTP exchange - each
done once and kept as a typed record, with the failure named as OONI names it (ooni/spec
``data-formats/df-007-errors.md``): ``dns_nxdomain_error``, ``connection_refused``,
``connection_reset``, ``generic_timeout_error``, ``ssl_unknown_authority``...

Nothing here decides anything about blocking, and nothing looks up the probe's own address.
The local address of every connection is noted in :attr:`Trace.local_addresses` only so that the
archival step can scrub it from what the servers sent back.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import itertools
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from lightsout.probe.config import Endpoint

_RDTYPES = {"A": dns.rdatatype.A, "AAAA": dns.rdatatype.AAAA}
_DNS_RCODE_FAILURES = {
    dns.rcode.NXDOMAIN: "dns_nxdomain_error",
    dns.rcode.SERVFAIL: "dns_server_failure",
    dns.rcode.REFUSED: "dns_refused_error",
    dns.rcode.FORMERR: "dns_format_error",
}
_ERRNO_FAILURES = {
    errno.ECONNREFUSED: "connection_refused",
    errno.ECONNRESET: "connection_reset",
    errno.ECONNABORTED: "connection_aborted",
    errno.EHOSTUNREACH: "host_unreachable",
    errno.ENETUNREACH: "network_unreachable",
    errno.ETIMEDOUT: "generic_timeout_error",
    errno.EPIPE: "broken_pipe",
    errno.EADDRNOTAVAIL: "address_not_available",
}
# OpenSSL verify codes (X509_V_ERR_*) that say who issued the certificate is unknown.
_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21}
_HOSTNAME_MISMATCH = 62


class Trace:
    """The clock, transaction ids and local addresses of one measurement (shared by its threads)."""

    def __init__(self) -> None:
        self._origin = time.monotonic()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.local_addresses: set[str] = set()

    def now(self) -> float:
        """Seconds since the measurement started."""
        return round(time.monotonic() - self._origin, 6)

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def note_local(self, sock: socket.socket) -> None:
        try:
            address = sock.getsockname()[0]
        except OSError:
            return
        if isinstance(address, str):
            with self._lock:
                self.local_addresses.add(address.split("%", 1)[0])


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    answer_type: str  # "A", "AAAA", "CNAME"
    value: str  # an address, or a name for CNAME
    ttl: int | None


@dataclass(frozen=True, slots=True)
class DnsLookup:
    hostname: str
    query_type: str
    resolver: Endpoint
    answers: tuple[DnsAnswer, ...]
    failure: str | None
    t0: float
    t: float
    transaction_id: int
    tags: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a.value for a in self.answers if a.answer_type in ("A", "AAAA"))


@dataclass(frozen=True, slots=True)
class TcpConnect:
    ip: str
    port: int
    failure: str | None
    t0: float
    t: float
    transaction_id: int
    tags: tuple[str, ...] = ()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.ip, self.port)


@dataclass(frozen=True, slots=True)
class TlsHandshake:
    ip: str
    port: int
    server_name: str
    failure: str | None
    tls_version: str | None
    cipher_suite: str | None
    negotiated_protocol: str | None
    peer_certificates: tuple[bytes, ...]  # DER, leaf first
    t0: float
    t: float
    transaction_id: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)
    body_is_truncated: bool


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One request and what came back: ``response`` is None when nothing did (see ``failure``).

    A failure after the response began (a reset, a timeout while the body came in) keeps the
    response with the body received so far.
    """

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    response: HttpResponse | None
    failure: str | None
    address: Endpoint | None  # where the request went; None when no connection was made
    alpn: str | None
    t0: float
    t: float
    transaction_id: int
    tags: tuple[str, ...] = ()


def failure_of(exc: BaseException) -> str:
    """The OONI failure string of an exception raised by a network operation."""
    if isinstance(exc, dns.exception.Timeout | TimeoutError):
        return "generic_timeout_error"
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code == _HOSTNAME_MISMATCH:
            return "ssl_invalid_hostname"
        if code in _UNKNOWN_AUTHORITY:
            return "ssl_unknown_authority"
        return "ssl_invalid_certificate"
    if isinstance(exc, ssl.SSLZeroReturnError | ssl.SSLEOFError):
        return "eof_error"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").upper()
        if "UNEXPECTED_EOF" in reason or "EOF" in reason:
            return "eof_error"
        return "ssl_failed_handshake"
    if isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return "eof_error"
    if isinstance(exc, http.client.HTTPException):
        return f"unknown_failure: {type(exc).__name__}: {exc}"[:200]
    if isinstance(exc, ConnectionResetError):
        return "connection_reset"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_FAILURES:
        return _ERRNO_FAILURES[exc.errno]
    return f"unknown_failure: {type(exc).__name__}: {exc}"[:200]


# -- DNS --------------------------------------------------------------------------------------


def lookup(
    trace: Trace,
    hostname: str,
    query_type: str,
    resolver: Endpoint,
    timeout_s: float,
    tags: tuple[str, ...] = (),
) -> DnsLookup:
    """Ask ``resolver`` (UDP, TCP when the answer is truncated) for ``query_type`` records of ``hostname``."""
    tid = trace.next_id()
    t0 = trace.now()
    query = dns.message.make_query(hostname, _RDTYPES[query_type])
    query.flags |= dns.flags.RD
    answers: list[DnsAnswer] = []
    failure: str | None = None
    try:
        response, _ = dns.query.udp_with_fallback(query, resolver.ip, timeout=timeout_s, port=resolver.port)
    except Exception as exc:  # anything the network or a broken answer raises is a measured failure
        failure = failure_of(exc)
    else:
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            failure = _DNS_RCODE_FAILURES.get(rcode, f"unknown_failure: DNS rcode {dns.rcode.to_text(rcode)}")
        for rrset in response.answer:
            type_name = dns.rdatatype.to_text(rrset.rdtype)
            for rdata in rrset:
                if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    answers.append(
                        DnsAnswer(type_name, str(ipaddress.ip_address(rdata.to_text())), rrset.ttl)
                    )
                elif rrset.rdtype == dns.rdatatype.CNAME:
                    answers.append(DnsAnswer("CNAME", rdata.to_text().rstrip("."), rrset.ttl))
        if failure is None and not any(a.answer_type == query_type for a in answers):
            failure = "dns_no_answer"
    return DnsLookup(hostname, query_type, resolver, tuple(answers), failure, t0, trace.now(), tid, tags)


# -- TCP and TLS -----------------------------------------------------------------------------


def connect(
    trace: Trace, ip: str, port: int, timeout_s: float, tid: int, tags: tuple[str, ...] = ()
) -> tuple[TcpConnect, socket.socket | None]:
    """Open a TCP connection; the socket is returned open on success (the caller closes it)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    t0 = trace.now()
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect((ip, port))
    except OSError as exc:
        sock.close()
        return TcpConnect(ip, port, failure_of(exc), t0, trace.now(), tid, tags), None
    trace.note_local(sock)
    return TcpConnect(ip, port, None, t0, trace.now(), tid, tags), sock


def handshake(
    trace: Trace,
    sock: socket.socket,
    server_name: str,
    context: ssl.SSLContext,
    timeout_s: float,
    tid: int,
    tags: tuple[str, ...] = (),
) -> tuple[TlsHandshake, ssl.SSLSocket | None]:
    """TLS over ``sock`` with SNI ``server_name``, verifying the certificate with ``context``.

    On failure ``sock`` is closed; on success the TLS socket is returned open.
    """
    ip, port = sock.getpeername()[:2]
    t0 = trace.now()
    sock.settimeout(timeout_s)
    tls = context.wrap_socket(sock, server_hostname=server_name, do_handshake_on_connect=False)
    try:
        tls.do_handshake()
    except (OSError, ValueError) as exc:  # ssl.SSLError and socket errors are OSErrors
        failure = failure_of(exc)
        tls.close()
        return TlsHandshake(
            ip, port, server_name, failure, None, None, None, (), t0, trace.now(), tid, tags
        ), None
    cipher = tls.cipher()
    leaf = tls.getpeercert(binary_form=True)
    record = TlsHandshake(
        ip,
        port,
        server_name,
        None,
        tls.version(),
        cipher[0] if cipher else None,
        tls.selected_alpn_protocol(),
        (leaf,) if leaf else (),
        t0,
        trace.now(),
        tid,
        tags,
    )
    return record, tls


def tls_context(cafile: str | None = None, cadata: str | None = None, system: bool = True) -> ssl.SSLContext:
    """A verifying client context: the system's trust anchors (when ``system``) plus the extra ones."""
    context = ssl.create_default_context() if system else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile is not None or cadata is not None:
        context.load_verify_locations(cafile=cafile, cadata=cadata)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])
    return context


# -- HTTP ------------------------------------------------------------------------------------


def host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"


def exchange(
    trace: Trace,
    sock: socket.socket,
    method: str,
    url: str,
    path: str,
    headers: tuple[tuple[str, str], ...],
    timeout_s: float,
    max_body_bytes: int,
    tid: int,
    tags: tuple[str, ...] = (),
) -> HttpExchange:
    """Send one HTTP/1.1 request over the open connection ``sock`` and read the answer.

    ``timeout_s`` bounds the whole exchange; the body is read up to ``max_body_bytes``. The socket
    is closed afterwards.
    """
    t0 = trace.now()
    deadline = time.monotonic() + timeout_s
    peer = sock.getpeername()
    address = Endpoint(peer[0], peer[1])
    alpn = sock.selected_alpn_protocol() if isinstance(sock, ssl.SSLSocket) else None
    conn = http.client.HTTPConnection("unused", timeout=timeout_s)
    conn.sock = sock
    response: HttpResponse | None = None
    failure: str | None = None
    status = 0
    reason = ""
    response_headers: tuple[tuple[str, str], ...] = ()
    chunks: list[bytes] = []
    received = 0
    truncated = False
    began = False
    try:
        sock.settimeout(_remaining(deadline))
        conn.request(method, path, body=b"" if method == "POST" else None, headers=dict(headers))
        answer = conn.getresponse()
        began = True
        status, reason = answer.status, answer.reason
        response_headers = tuple((name, value) for name, value in answer.getheaders())
        while received < max_body_bytes:
            sock.settimeout(_remaining(deadline))
            chunk = answer.read1(min(65536, max_body_bytes - received))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        else:
            truncated = True
    except (OSError, http.client.HTTPException, ValueError) as exc:
        failure = failure_of(exc)
    finally:
        conn.close()
        sock.close()
    if began:
        response = HttpResponse(
            status, reason, response_headers, b"".join(chunks), truncated or failure is not None
        )
    return HttpExchange(method, url, headers, response, failure, address, alpn, t0, trace.now(), tid, tags)


def failed_exchange(
    trace: Trace,
    method: str,
    url: str,
    headers: tuple[tuple[str, str], ...],
    failure: str,
    t0: float,
    tid: int,
    address: Endpoint | None = None,
    tags: tuple[str, ...] = (),
) -> HttpExchange:
    """A request that never went out: the step before it (DNS, connect, TLS) failed with ``failure``."""
    return HttpExchange(method, url, headers, None, failure, address, None, t0, trace.now(), tid, tags)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the exchange ran out of time")
    return left
