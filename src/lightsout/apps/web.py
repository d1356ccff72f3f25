"""Web Connectivity: was the URL blocked, and how - judged against the control.

The probe fetched the URL the way a browser does (system resolver, connect, TLS, HTTP, following
redirects) and asked a test helper outside the network (the *control*) to do the same. The
analysis walks that access and stops at the first step where the probe's view departs from the
control's:

1. **Confirmed fingerprints** first: a DNS answer or an HTTP response that is a known blockpage
   for this country (OONI's fingerprints, scope ``nat``/``isp`` or expected country) is blocking,
   whatever else happened. A redirect from a public site to a private address (a filtering portal)
   is a blockpage too.
2. **DNS** of the input's host by the system resolver. A failure where the control resolved the
   host is blocking; a failure where the control found nothing is a site that is down. Answers
   are *valid* when they share an address or a network (AS) with the control's, or when a
   verified TLS handshake for the host completed there (by the probe, or by the control:
   ``ip_info`` flag 8). Otherwise - another network's address, a bogon such as 127.0.0.1 or
   10.10.34.36, or any address for a host the control says does not exist - they are *invalid*.
   An invalid answer is DNS blocking unless the page fetched through it matched the control's (a
   transparent proxy) or the site's real addresses (from the control) were themselves blocked at
   TCP, TLS or HTTP, in which case that is the method (the DNS is noted in the reason).
3. **The fetch** along the system resolver's addresses (records tagged ``classic`` in 0.5.28+,
   all records before): the last request of the redirect chain, or the step after the last
   redirect that failed (DNS, TCP connect, TLS handshake). A failure is blocking when the control
   succeeded at that step (its TCP/TLS result for that endpoint, else its fetch of the page) and
   the site is down when the control failed too. A timeout after the response began is throttling.
   Failures that come from the server's own answer (a broken redirect, too many redirects) are not
   interference: down if the control failed too, else inconclusive.
4. **A fetched page**: over HTTPS with a verified certificate it is the real site; over plain HTTP
   it is compared with the control's (:mod:`lightsout.apps.httpdiff`). A different page is
   ``http_diff`` unless it matches one of OONI's known false-positive fingerprints (a CDN's
   challenge page, a generic error), which makes it inconclusive.

Without a usable control (``control_failure``), only verified HTTPS success and confirmed
fingerprints decide; everything else is inconclusive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urljoin

from lightsout.apps.finding import Finding, Method, accessible, blocked, down, inconclusive, quote
from lightsout.apps.fingerprints import FingerprintDB
from lightsout.apps.httpdiff import compare_http
from lightsout.apps.netaddr import is_bogon, url_host, url_port
from lightsout.apps.observations import (
    DnsObservation,
    HttpObservation,
    Observations,
    TcpObservation,
    TlsObservation,
    WebControl,
)

TIMEOUT = "generic_timeout_error"
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
# Failures caused by what the server answered, not by the network.
SERVER_REPLY_FAILURES = (
    "http_invalid_redirect",
    "unknown_failure: stopped after",
    "http_unexpected_redirect",
)
NXDOMAIN = frozenset({"dns_name_error", "dns_nxdomain_error"})


def analyse_web_connectivity(obs: Observations, fingerprints: FingerprintDB) -> Finding:
    if not obs.input:
        return inconclusive("the measurement has no input URL")
    host = url_host(obs.input)
    if host is None:
        return inconclusive(f"the input {quote(obs.input)} is not a URL with a host")
    return _Web(obs, host, fingerprints).run()


class _Dns(enum.Enum):
    OK = "ok"
    UNKNOWN = "unknown"  # nothing to compare with
    UNEXPECTED_FAILURE = "unexpected failure"
    EXPECTED_FAILURE = "expected failure"
    INVALID = "invalid"
    LOCAL = "local"  # the host really resolves to a bogon (the control agrees)


@dataclass(frozen=True, slots=True)
class _DnsAssessment:
    kind: _Dns
    detail: str


class _Step(enum.Enum):
    DNS = "DNS lookup"
    TCP = "TCP connect"
    TLS = "TLS handshake"
    HTTP = "HTTP request"


_METHOD = {
    _Step.DNS: Method.DNS,
    _Step.TCP: Method.TCP_IP,
    _Step.TLS: Method.TLS,
    _Step.HTTP: Method.HTTP_FAILURE,
}


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How the browser-like fetch ended: a response, a failed step, or nothing tried."""

    response: HttpObservation | None = None  # the final response (success) or the failed request
    step: _Step | None = None  # None with a response: success
    failure: str | None = None
    where: str = ""
    depth: int = 0
    ip: str | None = None
    port: int | None = None
    stalled: bool = False  # a redirect with nothing after it

    @property
    def succeeded(self) -> bool:
        return self.step is None and self.response is not None and not self.stalled


class _Web:
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

    # -- top level ---------------------------------------------------------------------------

    def run(self) -> Finding:
        found = (
            self._confirmed_dns_fingerprint()
            or self._confirmed_http_fingerprint()
            or self._private_redirect()
        )
        if found is not None:
            return found
        dns = self._assess_dns()
        if dns.kind is _Dns.UNEXPECTED_FAILURE:
            return blocked(Method.DNS, dns.detail)
        if dns.kind in (_Dns.EXPECTED_FAILURE, _Dns.LOCAL):
            return down(dns.detail)
        outcome = self._outcome()
        if dns.kind is _Dns.INVALID:
            return self._invalid_dns(dns, outcome)
        return self._judge(outcome)

    # -- fingerprints ------------------------------------------------------------------------

    def _confirmed_dns_fingerprint(self) -> Finding | None:
        for lookup in self.obs.dns:
            if lookup.is_encrypted:
                continue  # DoH/DoT answers cannot be tampered with on the path
            for address in lookup.addresses:
                for fp in self.fps.match_dns(address):
                    if fp.confirms(self.obs.probe_cc):
                        return blocked(
                            Method.DNS,
                            f"{_resolver(lookup)} answered {address} for {lookup.hostname or self.host}: "
                            f"a known blockpage address, OONI fingerprint {fp.describe()}",
                            fp.name,
                        )
        return None

    def _confirmed_http_fingerprint(self) -> Finding | None:
        for response in self.obs.http:
            for fp in self.fps.match_http(response):
                if fp.confirms(self.obs.probe_cc):
                    where = (
                        "body" if fp.location == "body" else fp.location.replace("header.", "") + " header"
                    )
                    return blocked(
                        Method.HTTP_BLOCKPAGE,
                        f"the response to {quote(response.url)} (status {response.status}) has a known "
                        "blockpage "
                        f"{where}, OONI fingerprint {fp.describe()}",
                        fp.name,
                    )
        return None

    def _private_redirect(self) -> Finding | None:
        if is_bogon(self.host):
            return None
        for response in self.obs.http:
            location = response.location
            if not location:
                continue
            target = url_host(_join(response.url, location))
            if target is not None and is_bogon(target):
                return blocked(
                    Method.HTTP_BLOCKPAGE,
                    f"{quote(response.url)} answered {response.status} redirecting to {quote(location)}, "
                    "a private address: a filtering portal, not the site",
                )
        return None

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

    def _assess_dns(self) -> _DnsAssessment:
        lookups = self._lookups(0)
        if not lookups:
            return _DnsAssessment(_Dns.UNKNOWN, f"no system DNS lookup of {self.host} in the measurement")
        addresses = list(dict.fromkeys(a for d in lookups for a in d.addresses))
        failures = [d for d in lookups if _real_dns_failure(d)]
        control = self.control
        control_dns = control is not None and (
            control.dns_addresses is not None or control.dns_failure is not None
        )
        control_addresses = tuple(control.dns_addresses or ()) if control is not None else ()
        said = f"{_resolver(lookups[0])}"
        if not addresses:
            if not failures:
                return _DnsAssessment(_Dns.UNKNOWN, f"{said} returned no address for {self.host}")
            failure = failures[0].failure
            if not control_dns or control is None:
                return _DnsAssessment(
                    _Dns.UNKNOWN, f"{said} failed ({failure}) and there is no control DNS result"
                )
            if control.dns_failure or not control_addresses:
                return _DnsAssessment(
                    _Dns.EXPECTED_FAILURE,
                    f"{said} failed ({failure}) for {self.host}, and the control found no address either "
                    f"({control.dns_failure or 'empty answer'})",
                )
            return _DnsAssessment(
                _Dns.UNEXPECTED_FAILURE,
                f"{said} failed ({failure}) for {self.host}, which the control resolved to "
                f"{self._describe(control_addresses)}",
            )
        answered = f"{said} answered {self._describe(addresses)} for {self.host}"
        if any(ip in self.verified_ips for ip in addresses):
            return _DnsAssessment(_Dns.OK, f"{answered}, confirmed by a verified TLS handshake")
        if control is not None and control.dns_failure in NXDOMAIN and not set(addresses) & self.trusted:
            return _DnsAssessment(
                _Dns.INVALID,
                f"{answered}, a host the control says does not exist ({control.dns_failure}): "
                "an injected answer",
            )
        unexpected_bogons = [ip for ip in addresses if is_bogon(ip) and not self._control_resolved(ip)]
        if unexpected_bogons:
            return _DnsAssessment(
                _Dns.INVALID,
                f"{answered}: {', '.join(unexpected_bogons)} is a private or reserved address"
                + (f" (the control got {self._describe(control_addresses)})" if control_addresses else ""),
            )
        if all(is_bogon(ip) for ip in addresses):
            return _DnsAssessment(
                _Dns.LOCAL, f"{answered}, a local address the control got too: not a public site"
            )
        if set(addresses) & self.trusted:
            return _DnsAssessment(_Dns.OK, f"{answered}, as the control")
        asns = {self.asn_of[ip] for ip in addresses if ip in self.asn_of}
        control_asns = {self.asn_of[ip] for ip in self.trusted if ip in self.asn_of}
        if asns & control_asns:
            shared = ", ".join(f"AS{a}" for a in sorted(asns & control_asns))
            return _DnsAssessment(_Dns.OK, f"{answered}, in the control's network ({shared})")
        if not control_dns:
            return _DnsAssessment(_Dns.UNKNOWN, f"{answered}; no control DNS result to compare")
        return _DnsAssessment(
            _Dns.INVALID,
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

    def _outcome(self) -> _Outcome:
        requests = [h for h in self.obs.http if self._classic_request(h)]
        if not requests:
            return self._failure_at(0) or _Outcome()
        last_depth = max(h.depth or 0 for h in requests)
        at_last = [h for h in requests if (h.depth or 0) == last_depth]
        last = next((h for h in at_last if h.failure is None), at_last[0])
        if last.failure is not None:
            return self._failed_request(last)
        if last.is_redirect:
            after = self._failure_at(last_depth + 1)
            if after is not None:
                return after
            return _Outcome(response=last, depth=last_depth, stalled=True, where=last.url or "")
        return _Outcome(response=last, depth=last_depth, where=last.url or "")

    def _failure_at(self, depth: int) -> _Outcome | None:
        lookups = [d for d in self._lookups(depth)] if depth else []
        if lookups and not any(d.addresses for d in lookups):
            failed = [d for d in lookups if _real_dns_failure(d)]
            if failed:
                return _Outcome(
                    step=_Step.DNS, failure=failed[0].failure, where=failed[0].hostname or "", depth=depth
                )
        tcp = [t for t in self.obs.tcp if (t.depth or 0) == depth and self._classic_tcp(t)]
        if tcp and not any(t.success for t in tcp):
            return _tcp_outcome(tcp[0], depth)
        tls = [t for t in self.obs.tls if (t.depth or 0) == depth and self._classic_tls(t)]
        if tls and all(t.failure is not None for t in tls):
            return _tls_outcome(tls[0], depth)
        return None

    def _failed_request(self, request: HttpObservation) -> _Outcome:
        failure = request.failure or ""
        depth = request.depth or 0
        if _is_dns_failure(failure):
            return _Outcome(request, _Step.DNS, failure, url_host(request.url) or "", depth)
        tcp = self._linked(self.obs.tcp, request)
        tls = self._linked(self.obs.tls, request)
        if request.transaction_id is None and depth == 0:
            # 0.4 and older: no transaction ids; the page's port tells which connects were its own
            port = url_port(request.url)
            tcps = [t for t in self.obs.tcp if t.port == port]
            if tcps and not any(t.success for t in tcps):
                return _tcp_outcome(tcps[0], depth, request)
            tlss = [t for t in self.obs.tls if t.port in (port, None)]
            if tlss and all(t.failure is not None for t in tlss):
                return _tls_outcome(tlss[0], depth, request)
        if isinstance(tcp, TcpObservation) and not tcp.success:
            return _tcp_outcome(tcp, depth, request)
        if isinstance(tls, TlsObservation) and tls.failure is not None:
            return _tls_outcome(tls, depth, request)
        where = request.url or ""
        ip = tcp.ip if isinstance(tcp, TcpObservation) else None
        port = tcp.port if isinstance(tcp, TcpObservation) else url_port(request.url)
        if failure in TCP_FAILURES:
            return _Outcome(request, _Step.TCP, failure, where, depth, ip, port)
        if request.is_https and _is_tls_failure(failure) and not (isinstance(tls, TlsObservation)):
            return _Outcome(request, _Step.TLS, failure, where, depth, ip, port)
        return _Outcome(request, _Step.HTTP, failure, where, depth, ip, port)

    @staticmethod
    def _linked(
        records: tuple[TcpObservation, ...] | tuple[TlsObservation, ...], request: HttpObservation
    ) -> TcpObservation | TlsObservation | None:
        if request.transaction_id is None:
            return None
        return next((r for r in records if r.transaction_id == request.transaction_id), None)

    # -- judgement ---------------------------------------------------------------------------

    def _judge(self, outcome: _Outcome) -> Finding:
        control = self.control
        response = outcome.response
        if outcome.succeeded and response is not None:
            return self._judge_page(response)
        if outcome.stalled:
            return inconclusive(
                f"the redirect chain stopped at {quote(outcome.where)} without a failure or a page"
            )
        if outcome.step is None:
            return inconclusive(f"the probe did not try to connect to {self.host} (no usable address)")
        failed = f"{outcome.step.value} failed ({outcome.failure}) at {quote(outcome.where)}"
        if control is None:
            return inconclusive(
                f"{failed}, but there is no usable control{self._control_failure()}: "
                "cannot tell blocking from a site failure"
            )
        control_http = control.http
        if (outcome.failure or "").startswith(SERVER_REPLY_FAILURES):
            if control_http is not None and not control_http.succeeded:
                return down(
                    f"{failed}, and the control could not fetch the page either ({control_http.failure})"
                )
            return inconclusive(f"{failed}: the server's own answer is unusable, not network interference")
        expected = self._control_expectation(outcome)
        if expected is None:
            return inconclusive(f"{failed}, and the control has no result for that step")
        succeeded, what = expected
        if not succeeded:
            return down(f"{failed}, and the control failed too ({what})")
        if (
            outcome.step is _Step.HTTP
            and outcome.failure == TIMEOUT
            and response is not None
            and response.status
        ):
            size = (
                f"{control_http.body_length:,} bytes"
                if control_http and control_http.body_length
                else "the page"
            )
            return blocked(
                Method.THROTTLING,
                f"the response from {quote(outcome.where)} began (status {response.status}) "
                "but its body timed out, "
                f"while the control fetched {size}",
            )
        return blocked(_METHOD[outcome.step], f"{failed}, where the control succeeded ({what})")

    def _judge_page(self, response: HttpObservation) -> Finding:
        control = self.control
        what = f"{quote(response.url)} (status {response.status})"
        if response.is_https:
            return accessible(f"fetched {what} over HTTPS with a verified certificate")
        if control is None or control.http is None:
            return inconclusive(
                f"fetched {what} over plain HTTP, but there is no control page to compare it with"
                f"{self._control_failure()}"
            )
        if not control.http.succeeded:
            return inconclusive(
                f"fetched {what} over plain HTTP, but the control could not fetch the page "
                f"({control.http.failure})"
            )
        comparison = compare_http(response, control.http)
        if not comparison.differs:
            return accessible(
                f"fetched {what} over plain HTTP; it matches the control's page ({comparison.describe()})"
            )
        matches = self.fps.match_http(response)
        # the most specific known false positive explains the page best
        false_positives = sorted((fp for fp in matches if fp.false_positive), key=lambda fp: -len(fp.pattern))
        difference = (
            f"status {response.status} vs {control.http.status}, {_size(response.body_length)} vs "
            f"{_size(control.http.body_length)}, title {quote(response.title)} vs {quote(control.http.title)}"
        )
        if false_positives:
            return inconclusive(
                f"the page from {what} differs from the control's ({difference}) but matches OONI's known "
                f"false-positive fingerprint {false_positives[0].describe()}: not counted as blocking"
            )
        hints = [fp for fp in matches if not fp.false_positive]
        hint = f"; it matches the unconfirmed fingerprint {hints[0].describe()}" if hints else ""
        return blocked(
            Method.HTTP_DIFF, f"the page from {what} differs from the control's ({difference}){hint}"
        )

    def _control_expectation(self, outcome: _Outcome) -> tuple[bool, str] | None:
        """Whether the control succeeded at the step that failed for the probe, and how."""
        control = self.control
        if control is None:
            return None
        endpoint = control.endpoint(outcome.ip, outcome.port) if outcome.depth == 0 else None
        if outcome.step is _Step.TCP and endpoint is not None and endpoint.tcp_success is not None:
            return endpoint.tcp_success, f"its connect to {outcome.ip}:{outcome.port}" + (
                f": {endpoint.tcp_failure}" if endpoint.tcp_failure else " worked"
            )
        if outcome.step is _Step.TLS and endpoint is not None and endpoint.tls_success is not None:
            return endpoint.tls_success, f"its TLS handshake at {outcome.ip}:{outcome.port}" + (
                f": {endpoint.tls_failure}" if endpoint.tls_failure else " worked"
            )
        http = control.http
        if http is None:
            return None
        if http.succeeded:
            return True, f"it fetched the page: status {http.status}"
        return False, f"its fetch failed: {http.failure or f'status {http.status}'}"

    def _control_failure(self) -> str:
        control = self.obs.control
        return f" (control_failure: {control.failure})" if control is not None and control.failure else ""

    def _invalid_dns(self, dns: _DnsAssessment, outcome: _Outcome) -> Finding:
        control = self.control
        response = outcome.response
        if outcome.succeeded and response is not None and response.is_https:
            return accessible(
                f"{dns.detail}; yet the page was fetched from there over HTTPS with a verified certificate: "
                "the answer was the site's"
            )
        if (
            outcome.succeeded
            and response is not None
            and control is not None
            and control.http is not None
            and control.http.succeeded
            and not compare_http(response, control.http).differs
        ):
            return accessible(
                f"{dns.detail}; yet the page fetched through that address matches the control's "
                "(a transparent proxy): not blocked"
            )
        real = self._real_address_failure()
        if real is not None:
            method, reason = real
            return blocked(method, f"{reason}; besides, {dns.detail}")
        fetch = ""
        if outcome.step is not None:
            fetch = f"; {outcome.step.value} there failed ({outcome.failure})"
        elif outcome.succeeded and response is not None:
            fetch = f"; the page fetched there (status {response.status}) is not the control's"
        return blocked(Method.DNS, dns.detail + fetch)

    def _real_address_failure(self) -> tuple[Method, str] | None:
        """The site's own addresses (the control's) blocked at TCP, TLS or HTTP, when the probe tried them."""
        control = self.control
        if control is None:
            return None
        tcp = [t for t in self.obs.tcp if t.ip in self.trusted and (t.depth or 0) == 0]
        if not tcp:
            return None
        ids = {t.transaction_id for t in tcp if t.transaction_id is not None}
        requests = [h for h in self.obs.http if h.transaction_id in ids]
        tls = [t for t in self.obs.tls if t.ip in self.trusted and (t.depth or 0) == 0]
        if any(h.failure is None for h in requests) or any(t.verified for t in tls):
            return None
        for connect in tcp:
            endpoint = control.endpoint(connect.ip, connect.port)
            if not connect.success and endpoint is not None and endpoint.tcp_success:
                return (
                    Method.TCP_IP,
                    f"the connect to the site's address {connect.endpoint} failed ({connect.failure}) "
                    "where the control's worked",
                )
        for handshake in tls:
            endpoint = control.endpoint(handshake.ip, handshake.port)
            if handshake.failure is not None and endpoint is not None and endpoint.tls_success:
                return (
                    Method.TLS,
                    f"the TLS handshake with the site's address {handshake.ip}:{handshake.port} failed "
                    f"({handshake.failure}) where the control's worked",
                )
        failed = [h for h in requests if h.failure is not None]
        if failed and control.http is not None and control.http.succeeded:
            return (
                Method.HTTP_FAILURE,
                f"the request to the site's address failed ({failed[0].failure}) "
                "where the control fetched the page",
            )
        return None


def _tcp_outcome(tcp: TcpObservation, depth: int, request: HttpObservation | None = None) -> _Outcome:
    return _Outcome(request, _Step.TCP, tcp.failure, tcp.endpoint, depth, tcp.ip, tcp.port)


def _tls_outcome(tls: TlsObservation, depth: int, request: HttpObservation | None = None) -> _Outcome:
    where = f"{tls.ip}:{tls.port}" if tls.ip else (tls.server_name or "")
    if tls.server_name and tls.ip:
        where += f" (SNI {tls.server_name})"
    return _Outcome(request, _Step.TLS, tls.failure, where, depth, tls.ip, tls.port)


def _join(base: str | None, location: str) -> str | None:
    """Where a redirect leads (``Location`` may be relative); None when the URLs do not parse."""
    try:
        return urljoin(base or "", location)
    except ValueError:
        return None


def _resolver(lookup: DnsObservation) -> str:
    engine = lookup.engine or "system"
    if lookup.resolver:
        return f"the resolver {lookup.resolver} ({engine})"
    return f"the system resolver ({engine})"


def _real_dns_failure(lookup: DnsObservation) -> bool:
    """A lookup failure that means something: not 'no AAAA record', which many sites lack."""
    if lookup.failure is None or lookup.addresses:
        return False
    return not (lookup.query_type == "AAAA" and lookup.failure == "dns_no_answer")


def _is_dns_failure(failure: str) -> bool:
    return failure.startswith("dns_") or failure == "android_dns_cache_no_data" or "dns_lookup" in failure


def _is_tls_failure(failure: str) -> bool:
    return failure.startswith("ssl_") or "certificate" in failure or "tls" in failure.lower()


def _size(length: int | None) -> str:
    return "unknown size" if length is None else f"{length:,} bytes"
