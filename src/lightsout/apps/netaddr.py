"""IP addresses as the analysis needs them: bogons and ``ip:port`` endpoints."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# Addresses that never belong to a public web server: a DNS answer pointing there is a lie or a
# local configuration (RFC 6890 special-purpose registries, as OONI's netxlite bogon list).
_BOGONS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "100::/64",
        "2001:2::/48",
        "2001:10::/28",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


def parse_ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_ip(text: str | None) -> bool:
    return parse_ip(text) is not None


def is_bogon(text: str | None) -> bool:
    """True for a special-purpose address (loopback, private, link-local, documentation...)."""
    address = parse_ip(text)
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in _BOGONS)


def split_endpoint(text: str | None) -> tuple[str, int] | None:
    """``"1.2.3.4:443"`` or ``"[2001:db8::1]:443"`` as (ip, port); None when it is not one."""
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not is_number(port):
        return None
    host = host.strip("[]")
    if parse_ip(host) is None:
        return None
    number = int(port)
    return (host, number) if 0 < number < 65536 else None


def is_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts "²", which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def url_host(url: str | None) -> str | None:
    """The host name of a URL, lower case and IDNA-encoded, or None."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return normalise_host(host) if host else None


def url_port(url: str | None) -> int | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if port is not None:
        return port
    return {"http": 80, "https": 443}.get(parts.scheme.lower())


def normalise_host(host: str) -> str:
    """Lower case, no trailing dot, IDNA (``яндекс.рф`` -> ``xn--d1acpjx3f.xn--p1ai``)."""
    name = host.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name
