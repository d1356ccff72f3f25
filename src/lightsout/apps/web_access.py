"""What the probe's browser-like access to a URL met, reconstructed from the observations
(:mod:`lightsout.apps.web` judges it): the system resolver's answer for the input's host assessed
against the control's, and how the fetch along the system resolver's addresses ended - a final
response, or the step (DNS, TCP connect, TLS handshake, HTTP request) where it failed.

The reconstruction only; what it means (accessible, blocked, down) is decided in web.py."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lightsout.apps.fingerprints import FingerprintDB
from lightsout.apps.netaddr import is_bogon, url_host, url_port
from lightsout.apps.observations import (
    DnsObservation,
    HttpObservation,
    Observations,
    TcpObservation,
    TlsObservation,
    WebControl,
)

TCP_FAILURES = frozenset(
    {
        "connection_refused",
        "connection_refused_error",
        "host_unreachable",
        "network_unreachable",
        "connect_error",
        "tcp_timed_out_error",
    }
)
NXDOMAIN = frozenset({"dns_name_error", "dns_nxdomain_error"})


class Dns(enum.Enum):
    OK = "ok"
    UNKNOWN = "unknown"  # nothing to compare with
    UNEXPECTED_FAILURE = "unexpected failure"
    EXPECTED_FAILURE = "expected failure"
    INVALID = "invalid"
    LOCAL = "local"  # the host really resolves to a bogon (the control agrees)


@dataclass(frozen=True, slots=True)
class DnsAssessment:
    kind: Dns
    detail: str


class Step(enum.Enum):
    DNS = "DNS lookup"
    TCP = "TCP connect"
    TLS = "TLS handshake"
    HTTP = "HTTP request"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the browser-like fetch ended: a response, a failed step, or nothing tried."""

    response: HttpObservation | None = None  # the final response (success) or the failed request
    step: Step | None = None  # None with a response: success
    failure: str | None = None
    where: str = ""
    depth: int = 0
    ip: str | None = None
    port: int | None = None
    stalled: bool = False  # a redirect with nothing after it

    @property
    def succeeded(self) -> bool:
        return self.step is None and self.response is not None and not self.stalled


class WebAccess:
    """One measurement's access to its input URL (module docstring)."""

    def __init__(self, obs: Observations, host: str, fingerprints: FingerprintDB) -> None:
        self.obs = obs
        self.host = host
        self.fps = fingerprints
        control = obs.control
        self.control: WebControl | None = control if control is not None and control.usable else None
        self.asn_of: dict[str, int] = {}
        for lookup in obs.dns:
            for answer in lookup.answers:
                if answer.is_address and answer.asn:
                    self.asn_of.setdefault(answer.value, answer.asn)
        for info in control.addresses if control is not None else ():
            if info.asn:
                self.asn_of.setdefault(info.ip, info.asn)
        self.system_addresses = {a for d in obs.dns if d.is_system for a in d.addresses}
        self.verified_ips = {
            t.ip for t in obs.tls if t.verified and t.ip is not None and t.server_name == host
        }
        self.trusted: set[str] = set(self.verified_ips)
        if self.control is not None:
            self.trusted.update(self.control.dns_addresses or ())
            self.trusted.update(
                a.ip for a in self.control.addresses if a.valid_for_domain or a.resolved_by_control
            )
        self.trusted = {ip for ip in self.trusted if not is_bogon(ip) or self._control_resolved(ip)}

    # -- DNS ---------------------------------------------------------------------------------

    def _control_resolved(self, ip: str) -> bool:
        control = self.control
        if control is None:
            return False
        return ip in (control.dns_addresses or ()) or any(
            a.ip == ip and a.resolved_by_control for a in control.addresses
        )

    def _lookups(self, depth: int) -> list[DnsObservation]:
        system = [d for d in self.obs.dns if d.depth == depth and d.is_system]
        return system or [d for d in self.obs.dns if d.depth == depth and not d.is_encrypted]

    def _assess_dns(self) -> DnsAssessment:
        lookups = self._lookups(0)
        if not lookups:
            return DnsAssessment(Dns.UNKNOWN, f"no system DNS lookup of {self.host} in the measurement")
        addresses = list(dict.fromkeys(a for d in lookups for a in d.addresses))
        failures = [d for d in lookups if real_dns_failure(d)]
        control = self.control
        control_dns = control is not None and (
            control.dns_addresses is not None or control.dns_failure is not None
        )
        control_addresses = tuple(control.dns_addresses or ()) if control is not None else ()
        said = f"{resolver_name(lookups[0])}"
        if not addresses:
            if not failures:
                return DnsAssessment(Dns.UNKNOWN, f"{said} returned no address for {self.host}")
            failure = failures[0].failure
            if not control_dns or control is None:
                return DnsAssessment(
                    Dns.UNKNOWN, f"{said} failed ({failure}) and there is no control DNS result"
                )
            if control.dns_failure or not control_addresses:
                return DnsAssessment(
                    Dns.EXPECTED_FAILURE,
                    f"{said} failed ({failure}) for {self.host}, and the control found no address either "
                    f"({control.dns_failure or 'empty answer'})",
                )
            return DnsAssessment(
                Dns.UNEXPECTED_FAILURE,
                f"{said} failed ({failure}) for {self.host}, which the control resolved to "
                f"{self._describe(control_addresses)}",
            )
        answered = f"{said} answered {self._describe(addresses)} for {self.host}"
        if any(ip in self.verified_ips for ip in addresses):
            return DnsAssessment(Dns.OK, f"{answered}, confirmed by a verified TLS handshake")
        if control is not None and control.dns_failure in NXDOMAIN and not set(addresses) & self.trusted:
            return DnsAssessment(
                Dns.INVALID,
                f"{answered}, a host the control says does not exist ({control.dns_failure}): "
                "an injected answer",
            )
        unexpected_bogons = [ip for ip in addresses if is_bogon(ip) and not self._control_resolved(ip)]
        if unexpected_bogons:
            return DnsAssessment(
                Dns.INVALID,
                f"{answered}: {', '.join(unexpected_bogons)} is a private or reserved address"
                + (f" (the control got {self._describe(control_addresses)})" if control_addresses else ""),
            )
        if all(is_bogon(ip) for ip in addresses):
            return DnsAssessment(
                Dns.LOCAL, f"{answered}, a local address the control got too: not a public site"
            )
        if set(addresses) & self.trusted:
            return DnsAssessment(Dns.OK, f"{answered}, as the control")
        asns = {self.asn_of[ip] for ip in addresses if ip in self.asn_of}
        control_asns = {self.asn_of[ip] for ip in self.trusted if ip in self.asn_of}
        if asns & control_asns:
            shared = ", ".join(f"AS{a}" for a in sorted(asns & control_asns))
            return DnsAssessment(Dns.OK, f"{answered}, in the control's network ({shared})")
        if not control_dns:
            return DnsAssessment(Dns.UNKNOWN, f"{answered}; no control DNS result to compare")
        return DnsAssessment(
            Dns.INVALID,
            f"{answered}, unlike the control "
            f"({self._describe(control_addresses) if control_addresses else 'no address'})",
        )

    def _describe(self, addresses: tuple[str, ...] | list[str]) -> str:
        shown = [f"{ip} (AS{self.asn_of[ip]})" if ip in self.asn_of else ip for ip in addresses[:4]]
        more = f" and {len(addresses) - 4} more" if len(addresses) > 4 else ""
        return ", ".join(shown) + more

    # -- the browser-like fetch --------------------------------------------------------------

    # The browser's path: records tagged "classic" (0.5.28+); before the tag, the connections to
    # addresses the system resolver returned (0.5 also tries DoH/UDP answers); 0.4 has nothing else.

    def _classic_ip(self, ip: str | None) -> bool:
        return ip is None or not self.system_addresses or ip in self.system_addresses

    def _classic_tcp(self, tcp: TcpObservation) -> bool:
        return tcp.classic if self.obs.uses_classic_tags else self._classic_ip(tcp.ip)

    def _classic_tls(self, tls: TlsObservation) -> bool:
        return tls.classic if self.obs.uses_classic_tags else self._classic_ip(tls.ip)

    def _classic_request(self, request: HttpObservation) -> bool:
        if self.obs.uses_classic_tags:
            return request.classic
        tcp = self._linked(self.obs.tcp, request)
        return not isinstance(tcp, TcpObservation) or self._classic_ip(tcp.ip)

    def _outcome(self) -> Outcome:
        requests = [h for h in self.obs.http if self._classic_request(h)]
        if not requests:
            return self._failure_at(0) or Outcome()
        last_depth = max(h.depth or 0 for h in requests)
        at_last = [h for h in requests if (h.depth or 0) == last_depth]
        last = next((h for h in at_last if h.failure is None), at_last[0])
        if last.failure is not None:
            return self._failed_request(last)
        if last.is_redirect:
            after = self._failure_at(last_depth + 1)
            if after is not None:
                return after
            return Outcome(response=last, depth=last_depth, stalled=True, where=last.url or "")
        return Outcome(response=last, depth=last_depth, where=last.url or "")

    def _failure_at(self, depth: int) -> Outcome | None:
        lookups = [d for d in self._lookups(depth)] if depth else []
        if lookups and not any(d.addresses for d in lookups):
            failed = [d for d in lookups if real_dns_failure(d)]
            if failed:
                return Outcome(
                    step=Step.DNS, failure=failed[0].failure, where=failed[0].hostname or "", depth=depth
                )
        tcp = [t for t in self.obs.tcp if (t.depth or 0) == depth and self._classic_tcp(t)]
        if tcp and not any(t.success for t in tcp):
            return tcp_outcome(tcp[0], depth)
        tls = [t for t in self.obs.tls if (t.depth or 0) == depth and self._classic_tls(t)]
        if tls and all(t.failure is not None for t in tls):
            return tls_outcome(tls[0], depth)
        return None

    def _failed_request(self, request: HttpObservation) -> Outcome:
        failure = request.failure or ""
        depth = request.depth or 0
        if is_dns_failure(failure):
            return Outcome(request, Step.DNS, failure, url_host(request.url) or "", depth)
        tcp = self._linked(self.obs.tcp, request)
        tls = self._linked(self.obs.tls, request)
        if request.transaction_id is None and depth == 0:
            # 0.4 and older: no transaction ids; the page's port tells which connects were its own
            port = url_port(request.url)
            tcps = [t for t in self.obs.tcp if t.port == port]
            if tcps and not any(t.success for t in tcps):
                return tcp_outcome(tcps[0], depth, request)
            tlss = [t for t in self.obs.tls if t.port in (port, None)]
            if tlss and all(t.failure is not None for t in tlss):
                return tls_outcome(tlss[0], depth, request)
        if isinstance(tcp, TcpObservation) and not tcp.success:
            return tcp_outcome(tcp, depth, request)
        if isinstance(tls, TlsObservation) and tls.failure is not None:
            return tls_outcome(tls, depth, request)
        where = request.url or ""
        ip = tcp.ip if isinstance(tcp, TcpObservation) else None
        port = tcp.port if isinstance(tcp, TcpObservation) else url_port(request.url)
        if failure in TCP_FAILURES:
            return Outcome(request, Step.TCP, failure, where, depth, ip, port)
        if request.is_https and is_tls_failure(failure) and not (isinstance(tls, TlsObservation)):
            return Outcome(request, Step.TLS, failure, where, depth, ip, port)
        return Outcome(request, Step.HTTP, failure, where, depth, ip, port)

    @staticmethod
    def _linked(
        records: tuple[TcpObservation, ...] | tuple[TlsObservation, ...], request: HttpObservation
    ) -> TcpObservation | TlsObservation | None:
        if request.transaction_id is None:
            return None
        return next((r for r in records if r.transaction_id == request.transaction_id), None)


def tcp_outcome(tcp: TcpObservation, depth: int, request: HttpObservation | None = None) -> Outcome:
    return Outcome(request, Step.TCP, tcp.failure, tcp.endpoint, depth, tcp.ip, tcp.port)


def tls_outcome(tls: TlsObservation, depth: int, request: HttpObservation | None = None) -> Outcome:
    where = f"{tls.ip}:{tls.port}" if tls.ip else (tls.server_name or "")
    if tls.server_name and tls.ip:
        where += f" (SNI {tls.server_name})"
    return Outcome(request, Step.TLS, tls.failure, where, depth, tls.ip, tls.port)


def resolver_name(lookup: DnsObservation) -> str:
    engine = lookup.engine or "system"
    if lookup.resolver:
        return f"the resolver {lookup.resolver} ({engine})"
    return f"the system resolver ({engine})"


def real_dns_failure(lookup: DnsObservation) -> bool:
    """A lookup failure that means something: not 'no AAAA record', which many sites lack."""
    if lookup.failure is None or lookup.addresses:
        return False
    return not (lookup.query_type == "AAAA" and lookup.failure == "dns_no_answer")


def is_dns_failure(failure: str) -> bool:
    return failure.startswith("dns_") or failure == "android_dns_cache_no_data" or "dns_lookup" in failure


def is_tls_failure(failure: str) -> bool:
    return failure.startswith("ssl_") or "certificate" in failure or "tls" in failure.lower()
