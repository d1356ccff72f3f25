"""Web Connectivity from the user's own network (the data format of OONI's 0.5 test, ts-017).

For the URL and each redirect after it (``depth=N``):

1. resolve the host with the configured resolver (each query type of the config);
2. connect to every address at the URL's port and, for ``https``, complete a TLS handshake with
   the host as SNI, verifying the certificate; for ``http`` URLs also connect and shake hands on
   port 443, as the 0.5 test does, which tells whether an address really serves the domain;
3. fetch the page over the first connection (in address order) that worked at the URL's own port
   (tagged ``fetch_body=true``; the others ``fetch_body=false``), keeping status, headers, body
   and title, then follow a redirect if there is one.

Every record is tagged ``depth=N`` and ``classic`` (the resolver's own addresses). There is no
test helper: ``test_keys.control`` is written from the configured expectations of the URL
(:class:`lightsout.probe.config.Control`), and ``annotations.control_source`` says so; a URL with
none has ``control_failure``. The summary keys (``blocking``, ``accessible``, the HTTP
comparisons) come from Lightsout's own analysis of the finished measurement
(:func:`lightsout.apps.verdict.analyse`), mapped to OONI's values.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from lightsout.probe.archival import JsonObject, as_measurement, endpoint_text, make_measurement
from lightsout.probe.config import Control, Endpoint, ProbeConfig
from lightsout.probe.netx import HttpExchange, TcpConnect, TlsHandshake, connect, exchange, handshake
from lightsout.probe.steps import Session

TEST_NAME = "web_connectivity"
TEST_VERSION = "0.5.28"
MAX_ADDRESSES = 8  # addresses tried per host
NO_CONTROL = "unknown_failure: no control expectation configured for this URL"


@dataclass(slots=True)
class _Flow:
    tcp: TcpConnect
    tls: TlsHandshake | None
    sock: socket.socket | None  # open when the connection (and handshake) worked
    fetchable: bool  # at the URL's own scheme and port


def run_web_connectivity(config: ProbeConfig, resolver: Endpoint, url: str) -> JsonObject:
    """Measure one URL; returns the OONI measurement (see the module docstring)."""
    start = datetime.now(UTC)
    began = time.monotonic()
    session = Session(config, resolver)
    failure = _measure(session, url)
    scrubber = session.scrubber()
    test_keys = session.records.test_keys(scrubber)
    control = config.controls.get(url)
    test_keys.update(_control_keys(control, url, session))
    test_keys["dns_experiment_failure"] = _first_dns_failure(session, url)
    test_keys["http_experiment_failure"] = failure
    test_keys["x_dns_flags"] = 0
    test_keys["x_blocking_flags"] = 0
    measurement = make_measurement(
        config,
        TEST_NAME,
        TEST_VERSION,
        url,
        start,
        time.monotonic() - began,
        test_keys,
        scrubber,
        {"control_source": "config" if control is not None else "none"},
    )
    measurement["test_keys"].update(summary_keys(measurement))
    return measurement


def _measure(session: Session, url: str) -> str | None:
    """Walk the URL and its redirects; returns the failure that ended the walk (None: a page came back)."""
    config = session.config
    current = url
    for depth in range(config.max_redirects + 1):
        tags = (f"depth={depth}", "classic")
        parts = urlsplit(current)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        if scheme not in ("http", "https") or not host:
            return f"unknown_failure: cannot follow the redirect to {current!r}"
        port = parts.port or (443 if scheme == "https" else 80)
        addresses, dns_failure = session.resolve(host, tags)
        if not addresses:
            return dns_failure
        flows = _connect_all(session, host, scheme, port, addresses[:MAX_ADDRESSES], tags)
        chosen = next((f for f in flows if f.fetchable and f.sock is not None), None)
        for flow in flows:
            if flow is not chosen and flow.sock is not None:
                flow.sock.close()
            _record_flow(session, flow, (*tags, f"fetch_body={'true' if flow is chosen else 'false'}"))
        if chosen is None or chosen.sock is None:
            main = [f for f in flows if f.fetchable]
            failed = next((f for f in main if f.tcp.failure or (f.tls is not None and f.tls.failure)), None)
            if failed is None:
                return "unknown_failure: no connection"
            return failed.tls.failure if failed.tls is not None and failed.tls.failure else failed.tcp.failure
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        result = exchange(
            session.trace,
            chosen.sock,
            "GET",
            current,
            path,
            session.request_headers(host, port, scheme),
            config.timeouts.http_s,
            config.max_body_bytes,
            chosen.tcp.transaction_id,
            (*tags, "fetch_body=true"),
        )
        session.records.add(result)
        if result.failure is not None:
            return result.failure
        location = _redirect(result)
        if location is None:
            return None
        current = urljoin(current, location)
    return "unknown_failure: stopped after too many redirects"


def _connect_all(
    session: Session, host: str, scheme: str, port: int, addresses: list[str], tags: tuple[str, ...]
) -> list[_Flow]:
    plans: list[tuple[str, int, bool, bool]] = []  # ip, port, tls, fetchable
    for ip in addresses:
        plans.append((ip, port, scheme == "https", True))
        if scheme == "http" and port != 443:
            plans.append((ip, 443, True, False))
    context = session.context()
    timeouts = session.config.timeouts

    def run(plan: tuple[str, int, bool, bool]) -> _Flow:
        ip, flow_port, use_tls, fetchable = plan
        tid = session.trace.next_id()
        tcp, sock = connect(session.trace, ip, flow_port, timeouts.connect_s, tid)
        if sock is None or not use_tls:
            return _Flow(tcp, None, sock, fetchable)
        tls, tls_sock = handshake(session.trace, sock, host, context, timeouts.tls_s, tid)
        return _Flow(tcp, tls, tls_sock, fetchable)

    with ThreadPoolExecutor(max_workers=min(session.config.workers, len(plans))) as pool:
        return list(pool.map(run, plans))


def _record_flow(session: Session, flow: _Flow, tags: tuple[str, ...]) -> None:
    tcp = flow.tcp
    session.records.add(TcpConnect(tcp.ip, tcp.port, tcp.failure, tcp.t0, tcp.t, tcp.transaction_id, tags))
    if flow.tls is not None:
        tls = flow.tls
        session.records.add(
            TlsHandshake(
                tls.ip,
                tls.port,
                tls.server_name,
                tls.failure,
                tls.tls_version,
                tls.cipher_suite,
                tls.negotiated_protocol,
                tls.peer_certificates,
                tls.t0,
                tls.t,
                tls.transaction_id,
                tags,
            )
        )


def _redirect(result: HttpExchange) -> str | None:
    response = result.response
    if response is None or response.status not in (301, 302, 303, 307, 308):
        return None
    return next((value for name, value in response.headers if name.lower() == "location"), None)


def _first_dns_failure(session: Session, url: str) -> str | None:
    host = (urlsplit(url).hostname or "").rstrip(".")
    lookups = [q for q in session.records.queries if q.hostname == host and "depth=0" in q.tags]
    if not lookups or any(q.addresses for q in lookups):
        return None
    return next((q.failure for q in lookups if q.failure and q.failure != "dns_no_answer"), "dns_no_answer")


def _control_keys(control: Control | None, url: str, session: Session) -> JsonObject:
    """``test_keys.control`` from the configured expectations (OONI's test helper format)."""
    if control is None:
        return {"control": None, "control_failure": NO_CONTROL}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if scheme == "https" else 80)
    tls_ports = [port] if scheme == "https" else ([443] if port != 443 else [])
    ports = [port, *(p for p in tls_ports if p != port)]
    resolved = {a for q in session.records.queries for a in q.addresses}
    tcp_connect = {
        endpoint_text(ip, p): {"status": True, "failure": None} for ip in control.addresses for p in ports
    }
    tls_handshake = {
        endpoint_text(ip, p): {"server_name": host, "status": True, "failure": None}
        for ip in control.addresses
        for p in tls_ports
    }
    http_request: JsonObject | None = None
    if control.status_code is not None:
        http_request = {
            "body_length": control.body_length if control.body_length is not None else -1,
            "discovered_h3_endpoint": "",
            "failure": None,
            "title": control.title or "",
            "headers": {name: "" for name in control.headers},
            "status_code": control.status_code,
        }
    ip_info = {ip: {"asn": 0, "flags": 2 | 8 | (1 if ip in resolved else 0)} for ip in control.addresses}
    return {
        "control": {
            "tcp_connect": tcp_connect,
            "tls_handshake": tls_handshake,
            "http_request": http_request,
            "dns": {"failure": control.dns_failure, "addrs": list(control.addresses)},
            "ip_info": ip_info,
        },
        "control_failure": None,
    }


# -- summary keys ---------------------------------------------------------------------------

_BLOCKING = {
    "dns": "dns",
    "tcp_ip": "tcp_ip",
    "http_diff": "http-diff",
    "http_blockpage": "http-diff",
}


def summary_keys(measurement: JsonObject) -> JsonObject:
    """OONI's summary keys of Web Connectivity, from Lightsout's analysis of ``measurement``."""
    from lightsout.apps.finding import Status
    from lightsout.apps.httpdiff import compare_http
    from lightsout.apps.observations import make_observations
    from lightsout.apps.verdict import analyse

    record = as_measurement(measurement)
    verdict = analyse(record)
    keys: JsonObject = {
        "dns_consistency": None,
        "body_length_match": None,
        "body_proportion": None,
        "status_code_match": None,
        "headers_match": None,
        "title_match": None,
    }
    obs = make_observations(record)
    control = obs.control
    fetched = [h for h in obs.http if h.failure is None and not h.is_redirect]
    if control is not None and control.http is not None and fetched:
        comparison = compare_http(fetched[-1], control.http)
        keys.update(
            body_length_match=comparison.body_length_match,
            body_proportion=comparison.body_proportion,
            status_code_match=comparison.status_match,
            headers_match=comparison.headers_match,
            title_match=comparison.title_match,
        )
    if control is not None and control.dns_addresses is not None:
        probe_addresses = {a for d in obs.dns if d.depth == 0 for a in d.addresses}
        keys["dns_consistency"] = (
            "consistent"
            if probe_addresses & set(control.dns_addresses) or not probe_addresses
            else "inconsistent"
        )
    if verdict.status is Status.ACCESSIBLE:
        keys.update(blocking=False, accessible=True)
    elif verdict.status is Status.DOWN:
        keys.update(blocking=False, accessible=False)
    elif verdict.status is Status.BLOCKED and verdict.method is not None:
        keys.update(blocking=_BLOCKING.get(verdict.method.value, "http-failure"), accessible=False)
    else:
        keys.update(blocking=None, accessible=None)
    return keys
