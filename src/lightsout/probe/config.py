"""What the probe measures and how: resolver, timeouts, trust anchors, app endpoints, controls.

Read from a TOML file (``lightsout probe --config FILE``); every key is optional and the defaults
below are the documented ones (docs/probe.md). Strings become typed values here, once:
``"10.0.0.1:5353"`` an :class:`Endpoint`, ``"AS0"`` an ``int``.

The app endpoints default to the real ones OONI's specifications test (ooni/spec ts-018 WhatsApp,
ts-020 Telegram, ts-029 Signal); the lab in ``tests/netlab`` replaces all of them with its own.
There is no default *control* for a URL: without a test helper the probe only knows what the
uncensored answer looks like when the configuration says so (``[[web.control]]``).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lightsout.errors import UserError

# ooni/spec ts-018: the chat endpoints, tried on ports 443 and 5222.
WHATSAPP_ENDPOINTS = tuple(f"e{n}.whatsapp.net" for n in range(1, 17))
WHATSAPP_PORTS = (443, 5222)
WHATSAPP_REGISTRATION_URL = "https://v.whatsapp.net/v2/register"
WHATSAPP_WEB_URLS = ("https://web.whatsapp.com/", "http://web.whatsapp.com/")
# ooni/spec ts-020: the access points of Telegram's desktop client, ports 80 and 443 (plain HTTP).
TELEGRAM_DATA_CENTRES = (
    "149.154.175.50",
    "149.154.167.51",
    "149.154.175.100",
    "149.154.167.91",
    "149.154.171.5",
)
TELEGRAM_PORTS = (80, 443)
TELEGRAM_WEB_URL = "https://web.telegram.org/"
# ooni/spec ts-029 and ooni/probe-cli's signal experiment (api.directory.signal.org retired in 2023).
SIGNAL_URLS = (
    "https://textsecure-service.whispersystems.org/",
    "https://storage.signal.org/",
    "https://cdn.signal.org/",
    "https://cdn2.signal.org/",
    "https://sfu.voip.signal.org/",
)
SIGNAL_UPTIME_HOST = "uptime.signal.org"  # looked up only; resolves to 127.0.0.1 by design

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
QUERY_TYPES = ("A", "AAAA")
UNKNOWN_CC = "ZZ"  # OONI's "unknown country"
_ASN = re.compile(r"(?:AS)?(\d{1,10})", re.IGNORECASE)
_CC = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class Timeouts:
    dns_s: float = 4.0  # one DNS query
    connect_s: float = 10.0  # one TCP connect
    tls_s: float = 10.0  # one TLS handshake
    http_s: float = 15.0  # one HTTP exchange after connecting: request, headers and body


@dataclass(frozen=True, slots=True)
class Control:
    """What the uncensored answer for one URL looks like (the verdict's control)."""

    url: str
    addresses: tuple[str, ...] = ()  # the host's real addresses
    dns_failure: str | None = None  # e.g. "dns_nxdomain_error": the name does not exist anywhere
    status_code: int | None = None
    body_length: int | None = None  # bytes
    title: str | None = None
    headers: tuple[str, ...] = ()  # names of the headers the real site sends


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    endpoints: tuple[str, ...] = WHATSAPP_ENDPOINTS
    ports: tuple[int, ...] = WHATSAPP_PORTS
    registration_url: str = WHATSAPP_REGISTRATION_URL
    web_urls: tuple[str, ...] = WHATSAPP_WEB_URLS


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    data_centres: tuple[str, ...] = TELEGRAM_DATA_CENTRES
    ports: tuple[int, ...] = TELEGRAM_PORTS
    web_url: str = TELEGRAM_WEB_URL


@dataclass(frozen=True, slots=True)
class SignalConfig:
    urls: tuple[str, ...] = SIGNAL_URLS
    uptime_host: str = SIGNAL_UPTIME_HOST
    ca_file: Path | None = None  # None: Signal's own root CA (lightsout.probe.signal_ca)


# Names looked up before any test to tell an offline machine or a broken resolver from censorship
# (lightsout.probe.netcheck): widely used names, and a second resolver independent of the network's.
NETWORK_CHECK_NAMES = ("example.com", "www.wikipedia.org", "www.google.com")
SECOND_RESOLVER = "9.9.9.9"  # Quad9


@dataclass(frozen=True, slots=True)
class NetworkCheckConfig:
    names: tuple[str, ...] = NETWORK_CHECK_NAMES
    second_resolver: Endpoint | None = Endpoint(SECOND_RESOLVER, 53)  # None: no second resolver
    port: int = 443  # the control hosts are connected to on this port


# How the probe learns its public address (behind NAT) as servers see it, to scrub it
# (lightsout.probe.whoami): a query straight to an authoritative server that answers with the
# address the query came from (Google's o-o.myaddr, Akamai's whoami), and optional HTTP(S) echo
# URLs (e.g. a Lightsout server's /api/v1/whoami).
GOOGLE_NS1 = ("216.239.32.10", "2001:4860:4802:32::a")  # ns1.google.com
AKAMAI_NS1 = "193.108.88.1"  # ns1-1.akamaitech.net


@dataclass(frozen=True, slots=True)
class DnsEcho:
    """A name whose answer, asked of ``server`` directly, is the address the query came from."""

    name: str
    query_type: str  # "TXT", "A" or "AAAA"
    server: Endpoint

    def __str__(self) -> str:
        return f"dns {self.name} {self.query_type} at {self.server}"


DNS_ECHOES = (
    DnsEcho("o-o.myaddr.l.google.com", "TXT", Endpoint(GOOGLE_NS1[0], 53)),
    DnsEcho("o-o.myaddr.l.google.com", "TXT", Endpoint(GOOGLE_NS1[1], 53)),
    DnsEcho("whoami.akamai.net", "A", Endpoint(AKAMAI_NS1, 53)),
)


@dataclass(frozen=True, slots=True)
class PublicAddressConfig:
    addresses: tuple[str, ...] = ()  # known to the operator (or learnt before the run): scrubbed
    dns: tuple[DnsEcho, ...] = DNS_ECHOES
    http: tuple[str, ...] = ()  # echo URLs: a JSON {"address": ...}, an ``ip=`` line, or a bare address

    @property
    def discovers(self) -> bool:
        return bool(self.dns or self.http)


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    probe_cc: str = UNKNOWN_CC
    probe_asn: int = 0  # 0 is OONI's "unknown network" (AS0)
    network_name: str = ""
    resolver: Endpoint | None = None  # None: the first nameserver of /etc/resolv.conf
    query_types: tuple[str, ...] = QUERY_TYPES
    timeouts: Timeouts = field(default_factory=Timeouts)
    ca_file: Path | None = None  # extra trust anchors, added to the system's
    user_agent: str = DEFAULT_USER_AGENT
    max_body_bytes: int = 1 << 24
    max_redirects: int = 10
    workers: int = 8  # concurrent operations within one test
    controls: dict[str, Control] = field(default_factory=dict)  # by URL
    whatsapp: WhatsAppConfig = field(default_factory=WhatsAppConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    signal: SignalConfig = field(default_factory=SignalConfig)
    network_check: NetworkCheckConfig = field(default_factory=NetworkCheckConfig)
    public_address: PublicAddressConfig = field(default_factory=PublicAddressConfig)

    @property
    def probe_asn_text(self) -> str:
        return f"AS{self.probe_asn}"


def load_config(path: Path | None) -> ProbeConfig:
    """The configuration in ``path`` (TOML), or the defaults when ``path`` is None."""
    if path is None:
        return ProbeConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, str(path), path.parent)


def parse_config(raw: dict[str, Any], where: str = "config", base: Path | None = None) -> ProbeConfig:
    """Typed configuration from parsed TOML; relative paths are taken from ``base``."""
    reader = _Reader(where, base or Path.cwd())
    return reader.config(raw)


def parse_endpoint(text: str, default_port: int = 53) -> Endpoint:
    """``1.2.3.4``, ``1.2.3.4:53``, ``2001:db8::1`` or ``[2001:db8::1]:53``; ValueError otherwise."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"not an address: {text!r}")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"not an address[:port]: {text!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"not an address[:port]: {text!r}")
        port = int(port_text)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"not an IP address: {host!r} (the resolver is given by address)") from None
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    return Endpoint(str(ip), port)


def _leaf(key: str) -> str:
    """``"apps.signal.urls"`` -> ``"urls"``: the key inside its table (the full path is for messages)."""
    return key.rsplit(".", 1)[-1]


class _Reader:
    def __init__(self, where: str, base: Path) -> None:
        self.where = where
        self.base = base

    def fail(self, key: str, message: str) -> UserError:
        return UserError(f"{self.where}: {key}: {message}")

    def table(self, raw: dict[str, Any], key: str, known: set[str]) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        unknown = sorted(set(value) - known)
        if unknown:
            raise self.fail(key, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return value

    def text(self, raw: dict[str, Any], key: str, default: str) -> str:
        value = raw.get(_leaf(key), default)
        if not isinstance(value, str):
            raise self.fail(key, "expected a string")
        return value

    def number(self, raw: dict[str, Any], key: str, default: float) -> float:
        value = raw.get(_leaf(key), default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(key, "expected a positive number")
        return float(value)

    def integer(self, raw: dict[str, Any], key: str, default: int) -> int:
        value = raw.get(_leaf(key), default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, "expected a non-negative integer")
        return value

    def strings(self, raw: dict[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = raw.get(_leaf(key), list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings")
        return tuple(value)

    def ports(self, raw: dict[str, Any], key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = raw.get(_leaf(key), list(default))
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 for v in value
        ):
            raise self.fail(key, "expected a list of port numbers")
        return tuple(value)

    def path(self, raw: dict[str, Any], key: str) -> Path | None:
        value = raw.get(_leaf(key))
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, "expected a file name")
        path = Path(value)
        path = path if path.is_absolute() else self.base / path
        if not path.is_file():
            raise self.fail(key, f"no such file: {path}")
        return path

    def url(self, value: str, key: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail(key, f"not an http(s) URL: {value!r}")
        return value

    def config(self, raw: dict[str, Any]) -> ProbeConfig:
        tables = {"probe", "dns", "timeouts", "tls", "http", "web", "apps", "network_check", "public_address"}
        unknown = sorted(set(raw) - tables)
        if unknown:
            raise UserError(f"{self.where}: unknown table(s) {', '.join(unknown)}")
        probe = self.table(raw, "probe", {"country", "asn", "network_name"})
        dns = self.table(raw, "dns", {"resolver", "query_types"})
        timeouts = self.table(raw, "timeouts", {"dns_s", "connect_s", "tls_s", "http_s"})
        tls = self.table(raw, "tls", {"ca_file"})
        http = self.table(raw, "http", {"user_agent", "max_body_bytes", "max_redirects", "workers"})
        web = self.table(raw, "web", {"control"})
        apps = self.table(raw, "apps", {"whatsapp", "telegram", "signal"})

        country = self.text(probe, "probe.country", UNKNOWN_CC).strip().upper()
        if not _CC.fullmatch(country):
            raise self.fail("probe.country", f"not an ISO 3166-1 alpha-2 code: {country!r}")
        asn_value = probe.get("asn", 0)
        asn_match = _ASN.fullmatch(str(asn_value).strip()) if not isinstance(asn_value, bool) else None
        if asn_match is None or int(asn_match.group(1)) > 2**32 - 1:
            raise self.fail("probe.asn", f'not an AS number: {asn_value!r} (e.g. "AS12880")')

        resolver: Endpoint | None = None
        if "resolver" in dns:
            try:
                resolver = parse_endpoint(self.text(dns, "dns.resolver", ""))
            except ValueError as exc:
                raise self.fail("dns.resolver", str(exc)) from None
        query_types = tuple(q.upper() for q in self.strings(dns, "dns.query_types", QUERY_TYPES))
        if not query_types or not set(query_types) <= {"A", "AAAA"}:
            raise self.fail("dns.query_types", 'expected a non-empty list of "A" and/or "AAAA"')

        defaults = Timeouts()
        times = Timeouts(
            dns_s=self.number(timeouts, "timeouts.dns_s", defaults.dns_s),
            connect_s=self.number(timeouts, "timeouts.connect_s", defaults.connect_s),
            tls_s=self.number(timeouts, "timeouts.tls_s", defaults.tls_s),
            http_s=self.number(timeouts, "timeouts.http_s", defaults.http_s),
        )
        controls = self.controls(web.get("control", []))
        return ProbeConfig(
            probe_cc=country,
            probe_asn=int(asn_match.group(1)),
            network_name=self.text(probe, "probe.network_name", ""),
            resolver=resolver,
            query_types=query_types,
            timeouts=times,
            ca_file=self.path(tls, "tls.ca_file"),
            user_agent=self.text(http, "http.user_agent", DEFAULT_USER_AGENT),
            max_body_bytes=max(1, self.integer(http, "http.max_body_bytes", 1 << 24)),
            max_redirects=self.integer(http, "http.max_redirects", 10),
            workers=max(1, self.integer(http, "http.workers", 8)),
            controls=controls,
            whatsapp=self.whatsapp(apps),
            telegram=self.telegram(apps),
            signal=self.signal(apps),
            network_check=self.network_check(raw),
            public_address=self.public_address(raw),
        )

    def public_address(self, raw: dict[str, Any]) -> PublicAddressConfig:
        table = self.table(raw, "public_address", {"addresses", "dns", "http"})
        addresses = self.strings(table, "public_address.addresses", ())
        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise self.fail("public_address.addresses", f"not an IP address: {address!r}") from None
        urls = tuple(
            self.url(u, "public_address.http") for u in self.strings(table, "public_address.http", ())
        )
        echoes: tuple[DnsEcho, ...] = DNS_ECHOES
        if "dns" in table:
            items = table["dns"]
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise self.fail("public_address.dns", "expected an array of tables ([[public_address.dns]])")
            echoes = tuple(self.dns_echo(item, f"public_address.dns[{i}]") for i, item in enumerate(items))
        return PublicAddressConfig(tuple(addresses), echoes, urls)

    def dns_echo(self, item: dict[str, Any], key: str) -> DnsEcho:
        unknown = sorted(set(item) - {"name", "type", "server"})
        if unknown:
            raise self.fail(key, f"unknown key(s) {', '.join(unknown)} (known: name, server, type)")
        name = self.text(item, f"{key}.name", "").strip()
        if not name:
            raise self.fail(f"{key}.name", "expected a DNS name")
        query_type = self.text(item, f"{key}.type", "TXT").strip().upper()
        if query_type not in ("TXT", "A", "AAAA"):
            raise self.fail(f"{key}.type", f'expected "TXT", "A" or "AAAA", not {query_type!r}')
        try:
            server = parse_endpoint(self.text(item, f"{key}.server", ""))
        except ValueError as exc:
            raise self.fail(f"{key}.server", str(exc)) from None
        return DnsEcho(name, query_type, server)

    def network_check(self, raw: dict[str, Any]) -> NetworkCheckConfig:
        table = self.table(raw, "network_check", {"names", "second_resolver", "port"})
        names = self.strings(table, "network_check.names", NETWORK_CHECK_NAMES)
        if not names:
            raise self.fail("network_check.names", "expected at least one control name")
        second: Endpoint | None = Endpoint(SECOND_RESOLVER, 53)
        if "second_resolver" in table:
            text = self.text(table, "network_check.second_resolver", "").strip()
            try:
                second = parse_endpoint(text) if text else None
            except ValueError as exc:
                raise self.fail("network_check.second_resolver", str(exc)) from None
        port = self.integer(table, "network_check.port", 443)
        if not 0 < port < 65536:
            raise self.fail("network_check.port", f"port out of range: {port}")
        return NetworkCheckConfig(names, second, port)

    def controls(self, raw: object) -> dict[str, Control]:
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise self.fail("web.control", "expected an array of tables ([[web.control]])")
        found: dict[str, Control] = {}
        known = {"url", "addresses", "dns_failure", "status_code", "body_length", "title", "headers"}
        for index, item in enumerate(raw):
            key = f"web.control[{index}]"
            unknown = sorted(set(item) - known)
            if unknown:
                raise self.fail(key, f"unknown key(s) {', '.join(unknown)}")
            url = self.url(self.text(item, f"{key}.url", ""), f"{key}.url")
            addresses = self.strings(item, f"{key}.addresses", ())
            for address in addresses:
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    raise self.fail(f"{key}.addresses", f"not an IP address: {address!r}") from None
            status = item.get("status_code")
            if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
                raise self.fail(f"{key}.status_code", "expected an integer")
            length = item.get("body_length")
            if length is not None:
                length = self.integer(item, f"{key}.body_length", 0)
            title = item.get("title")
            if title is not None and not isinstance(title, str):
                raise self.fail(f"{key}.title", "expected a string")
            dns_failure = item.get("dns_failure")
            if dns_failure is not None and not isinstance(dns_failure, str):
                raise self.fail(f"{key}.dns_failure", "expected an OONI failure string")
            found[url] = Control(
                url=url,
                addresses=tuple(str(ipaddress.ip_address(a)) for a in addresses),
                dns_failure=dns_failure,
                status_code=status,
                body_length=length,
                title=title,
                headers=self.strings(item, f"{key}.headers", ()),
            )
        return found

    def whatsapp(self, apps: dict[str, Any]) -> WhatsAppConfig:
        raw = self.table(apps, "whatsapp", {"endpoints", "ports", "registration_url", "web_urls"})
        return WhatsAppConfig(
            endpoints=self.strings(raw, "apps.whatsapp.endpoints", WHATSAPP_ENDPOINTS),
            ports=self.ports(raw, "apps.whatsapp.ports", WHATSAPP_PORTS),
            registration_url=self.url(
                self.text(raw, "apps.whatsapp.registration_url", WHATSAPP_REGISTRATION_URL),
                "apps.whatsapp.registration_url",
            ),
            web_urls=tuple(
                self.url(u, "apps.whatsapp.web_urls")
                for u in self.strings(raw, "apps.whatsapp.web_urls", WHATSAPP_WEB_URLS)
            ),
        )

    def telegram(self, apps: dict[str, Any]) -> TelegramConfig:
        raw = self.table(apps, "telegram", {"data_centres", "ports", "web_url"})
        centres = self.strings(raw, "apps.telegram.data_centres", TELEGRAM_DATA_CENTRES)
        for centre in centres:
            try:
                ipaddress.ip_address(centre)
            except ValueError:
                raise self.fail("apps.telegram.data_centres", f"not an IP address: {centre!r}") from None
        return TelegramConfig(
            data_centres=centres,
            ports=self.ports(raw, "apps.telegram.ports", TELEGRAM_PORTS),
            web_url=self.url(
                self.text(raw, "apps.telegram.web_url", TELEGRAM_WEB_URL), "apps.telegram.web_url"
            ),
        )

    def signal(self, apps: dict[str, Any]) -> SignalConfig:
        raw = self.table(apps, "signal", {"urls", "uptime_host", "ca_file"})
        return SignalConfig(
            urls=tuple(
                self.url(u, "apps.signal.urls") for u in self.strings(raw, "apps.signal.urls", SIGNAL_URLS)
            ),
            uptime_host=self.text(raw, "apps.signal.uptime_host", SIGNAL_UPTIME_HOST),
            ca_file=self.path(raw, "apps.signal.ca_file"),
        )
