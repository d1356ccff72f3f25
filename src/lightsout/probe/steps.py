"""What every test shares: the records it collects, host resolution, and a fetch done the way
OONI's ``urlgetter`` does it (resolve, connect to each address in turn until one answers, TLS,
one HTTP request), used by the app tests.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import dns.resolver

from lightsout.errors import UserError
from lightsout.probe.archival import JsonObject, query_entry, request_entry, tcp_entry, tls_entry
from lightsout.probe.config import Endpoint, ProbeConfig
from lightsout.probe.netx import (
    DnsLookup,
    HttpExchange,
    TcpConnect,
    TlsHandshake,
    Trace,
    connect,
    exchange,
    failed_exchange,
    handshake,
    host_header,
    lookup,
    tls_context,
)
from lightsout.probe.scrub import Scrubber, configured_public_addresses, interface_addresses

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_LANGUAGE = "en-US,en;q=0.9"


def system_resolver() -> Endpoint:
    """The first nameserver of /etc/resolv.conf (read locally; nothing is asked on the network)."""
    try:
        nameservers = dns.resolver.Resolver(configure=True).nameservers
    except (dns.resolver.NoResolverConfiguration, OSError) as exc:
        raise UserError(f"no resolver configured ({exc}); set dns.resolver in the config file") from None
    for server in nameservers:
        try:
            return Endpoint(str(ipaddress.ip_address(str(server))), 53)
        except ValueError:
            continue  # a DoH URL or similar: not a plain resolver
    raise UserError("no plain DNS resolver in /etc/resolv.conf; set dns.resolver in the config file")


@dataclass(slots=True)
class Records:
    """Everything one measurement observed, in OONI's four lists."""

    queries: list[DnsLookup] = field(default_factory=list)
    tcp: list[TcpConnect] = field(default_factory=list)
    tls: list[TlsHandshake] = field(default_factory=list)
    requests: list[HttpExchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: DnsLookup | TcpConnect | TlsHandshake | HttpExchange) -> None:
        with self.lock:
            if isinstance(record, DnsLookup):
                self.queries.append(record)
            elif isinstance(record, TcpConnect):
                self.tcp.append(record)
            elif isinstance(record, TlsHandshake):
                self.tls.append(record)
            else:
                self.requests.append(record)

    def test_keys(self, scrubber: Scrubber) -> JsonObject:
        def order(record: DnsLookup | TcpConnect | TlsHandshake | HttpExchange) -> tuple[float, int]:
            return (record.t0, record.transaction_id)

        return {
            "queries": [query_entry(r) for r in sorted(self.queries, key=order)],
            "tcp_connect": [tcp_entry(r) for r in sorted(self.tcp, key=order)],
            "tls_handshakes": [tls_entry(r) for r in sorted(self.tls, key=order)],
            "requests": [request_entry(r, scrubber) for r in sorted(self.requests, key=order)],
        }


@dataclass(slots=True)
class Session:
    """One test's configuration, clock and records."""

    config: ProbeConfig
    resolver: Endpoint
    trace: Trace = field(default_factory=Trace)
    records: Records = field(default_factory=Records)

    def scrubber(self) -> Scrubber:
        """The vantage's own addresses: its connections', its interfaces' and the public ones
        the operator named or the echoes told (lightsout.probe.scrub, lightsout.probe.whoami)."""
        public = configured_public_addresses() | set(self.config.public_address.addresses)
        return Scrubber(self.trace.local_addresses | interface_addresses() | public)

    def context(self, extra_ca: str | None = None, pinned: bool = False) -> ssl.SSLContext:
        """A verifying TLS context: the system's anchors plus ``tls.ca_file`` (and ``extra_ca``, PEM)."""
        cafile = str(self.config.ca_file) if self.config.ca_file is not None else None
        context = tls_context(cafile=cafile)
        if extra_ca is not None:
            context.load_verify_locations(cadata=extra_ca)
        return context

    def request_headers(self, host: str, port: int, scheme: str) -> tuple[tuple[str, str], ...]:
        return (
            ("Host", host_header(host, port, scheme)),
            ("User-Agent", self.config.user_agent),
            ("Accept", ACCEPT),
            ("Accept-Language", ACCEPT_LANGUAGE),
            ("Accept-Encoding", "identity"),
        )

    def resolve(self, host: str, tags: tuple[str, ...] = ()) -> tuple[list[str], str | None]:
        """The addresses of ``host`` (each query type of the config, in order) and the failure when none."""
        if is_ip(host):
            return [host], None
        found: list[DnsLookup] = []
        for query_type in self.config.query_types:
            record = lookup(self.trace, host, query_type, self.resolver, self.config.timeouts.dns_s, tags)
            self.records.add(record)
            found.append(record)
        addresses = list(dict.fromkeys(a for record in found for a in record.addresses))
        if addresses:
            return addresses, None
        failures = [r.failure for r in found if r.failure and r.failure != "dns_no_answer"]
        return [], failures[0] if failures else "dns_no_answer"

    def fetch(self, url: str, method: str = "GET", context: ssl.SSLContext | None = None) -> HttpExchange:
        """One request as OONI's urlgetter makes it, recording every step; redirects are not followed."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = self.request_headers(host, port, scheme)
        t0 = self.trace.now()
        timeouts = self.config.timeouts
        addresses, dns_failure = self.resolve(host)
        tid = self.trace.next_id()
        if not addresses:
            result = failed_exchange(
                self.trace, method, url, headers, dns_failure or "dns_no_answer", t0, tid
            )
            self.records.add(result)
            return result
        sock: socket.socket | None = None
        last: TcpConnect | None = None
        for index, ip in enumerate(addresses):
            if index:
                tid = self.trace.next_id()
            last, sock = connect(self.trace, ip, port, timeouts.connect_s, tid)
            self.records.add(last)
            if sock is not None:
                break
        assert last is not None
        if sock is None:
            result = failed_exchange(
                self.trace, method, url, headers, last.failure or "unknown_failure", t0, tid, last.endpoint
            )
            self.records.add(result)
            return result
        if scheme == "https":
            tls_record, tls_sock = handshake(
                self.trace, sock, host, context or self.context(), timeouts.tls_s, tid
            )
            self.records.add(tls_record)
            if tls_sock is None:
                result = failed_exchange(
                    self.trace,
                    method,
                    url,
                    headers,
                    tls_record.failure or "ssl_failed_handshake",
                    t0,
                    tid,
                    last.endpoint,
                )
                self.records.add(result)
                return result
            sock = tls_sock
        result = exchange(
            self.trace, sock, method, url, path, headers, timeouts.http_s, self.config.max_body_bytes, tid
        )
        self.records.add(result)
        return result


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
