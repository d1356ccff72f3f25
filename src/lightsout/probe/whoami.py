"""The vantage's public address as servers see it, learnt before measuring so the scrubber knows it.

Behind NAT (a home router, carrier-grade NAT) the address a web page echoes back is not one of the
machine's interfaces: :func:`lightsout.probe.scrub.interface_addresses` cannot know it, and a page
saying "you came from 203.0.113.7" would put the vantage's identity into a public measurement.
OONI's probe learns it the same way before each run (``probe-cli`` ``internal/enginelocate``:
STUN, DNS and HTTPS "what is my IP" services). Lightsout asks, concurrently
(``[public_address]`` in the probe's configuration, docs/probe.md):

* **DNS echoes**: a name asked *directly of its authoritative server* whose answer is the
  address the query came from: ``o-o.myaddr.l.google.com TXT`` at ns1.google.com (over IPv4 and
  IPv6), ``whoami.akamai.net A`` at ns1-1.akamaitech.net (the defaults). Asked through a
  recursive resolver they would name the resolver instead, so the server is given by address;
* **HTTP(S) echoes**: URLs answering with the client's address - a Lightsout server's
  ``GET /api/v1/whoami`` (``{"address": ...}``), Cloudflare's ``/cdn-cgi/trace`` (an ``ip=``
  line), or any service answering with the bare address.

Every address learnt joins the scrub set; a method that fails is named with its failure (OONI's
names) and nothing else happens: the probe measures anyway, and says that pages echoing its public
address may keep it. The addresses themselves are never written anywhere: the annotation
(``lightsout_public_address``) says how many were learnt and by which methods.
"""

from __future__ import annotations

import ipaddress
import json
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx

from lightsout.probe.config import DnsEcho, ProbeConfig
from lightsout.probe.netx import _DNS_RCODE_FAILURES, failure_of, tls_context

ANNOTATION = "lightsout_public_address"
REASON_ANNOTATION = "lightsout_public_address_reason"
MAX_ECHO_BYTES = 4096  # an echo is one address; anything longer is cut here
ECHO_KEYS = ("address", "ip", "client_ip", "origin", "query")  # JSON keys naming the client's address


@dataclass(frozen=True, slots=True)
class EchoResult:
    method: str  # "dns NAME TYPE at SERVER" or "http URL"
    addresses: tuple[str, ...]
    failure: str | None  # OONI's failure name, or why the answer named no address


@dataclass(frozen=True, slots=True)
class PublicAddresses:
    """What the echoes said; :attr:`addresses` go to the scrubber, :attr:`reason` to the operator."""

    results: tuple[EchoResult, ...]
    skipped: str | None = None  # why no echo was asked, when none was (e.g. "the network is down")

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(a for result in self.results for a in result.addresses)

    @property
    def state(self) -> str:
        if not self.results:
            return "not_asked"
        return "learnt" if self.addresses else "not_learnt"

    @property
    def reason(self) -> str:
        """One sentence naming the methods and their outcome (never an address), shown after
        ``public address:``."""
        if self.skipped is not None:
            return f"not asked: {self.skipped}"
        if not self.results:
            return "not asked: no echo configured ([public_address] dns and http are empty)"
        learnt = [r for r in self.results if r.addresses]
        failed = [f"{r.method}: {r.failure}" for r in self.results if r.failure]
        if learnt:
            count = len(self.addresses)
            text = f"{count} address{'es' if count != 1 else ''} learnt from " + ", ".join(
                r.method for r in learnt
            )
            return text + (f" (failed: {'; '.join(failed)})" if failed else "")
        return (
            "not learnt: every echo failed ("
            + "; ".join(failed)
            + "); a page echoing it may keep it (set LIGHTSOUT_PROBE_PUBLIC_ADDRESSES)"
        )

    def annotations(self) -> dict[str, str]:
        return {ANNOTATION: self.state, REASON_ANNOTATION: self.reason}


def addresses_in_echo(body: bytes) -> tuple[str, ...]:
    """The client addresses an HTTP echo names: JSON (an object with one of :data:`ECHO_KEYS`,
    or a string), ``key=value`` lines with ``ip=`` (Cloudflare's trace), or the bare address."""
    text = body[:MAX_ECHO_BYTES].decode("utf-8", "replace").strip()
    candidates: list[str] = []
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]  # a Lightsout server's envelope: {"data": {"address": ...}, "meta": ...}
    if isinstance(data, dict):
        for key in ECHO_KEYS:
            value = data.get(key)
            if isinstance(value, str):  # httpbin's "origin" lists the proxies after the client
                candidates.append(value.split(",", 1)[0])
    elif isinstance(data, str):
        candidates.append(data)
    elif "\n" in text or "=" in text:
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip().lower() == "ip":
                candidates.append(value)
    else:
        candidates.append(text)
    return _valid(candidates)


def _valid(candidates: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for candidate in candidates:
        try:
            address = str(ipaddress.ip_address(candidate.strip().strip('"')))
        except ValueError:
            continue
        if address not in found:
            found.append(address)
    return tuple(found)


def ask_dns(echo: DnsEcho, timeout_s: float) -> EchoResult:
    """One DNS echo: the A/AAAA addresses of the answer, or the addresses among TXT strings' words
    (Google adds ``edns0-client-subnet 198.51.100.0/24``, which is not an address and is left out)."""
    method = str(echo)
    rdtype = dns.rdatatype.from_text(echo.query_type)
    query = dns.message.make_query(echo.name, rdtype)
    try:
        response = dns.query.udp(query, echo.server.ip, timeout=timeout_s, port=echo.server.port)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, echo.server.ip, timeout=timeout_s, port=echo.server.port)
    except (OSError, dns.exception.DNSException) as exc:
        return EchoResult(method, (), failure_of(exc))
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        failure = _DNS_RCODE_FAILURES.get(rcode, f"unknown_failure: DNS rcode {dns.rcode.to_text(rcode)}")
        return EchoResult(method, (), failure)
    words: list[str] = []
    for rrset in response.answer:
        if rrset.rdtype != rdtype:
            continue
        for rdata in rrset:
            if rdtype == dns.rdatatype.TXT:
                words += [w for s in rdata.strings for w in s.decode("ascii", "replace").split()]
            else:
                words.append(rdata.address)
    found = _valid(words)
    return EchoResult(method, found, None if found else "no address in the answer")


def ask_http(url: str, timeout_s: float, cafile: str | None) -> EchoResult:
    """One HTTP(S) echo, within ``timeout_s`` in all (a server dripping its answer is cut off)."""
    method = f"http {url}"
    deadline = time.monotonic() + timeout_s
    body = bytearray()
    try:
        with (
            httpx.Client(
                timeout=timeout_s, verify=tls_context(cafile=cafile), trust_env=False, follow_redirects=False
            ) as client,
            client.stream("GET", url, headers={"Accept": "application/json, text/plain"}) as response,
        ):
            if response.status_code != 200:
                return EchoResult(method, (), f"http_status_{response.status_code}")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_ECHO_BYTES:
                    break
                if time.monotonic() > deadline:
                    return EchoResult(method, (), "generic_timeout_error")
    except httpx.TimeoutException:
        return EchoResult(method, (), "generic_timeout_error")
    except httpx.HTTPError as exc:
        return EchoResult(method, (), failure_of(_root_cause(exc)))
    found = addresses_in_echo(bytes(body))
    return EchoResult(method, found, None if found else "no address in the answer")


def _root_cause(exc: BaseException) -> BaseException:
    """The OS or TLS error under httpx's and httpcore's wrappers (OONI names that one)."""
    seen = exc
    while True:
        if isinstance(seen, OSError):  # ssl.SSLError is one too
            return seen
        inner = seen.__cause__ or seen.__context__
        if inner is None:
            return exc
        seen = inner


def discover_public_addresses(config: ProbeConfig) -> PublicAddresses:
    """Ask every configured echo at once; the slowest gives up after its timeout (DNS ``dns_s``,
    HTTP ``http_s``). Never raises for a network failure: the result names it."""
    settings = config.public_address
    if not settings.discovers:
        return PublicAddresses(())
    timeouts = config.timeouts
    cafile = str(config.ca_file) if config.ca_file is not None else None
    jobs = len(settings.dns) + len(settings.http)
    pool = ThreadPoolExecutor(max_workers=min(jobs, 8), thread_name_prefix="whoami")
    try:
        futures = [pool.submit(ask_dns, echo, timeouts.dns_s) for echo in settings.dns]
        futures += [pool.submit(ask_http, url, timeouts.http_s, cafile) for url in settings.http]
        done, _ = wait(futures, timeout=max(timeouts.dns_s, timeouts.http_s) + 1)
        names = [str(echo) for echo in settings.dns] + [f"http {url}" for url in settings.http]
        results = tuple(
            future.result() if future in done else EchoResult(name, (), "generic_timeout_error")
            for future, name in zip(futures, names, strict=True)
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return PublicAddresses(results)
