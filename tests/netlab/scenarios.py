"""Named censorship scenarios, after OONI's own QA scenarios (``dnsBlockingNXDOMAIN``,
``tcpBlockingConnectTimeout``...), each with what the censor does and what the verdict must be.

The censor blocks the same things in every scenario - ``www.blocked.test`` and the lab's WhatsApp,
Telegram and Signal endpoints - and never ``www.site.test``, which stays accessible throughout
(collateral damage would show there). How it blocks is the scenario:

==================  ===================================================================================
``clean``           nothing
``dns_nxdomain``    the resolver answers NXDOMAIN for the blocked names
``dns_bogon``       the resolver answers 127.0.0.1 (A) / ::1 (AAAA) for them
``tcp_timeout``     nftables drops the SYNs to the blocked addresses: connects time out
``tcp_reset``       nftables answers those SYNs with a TCP reset: connection refused
``tls_sni_reset``   a TLS ClientHello naming a blocked host gets a TCP reset (ip6tables string match)
``http_blockpage``  plain HTTP to the blocked addresses goes to the censor's proxy, which redirects
                    to the blockpage portal at 10.77.9.9 (a private address)
``throttling``      traffic from ``video.blocked.test`` leaves the censor through a 64 kbit/s HTB
                    class: its 4 MB page starts, then stalls past the probe's timeout
==================  ===================================================================================

Why a string match for SNI: the server name sits at a variable offset in the ClientHello (after
the session id, the cipher suites and the extensions before it), and nftables' payload matches
(``@th,offset,length``) only read fixed offsets; the kernel's ``xt_string`` match (through
``ip6tables``, which drives nftables' own tables) finds the name's bytes wherever they are, as a
simple DPI box does, and keeps the reset in the kernel with no proxy in the path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netlab.lab import (
    BLOCKED,
    CENSOR_TO_CLIENT,
    SIGNAL,
    TELEGRAM_DC1,
    TELEGRAM_DC2,
    TELEGRAM_WEB,
    THROTTLED_URL,
    VIDEO,
    WEB_URLS,
    WHATSAPP_CHAT,
    WHATSAPP_WEB,
    Lab,
)

BLOCKED_SERVICES = (BLOCKED, WHATSAPP_CHAT, WHATSAPP_WEB, TELEGRAM_DC1, TELEGRAM_DC2, TELEGRAM_WEB, SIGNAL)
BLOCKED_NAMES = [name for service in BLOCKED_SERVICES for name in service.names]
BLOCKED_ADDRESSES = ", ".join(service.address for service in BLOCKED_SERVICES)
SNI_PATTERNS = ("www.blocked.test", "whatsapp.", "web.telegram.org", "signal.org", "whispersystems.org")
APPS = ["whatsapp", "telegram", "signal"]


@dataclass(frozen=True)
class Expected:
    status: str
    method: str | None = None
    gap: str | None = None  # a known shortcoming of the analysis: the test is marked xfail with this reason


@dataclass(frozen=True)
class Scenario:
    name: str
    urls: tuple[str, ...]
    apps: tuple[str, ...]
    expected: dict[str, Expected]  # by URL, or by app name
    dns_policy: dict[str, list[str]] = field(default_factory=dict)
    nft: str = ""
    ip6tables: tuple[tuple[str, ...], ...] = ()
    tc: tuple[tuple[str, ...], ...] = ()

    def apply(self, lab: Lab) -> None:
        lab.reset_censor()
        lab.set_dns_policy(self.dns_policy)
        if self.nft:
            lab.ns(lab.censor, "nft", "-f", "-", stdin=self.nft)
        for rule in self.ip6tables:
            lab.ns(lab.censor, "ip6tables", *rule)
        for command in self.tc:
            lab.ns(lab.censor, "tc", *command)


def _filter(verdict: str) -> str:
    return f"""
table inet censor {{
    set blocked {{ type ipv6_addr; elements = {{ {BLOCKED_ADDRESSES} }} }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        ip6 daddr @blocked tcp flags & (syn | ack) == syn {verdict}
    }}
}}
"""


_BLOCKPAGE_NFT = f"""
table ip6 censor_nat {{
    set blocked {{ type ipv6_addr; elements = {{ {BLOCKED_ADDRESSES} }} }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip6 daddr @blocked tcp dport 80 redirect to :8080
    }}
}}
"""

_SNI_RULES = tuple(
    (
        "-A",
        "FORWARD",
        *["-p", "tcp", "--dport", "443", "-m", "string", "--algo", "bm", "--string"],
        pattern,
        *["-j", "REJECT", "--reject-with", "tcp-reset"],
    )
    for pattern in SNI_PATTERNS
)

_LINK = f"dev {CENSOR_TO_CLIENT}"
_THROTTLE = tuple(
    command.split()
    for command in (
        # HTB: everything in the unshaped default class 1:10 but what the filter puts in 1:30, 64 kbit/s
        f"qdisc add {_LINK} root handle 1: htb default 10",
        f"class add {_LINK} parent 1: classid 1:10 htb rate 10gbit",
        f"class add {_LINK} parent 1: classid 1:30 htb rate 64kbit ceil 64kbit burst 16k cburst 16k",
        f"filter add {_LINK} parent 1: protocol ipv6 u32 match ip6 src {VIDEO.address}/128 flowid 1:30",
    )
)

SITE_URL, BLOCKED_HTTP, BLOCKED_HTTPS = WEB_URLS
ACCESSIBLE = Expected("accessible")


def _all(expected: Expected, **apps: Expected) -> dict[str, Expected]:
    """``expected`` for the blocked site and every app (``apps`` overrides one); the open site accessible."""
    found = {SITE_URL: ACCESSIBLE, BLOCKED_HTTP: expected, BLOCKED_HTTPS: expected}
    found.update({app: apps.get(app, expected) for app in APPS})
    return found


SCENARIOS = (
    Scenario(
        "clean",
        (*WEB_URLS, THROTTLED_URL),
        tuple(APPS),
        {**_all(ACCESSIBLE), THROTTLED_URL: ACCESSIBLE},
    ),
    Scenario(
        "dns_nxdomain",
        WEB_URLS,
        tuple(APPS),
        _all(Expected("blocked", "dns")),
        dns_policy={"nxdomain": BLOCKED_NAMES},
    ),
    Scenario(
        "dns_bogon",
        WEB_URLS,
        tuple(APPS),
        _all(Expected("blocked", "dns")),
        dns_policy={"bogon": BLOCKED_NAMES},
    ),
    Scenario(
        "tcp_timeout",
        WEB_URLS,
        tuple(APPS),
        _all(Expected("blocked", "tcp_ip")),
        nft=_filter("drop"),
    ),
    Scenario(
        "tcp_reset",
        WEB_URLS,
        tuple(APPS),
        _all(Expected("blocked", "tcp_ip")),
        nft=_filter("reject with tcp reset"),
    ),
    Scenario(
        "tls_sni_reset",
        WEB_URLS,
        tuple(APPS),
        # plain HTTP carries no ClientHello: the http:// page still loads, as under a real SNI filter
        {**_all(Expected("blocked", "tls")), BLOCKED_HTTP: ACCESSIBLE},
        ip6tables=_SNI_RULES,
    ),
    Scenario(
        "http_blockpage",
        WEB_URLS,
        (),
        # only plain HTTP can be rewritten; HTTPS to the same site is untouched
        {
            SITE_URL: ACCESSIBLE,
            BLOCKED_HTTP: Expected("blocked", "http_blockpage"),
            BLOCKED_HTTPS: ACCESSIBLE,
        },
        nft=_BLOCKPAGE_NFT,
    ),
    Scenario(
        "throttling",
        (SITE_URL, THROTTLED_URL),
        (),
        {SITE_URL: ACCESSIBLE, THROTTLED_URL: Expected("blocked", "throttling")},
        tc=_THROTTLE,
    ),
)
