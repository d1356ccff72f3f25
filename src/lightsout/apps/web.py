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

from urllib.parse import urljoin

from lightsout.apps.finding import Finding, Method, accessible, blocked, down, inconclusive, quote
from lightsout.apps.fingerprints import FingerprintDB
from lightsout.apps.httpdiff import compare_http
from lightsout.apps.netaddr import is_bogon, url_host
from lightsout.apps.observations import HttpObservation, Observations
from lightsout.apps.web_access import Dns, DnsAssessment, Outcome, Step, WebAccess, resolver_name

TIMEOUT = "generic_timeout_error"
# Failures caused by what the server answered, not by the network.
SERVER_REPLY_FAILURES = (
    "http_invalid_redirect",
    "unknown_failure: stopped after",
    "http_unexpected_redirect",
)


def analyse_web_connectivity(obs: Observations, fingerprints: FingerprintDB) -> Finding:
    if not obs.input:
        return inconclusive("the measurement has no input URL")
    host = url_host(obs.input)
    if host is None:
        return inconclusive(f"the input {quote(obs.input)} is not a URL with a host")
    return _Web(obs, host, fingerprints).run()


_METHOD = {
    Step.DNS: Method.DNS,
    Step.TCP: Method.TCP_IP,
    Step.TLS: Method.TLS,
    Step.HTTP: Method.HTTP_FAILURE,
}



class _Web(WebAccess):
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
        if dns.kind is Dns.UNEXPECTED_FAILURE:
            return blocked(Method.DNS, dns.detail)
        if dns.kind in (Dns.EXPECTED_FAILURE, Dns.LOCAL):
            return down(dns.detail)
        outcome = self._outcome()
        if dns.kind is Dns.INVALID:
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
                            f"{resolver_name(lookup)} answered {address} for {lookup.hostname or self.host}: "
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

    # -- judgement ---------------------------------------------------------------------------

    def _judge(self, outcome: Outcome) -> Finding:
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
            outcome.step is Step.HTTP
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

    def _control_expectation(self, outcome: Outcome) -> tuple[bool, str] | None:
        """Whether the control succeeded at the step that failed for the probe, and how."""
        control = self.control
        if control is None:
            return None
        endpoint = control.endpoint(outcome.ip, outcome.port) if outcome.depth == 0 else None
        if outcome.step is Step.TCP and endpoint is not None and endpoint.tcp_success is not None:
            return endpoint.tcp_success, f"its connect to {outcome.ip}:{outcome.port}" + (
                f": {endpoint.tcp_failure}" if endpoint.tcp_failure else " worked"
            )
        if outcome.step is Step.TLS and endpoint is not None and endpoint.tls_success is not None:
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

    def _invalid_dns(self, dns: DnsAssessment, outcome: Outcome) -> Finding:
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


def _join(base: str | None, location: str) -> str | None:
    """Where a redirect leads (``Location`` may be relative); None when the URLs do not parse."""
    try:
        return urljoin(base or "", location)
    except ValueError:
        return None


def _size(length: int | None) -> str:
    return "unknown size" if length is None else f"{length:,} bytes"
