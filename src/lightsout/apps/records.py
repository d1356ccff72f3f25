"""The typed records of one OONI measurement (:mod:`lightsout.apps.observations` makes them):
one frozen record per operation the probe performed, and the test helper's view (the control).
Pure data with the small judgements each record can make of itself (an address answer, a
certificate error, a redirect); no parsing here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from lightsout.apps.netaddr import is_ip

SYSTEM_ENGINES = frozenset({"system", "getaddrinfo", "golang_net_resolver", "go", "unknown", "android"})
ENCRYPTED_ENGINES = frozenset({"doh", "dot"})


class BodyFormat(enum.StrEnum):
    ABSENT = "absent"  # no body in the record (missing or null)
    TEXT = "text"  # a JSON string
    BASE64 = "base64"  # {"format": "base64", "data": ...}, decoded
    MALFORMED = "malformed"  # base64 that does not decode, or another JSON type


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    answer_type: str | None  # "A", "AAAA", "CNAME"...
    value: str  # an IP address (A/AAAA) or a host name (CNAME...)
    asn: int | None  # as the probe looked it up
    as_org: str | None

    @property
    def is_address(self) -> bool:
        return self.answer_type in ("A", "AAAA", None) and is_ip(self.value)


@dataclass(frozen=True, slots=True)
class DnsObservation:
    hostname: str | None
    query_type: str | None
    engine: str | None  # getaddrinfo, system, udp, doh...
    resolver: str | None  # "1.1.1.1:53", "https://dns.google/dns-query"; None for the system's own
    answers: tuple[DnsAnswer, ...]
    failure: str | None
    depth: int | None  # redirect depth (0: the input URL); None when the record does not say
    transaction_id: int | None
    classic: bool  # tagged "classic" (Web Connectivity 0.5.28+): the system resolver's lookup

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a.value for a in self.answers if a.is_address)

    @property
    def is_system(self) -> bool:
        return self.engine is None or self.engine in SYSTEM_ENGINES

    @property
    def is_encrypted(self) -> bool:
        return self.engine in ENCRYPTED_ENGINES


@dataclass(frozen=True, slots=True)
class TcpObservation:
    ip: str
    port: int
    failure: str | None
    success: bool
    depth: int | None
    transaction_id: int | None
    classic: bool
    fetch_body: bool | None  # 0.5: True for the connection that fetched the page

    @property
    def endpoint(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


_CERTIFICATE_FAILURES = ("ssl_invalid_certificate", "ssl_unknown_authority", "ssl_invalid_hostname")


@dataclass(frozen=True, slots=True)
class TlsObservation:
    ip: str | None
    port: int | None
    server_name: str | None
    failure: str | None
    no_tls_verify: bool
    depth: int | None
    transaction_id: int | None
    classic: bool
    fetch_body: bool | None

    @property
    def certificate_error(self) -> bool:
        """The handshake failed on the certificate (invalid, unknown authority, wrong host)."""
        failure = self.failure or ""
        return failure.startswith(_CERTIFICATE_FAILURES) or "certificate" in failure

    @property
    def verified(self) -> bool:
        """Completed with certificate verification: the peer holds a valid certificate for the SNI."""
        return self.failure is None and not self.no_tls_verify


@dataclass(frozen=True, slots=True)
class HttpObservation:
    url: str | None
    status: int | None  # None: no response (or a response without status)
    failure: str | None
    body_length: int | None  # bytes; None when the body is absent or could not be decoded
    body_is_truncated: bool | None
    body_format: BodyFormat
    body_is_binary: bool  # the bytes are not UTF-8 text
    title: str | None
    headers: tuple[tuple[str, str], ...]  # (name, value) in the order received
    depth: int | None
    transaction_id: int | None
    classic: bool
    body: bytes | None = field(default=None, repr=False, compare=False)  # untrusted: never render

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def header_names(self) -> frozenset[str]:
        return frozenset(key.lower() for key, _ in self.headers)

    @property
    def location(self) -> str | None:
        return self.header("location")

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308)

    @property
    def is_https(self) -> bool:
        return (self.url or "").lower().startswith("https://")


@dataclass(frozen=True, slots=True)
class ControlEndpoint:
    """The test helper's TCP connect (and, in 0.5, TLS handshake) to one ``ip:port``."""

    ip: str
    port: int
    tcp_success: bool | None
    tcp_failure: str | None
    tls_success: bool | None  # None: the helper did not try (or the record predates 0.5)
    tls_failure: str | None


@dataclass(frozen=True, slots=True)
class ControlHttp:
    failure: str | None
    status: int | None
    body_length: int | None
    title: str | None
    header_names: frozenset[str]

    @property
    def succeeded(self) -> bool:
        return self.failure is None and (self.status or 0) > 0


@dataclass(frozen=True, slots=True)
class ControlAddress:
    """``control.ip_info`` (0.5): what the helper knows of an address either side resolved."""

    ip: str
    asn: int | None
    resolved_by_probe: bool
    resolved_by_control: bool
    bogon: bool
    valid_for_domain: bool  # the helper completed a verified TLS handshake for the domain there


@dataclass(frozen=True, slots=True)
class WebControl:
    failure: str | None  # control_failure: the helper could not be asked at all
    dns_failure: str | None
    dns_addresses: tuple[str, ...] | None  # None: the control has no DNS section
    endpoints: tuple[ControlEndpoint, ...]
    http: ControlHttp | None
    addresses: tuple[ControlAddress, ...]

    @property
    def usable(self) -> bool:
        return self.failure is None and (
            self.dns_addresses is not None
            or self.dns_failure is not None
            or bool(self.endpoints)
            or self.http is not None
        )

    def endpoint(self, ip: str | None, port: int | None) -> ControlEndpoint | None:
        return next((e for e in self.endpoints if e.ip == ip and e.port == port), None)


@dataclass(frozen=True, slots=True)
class Observations:
    measurement_id: str
    test_name: str
    test_version: str | None
    input: str | None
    probe_cc: str | None
    probe_asn: int | None
    start: datetime | None
    software: str | None  # "ooniprobe-android 3.7.1"
    engine_version: str | None  # annotations.engine_version
    unsupported: str | None  # why the measurement is not analysed; None when it is
    dns: tuple[DnsObservation, ...] = ()
    tcp: tuple[TcpObservation, ...] = ()
    tls: tuple[TlsObservation, ...] = ()
    http: tuple[HttpObservation, ...] = ()
    control: WebControl | None = None
    problems: tuple[str, ...] = ()  # malformed parts that were skipped or read as unknown
    uses_classic_tags: bool = False  # 0.5.28+: records carry the "classic" tag
    report_id: str | None = None  # OONI's identity of a measurement is (report_id, input)
    measurement_uid: str | None = None  # OONI's id in its API and Explorer, when the record has one
    network_check: str | None = None  # the probe's own check of the network (lightsout.probe.netcheck)
    network_check_reason: str | None = None
