"""The instant-messaging tests: WhatsApp (ooni/spec ts-018), Telegram (ts-020), Signal (ts-029).

Each reaches the app's endpoints from :mod:`lightsout.probe.config` (OONI's real ones by default)
the way OONI's tests do, records every DNS lookup, connect, handshake and request, and writes
the test's own summary keys from those results alone - no judgement beyond the specification's
rules (``whatsapp_endpoints_status``, ``telegram_tcp_blocking``, ``signal_backend_status``...).

* **WhatsApp**: every chat endpoint is resolved and connected to on each port until one address
  answers; the registration server and WhatsApp Web (HTTPS, and plain HTTP, which must redirect
  to HTTPS) are fetched.
* **Telegram**: a connect and an HTTP POST to every data centre on ports 80 and 443 (plain HTTP
  on both, as the desktop client does), and Telegram Web over HTTPS.
* **Signal**: a GET of every backend URL over TLS verified against Signal's own root CA
  (:mod:`lightsout.probe.signal_ca`), and a lookup of ``uptime.signal.org`` (kept, not judged).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from lightsout.probe.archival import JsonObject, make_measurement
from lightsout.probe.config import Endpoint, ProbeConfig
from lightsout.probe.netx import HttpExchange, connect
from lightsout.probe.signal_ca import SIGNAL_ROOT_CA
from lightsout.probe.steps import Session


class App(enum.StrEnum):
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    SIGNAL = "signal"


TEST_VERSIONS = {App.WHATSAPP: "0.11.0", App.TELEGRAM: "0.3.0", App.SIGNAL: "0.2.5"}
NOT_REDIRECTED = "http_request_failed"  # plain-HTTP WhatsApp Web did not redirect to HTTPS


def run_app(app: App, config: ProbeConfig, resolver: Endpoint) -> JsonObject:
    """Run one app's test; returns the OONI measurement."""
    start = datetime.now(UTC)
    began = time.monotonic()
    session = Session(config, resolver)
    runners: dict[App, Callable[[Session], JsonObject]] = {
        App.WHATSAPP: _whatsapp,
        App.TELEGRAM: _telegram,
        App.SIGNAL: _signal,
    }
    summary = runners[app](session)
    scrubber = session.scrubber()
    test_keys = session.records.test_keys(scrubber)
    test_keys.update(agent="redirect", failed_operation=None, failure=None, network_events=None)
    test_keys.update(summary)
    return make_measurement(
        config, app.value, TEST_VERSIONS[app], None, start, time.monotonic() - began, test_keys, scrubber
    )


def _status(failure: str | None) -> str:
    return "ok" if failure is None else "blocked"


# -- WhatsApp -----------------------------------------------------------------------------------


def _whatsapp(session: Session) -> JsonObject:
    settings = session.config.whatsapp

    def endpoint(host: str) -> bool:
        """Whether some address of ``host`` accepted a connection on some port."""
        addresses, _failure = session.resolve(host)
        reachable = False
        for port in settings.ports:
            for ip in addresses:
                record, sock = connect(
                    session.trace, ip, port, session.config.timeouts.connect_s, session.trace.next_id()
                )
                session.records.add(record)
                if sock is not None:
                    sock.close()
                    reachable = True
                    break
        return reachable

    with ThreadPoolExecutor(max_workers=session.config.workers) as pool:
        endpoints = {host: pool.submit(endpoint, host) for host in settings.endpoints}
        registration = pool.submit(session.fetch, settings.registration_url)
        web = [pool.submit(session.fetch, url) for url in settings.web_urls]
        reached = {host: future.result() for host, future in endpoints.items()}
        registration_result = registration.result()
        web_results = [future.result() for future in web]

    web_failure: str | None = None
    for result in web_results:
        failure = result.failure
        if failure is None and result.url.startswith("http://") and not _redirects_to_https(result):
            failure = NOT_REDIRECTED
        web_failure = web_failure or failure
    blocked = [host for host, ok in reached.items() if not ok]
    return {
        "registration_server_failure": registration_result.failure,
        "registration_server_status": _status(registration_result.failure),
        "whatsapp_endpoints_blocked": blocked,
        "whatsapp_endpoints_dns_inconsistent": [],
        "whatsapp_endpoints_status": "ok" if any(reached.values()) or not reached else "blocked",
        "whatsapp_web_failure": web_failure,
        "whatsapp_web_status": _status(web_failure),
    }


def _redirects_to_https(result: HttpExchange) -> bool:
    headers = result.response.headers if result.response is not None else ()
    location = next((value for name, value in headers if name.lower() == "location"), "")
    return location.startswith("https://")


# -- Telegram -----------------------------------------------------------------------------------


def _telegram(session: Session) -> JsonObject:
    settings = session.config.telegram
    urls = [
        f"http://[{dc}]:{port}/" if ":" in dc else f"http://{dc}:{port}/"
        for dc in settings.data_centres
        for port in settings.ports
    ]
    with ThreadPoolExecutor(max_workers=session.config.workers) as pool:
        centres = [pool.submit(session.fetch, url, "POST") for url in urls]
        web = pool.submit(session.fetch, settings.web_url)
        centre_results: list[HttpExchange] = [future.result() for future in centres]
        web_result = web.result()
    connects = [t for t in session.records.tcp if t.ip in settings.data_centres]
    return {
        "telegram_http_blocking": bool(centre_results) and all(r.failure is not None for r in centre_results),
        "telegram_tcp_blocking": bool(connects) and all(t.failure is not None for t in connects),
        "telegram_web_failure": web_result.failure,
        "telegram_web_status": _status(web_result.failure),
    }


# -- Signal -------------------------------------------------------------------------------------


def _signal(session: Session) -> JsonObject:
    settings = session.config.signal
    if settings.ca_file is not None:
        context = session.context(extra_ca=settings.ca_file.read_text(encoding="ascii"))
    else:
        context = session.context(extra_ca=SIGNAL_ROOT_CA)
    with ThreadPoolExecutor(max_workers=session.config.workers) as pool:
        backends = [pool.submit(session.fetch, url, "GET", context) for url in settings.urls]
        uptime = pool.submit(session.resolve, settings.uptime_host)
        results = [future.result() for future in backends]
        uptime.result()
    failure = next((r.failure for r in results if r.failure is not None), None)
    return {"signal_backend_failure": failure, "signal_backend_status": _status(failure)}
