"""Instant messaging apps: WhatsApp, Telegram, Signal, Facebook Messenger.

These tests have no control: the services are global and up, so a failure to reach them from the
probe's network is taken as blocking (as OONI's own analysis does), except where OONI documents a
probe bug for the version and date of the measurement, which makes it inconclusive. Each test
checks a few components; the app is blocked when one component is, and the method is that of
the first blocked component:

* **WhatsApp** (ts-018): the chat endpoints ``e*.whatsapp.net`` (blocked when no TCP connect
  worked), the registration server ``https://v.whatsapp.net/v2/register`` and WhatsApp Web
  ``https://web.whatsapp.com/`` (blocked when the request failed; any HTTP status over verified
  TLS is the real server answering).
* **Telegram** (ts-020): the data centres (blocked when every TCP connect failed, or every HTTP
  request to them failed) and Telegram Web ``web.telegram.org``.
* **Signal** (ts-029): every backend request (TLS with Signal's own CA). ``uptime.signal.org``
  resolves to 127.0.0.1 by design and is not a bogon here.
* **Facebook Messenger** (ts-019): each service host must resolve into Facebook's network
  (AS32934) and accept a TCP connect.

The method of a failed request comes from its failure and the TLS handshakes: a DNS error is
``dns``; a refused or unreachable connect is ``tcp_ip``; a certificate error, or a reset, EOF or
timeout on an HTTPS request whose handshake never completed, is ``tls``; anything else after
connecting is ``http_failure``. A confirmed blockpage fingerprint on any answer is decisive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from lightsout.apps.finding import Finding, Method, accessible, blocked, inconclusive, quote
from lightsout.apps.fingerprints import FingerprintDB
from lightsout.apps.netaddr import is_bogon, is_ip, url_host
from lightsout.apps.observations import HttpObservation, Observations, parse_version
from lightsout.apps.web_access import TCP_FAILURES

APP_NAMES = {
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "signal": "Signal",
    "facebook_messenger": "Facebook Messenger",
}
FACEBOOK_ASN = 32934
_DESIGNED_LOOPBACK = frozenset({"uptime.signal.org"})  # resolves to 127.0.0.1 on purpose


def analyse_app(obs: Observations, fingerprints: FingerprintDB) -> Finding:
    analyse: dict[str, Callable[[Observations, FingerprintDB], Finding]] = {
        "whatsapp": _whatsapp,
        "telegram": _telegram,
        "signal": _signal,
        "facebook_messenger": _facebook,
    }
    found = _confirmed_fingerprint(obs, fingerprints)
    if found is not None:
        return found
    return analyse[obs.test_name](obs, fingerprints)


# -- shared -------------------------------------------------------------------------------------


def _confirmed_fingerprint(obs: Observations, fingerprints: FingerprintDB) -> Finding | None:
    for lookup in obs.dns:
        if lookup.is_encrypted:
            continue
        for address in lookup.addresses:
            for fp in fingerprints.match_dns(address):
                if fp.confirms(obs.probe_cc):
                    return blocked(
                        Method.DNS,
                        f"{lookup.hostname} resolved to {address}, a known blockpage address "
                        f"(OONI fingerprint {fp.describe()})",
                        fp.name,
                    )
    for response in obs.http:
        for fp in fingerprints.match_http(response):
            if fp.confirms(obs.probe_cc):
                return blocked(
                    Method.HTTP_BLOCKPAGE,
                    f"{quote(response.url)} answered a known blockpage (OONI fingerprint {fp.describe()})",
                    fp.name,
                )
    return None


def _request_method(obs: Observations, request: HttpObservation) -> Method:
    failure = request.failure or ""
    host = url_host(request.url)
    if failure.startswith("dns_") or failure == "android_dns_cache_no_data":
        return Method.DNS
    if failure in TCP_FAILURES:
        return Method.TCP_IP
    # A request that timed out because no connection to any of the host's addresses was made is
    # TCP/IP blocking, not TLS interference: look at the connects before the handshakes.
    addresses = {a for lookup in obs.dns if lookup.hostname == host for a in lookup.addresses}
    connects = [t for t in obs.tcp if t.ip in addresses]
    if connects and not any(t.success for t in connects):
        return Method.TCP_IP
    handshakes = [t for t in obs.tls if t.server_name == host and host is not None]
    if failure.startswith("ssl_") or "certificate" in failure or any(t.failure for t in handshakes):
        return Method.TLS
    if request.is_https and not any(t.failure is None for t in handshakes):
        return Method.TLS
    return Method.HTTP_FAILURE


def _bad_dns(obs: Observations, hosts: Callable[[str], bool]) -> str | None:
    """A lookup of one of the app's hosts that failed or returned a bogon."""
    for lookup in obs.dns:
        name = lookup.hostname or ""
        if not hosts(name) or lookup.is_encrypted:
            continue
        if (
            lookup.failure
            and not lookup.addresses
            and not (lookup.query_type == "AAAA" and lookup.failure == "dns_no_answer")
        ):
            return f"the lookup of {name} failed ({lookup.failure})"
        bogons = [ip for ip in lookup.addresses if is_bogon(ip)]
        if bogons and name not in _DESIGNED_LOOPBACK:
            return f"{name} resolved to {', '.join(bogons)}, a private or reserved address"
    return None


def _component(obs: Observations, name: str, requests: list[HttpObservation]) -> tuple[Method, str] | None:
    """A web component (one or more requests for the same thing): blocked when none of them worked."""
    if not requests or any(r.failure is None for r in requests):
        return None
    first = requests[0]
    return _request_method(obs, first), f"{name} failed ({first.failure} for {quote(first.url)})"


def _decide(app: str, blocks: list[tuple[Method, str]], works: list[str]) -> Finding:
    if blocks:
        method, reason = blocks[0]
        rest = "; ".join(r for _, r in blocks[1:])
        return blocked(method, f"{app}: {reason}" + (f"; also {rest}" if rest else ""))
    if not works:
        return inconclusive(f"{app}: the measurement holds no endpoint results")
    return accessible(f"{app}: " + "; ".join(works))


def _answered(requests: list[HttpObservation]) -> str:
    answer = next(r for r in requests if r.failure is None)
    return f"status {answer.status}" if answer.status else "no status recorded"


def _is_https(url: str | None, host: str) -> bool:
    return (url or "").lower().startswith("https://") and url_host(url) == host


# -- WhatsApp -----------------------------------------------------------------------------------


def _whatsapp(obs: Observations, _fps: FingerprintDB) -> Finding:
    blocks: list[tuple[Method, str]] = []
    works: list[str] = []
    endpoints = list(obs.tcp)
    if endpoints:
        if any(t.success for t in endpoints):
            ok = sum(t.success for t in endpoints)
            works.append(f"{ok} of {len(endpoints)} connects to the chat endpoints worked")
        else:
            bad = _bad_dns(obs, lambda h: h.endswith(".whatsapp.net") and h.startswith("e"))
            if bad is not None:
                blocks.append((Method.DNS, f"no chat endpoint reachable: {bad}"))
            else:
                blocks.append(
                    (
                        Method.TCP_IP,
                        f"all {len(endpoints)} connects to the chat endpoints failed "
                        f"({endpoints[0].failure})",
                    )
                )
    registration = [r for r in obs.http if url_host(r.url) == "v.whatsapp.net"]
    web = [r for r in obs.http if _is_https(r.url, "web.whatsapp.com")] or [
        r for r in obs.http if url_host(r.url) == "web.whatsapp.com"
    ]
    for name, requests in (("the registration server", registration), ("WhatsApp Web", web)):
        failed = _component(obs, name, requests)
        if failed is not None:
            blocks.append(failed)
        elif requests:
            works.append(f"{name} answered ({_answered(requests)})")
    return _decide("WhatsApp", blocks, works)


# -- Telegram -----------------------------------------------------------------------------------


def _telegram(obs: Observations, _fps: FingerprintDB) -> Finding:
    blocks: list[tuple[Method, str]] = []
    works: list[str] = []
    if obs.tcp:
        if any(t.success for t in obs.tcp):
            works.append(
                f"{sum(t.success for t in obs.tcp)} of {len(obs.tcp)} connects to the data centres worked"
            )
        else:
            blocks.append(
                (
                    Method.TCP_IP,
                    f"all {len(obs.tcp)} connects to the data centres failed ({obs.tcp[0].failure})",
                )
            )
    centres = [r for r in obs.http if is_ip(url_host(r.url))]
    if centres and not blocks:
        if any(r.failure is None for r in centres):
            works.append(
                f"{sum(r.failure is None for r in centres)} of {len(centres)} requests to them answered"
            )
        else:
            first = centres[0]
            blocks.append(
                (
                    _request_method(obs, first),
                    f"all {len(centres)} requests to the data centres failed ({first.failure})",
                )
            )
    web = [r for r in obs.http if url_host(r.url) == "web.telegram.org"]
    web = [r for r in web if (r.url or "").startswith("https://")] or web
    bad_dns = _bad_dns(obs, lambda h: h == "web.telegram.org")
    if bad_dns is not None and not any(r.failure is None for r in web):
        blocks.append((Method.DNS, f"Telegram Web: {bad_dns}"))
    else:
        failed = _component(obs, "Telegram Web", web)
        if failed is not None:
            blocks.append(failed)
        elif web:
            works.append(f"Telegram Web answered ({_answered(web)})")
    return _decide("Telegram", blocks, works)


# -- Signal -------------------------------------------------------------------------------------

# OONI's documented false positives (fastpath ``score_signal``): measurements before these fixes
# report blocking that is the probe's fault.
_SIGNAL_CA_CHANGE = datetime(2022, 10, 19, tzinfo=UTC)  # ooni/probe#2627: Signal's new CA, old pinned one
_SIGNAL_CA_CHANGE_AGAIN = datetime(2023, 11, 7, tzinfo=UTC)  # ooni/probe#2627 again, fixed in 0.2.5
_SIGNAL_DIRECTORY_GONE = datetime(2023, 5, 2, tzinfo=UTC)  # ooni/backend#679: api.directory retired, 3.17.2


def _signal_probe_bug(obs: Observations) -> str | None:
    version = parse_version(obs.test_version) or (0,)
    start = obs.start
    if version == (0, 2, 4):
        return "signal 0.2.4 has a known bug (ooni/probe#2636)"
    if start is None:
        return None
    if version <= (0, 2, 3) and start >= _SIGNAL_CA_CHANGE_AGAIN:
        return f"signal {obs.test_version} pins a CA Signal replaced on 2023-11-07 (ooni/probe#2627)"
    if version < (0, 2, 2) and start >= _SIGNAL_CA_CHANGE:
        return f"signal {obs.test_version} pins a CA Signal replaced on 2022-10-19 (ooni/probe#2627)"
    engine = parse_version(obs.engine_version)
    if engine is not None and engine < (3, 17, 2) and start >= _SIGNAL_DIRECTORY_GONE:
        return (
            f"engine {obs.engine_version} still tests api.directory.signal.org, retired in May 2023 "
            "(ooni/backend#679)"
        )
    return None


def _signal(obs: Observations, _fps: FingerprintDB) -> Finding:
    bug = _signal_probe_bug(obs)
    if bug is not None:
        return inconclusive(f"Signal: {bug}: its failures are the probe's, not the network's")
    blocks: list[tuple[Method, str]] = []
    works: list[str] = []
    bad = _bad_dns(obs, lambda h: h.endswith((".signal.org", ".whispersystems.org")))
    if bad is not None:
        blocks.append((Method.DNS, bad))
    failed = [r for r in obs.http if r.failure is not None]
    for request in failed:
        blocks.append((_request_method(obs, request), f"{quote(request.url)} failed ({request.failure})"))
    answered = [r for r in obs.http if r.failure is None]
    if answered:
        works.append(f"{len(answered)} of {len(obs.http)} backend requests answered over Signal's TLS")
    return _decide("Signal", blocks, works)


# -- Facebook Messenger -------------------------------------------------------------------------


def _facebook(obs: Observations, _fps: FingerprintDB) -> Finding:
    blocks: list[tuple[Method, str]] = []
    works: list[str] = []
    for lookup in obs.dns:
        name = lookup.hostname or "?"
        if lookup.failure and not lookup.addresses:
            if not (lookup.query_type == "AAAA" and lookup.failure == "dns_no_answer"):
                blocks.append((Method.DNS, f"the lookup of {name} failed ({lookup.failure})"))
            continue
        foreign = [
            a
            for a in lookup.answers
            if a.is_address and (is_bogon(a.value) or (a.asn is not None and a.asn != FACEBOOK_ASN))
        ]
        if foreign:
            where = ", ".join(f"{a.value} (AS{a.asn})" if a.asn else a.value for a in foreign[:3])
            blocks.append(
                (Method.DNS, f"{name} resolved outside Facebook's network (AS{FACEBOOK_ASN}): {where}")
            )
    failed = [t for t in obs.tcp if not t.success]
    if failed:
        blocks.append(
            (
                Method.TCP_IP,
                f"{len(failed)} of {len(obs.tcp)} connects failed, first to {failed[0].endpoint} "
                f"({failed[0].failure})",
            )
        )
    elif obs.tcp:
        works.append(f"all {len(obs.tcp)} connects to the service hosts worked")
    if obs.dns and not any(b[0] is Method.DNS for b in blocks):
        works.append(f"{len(obs.dns)} lookups gave Facebook's addresses")
    return _decide("Facebook Messenger", blocks, works)
