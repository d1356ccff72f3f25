"""The censorship lab: three network namespaces on this machine, joined by veth pairs.

    client  --veth--  censor (router)  --veth--  internet
    10.77.1.2         10.77.1.1 | 10.77.2.1      10.77.2.2
    3fff:77:1::2      3fff:77:1::1 | 3fff:77:2::1  3fff:77:2::2
                      portal 10.77.9.9            resolver 10.77.100.53, services 3fff:77:100::/64

* **internet** runs the lab's resolver and web servers (``servers.py``, role ``internet``).
  The services that stand for public sites and apps live in ``3fff:77:100::/64``: part of
  ``3fff::/20``, IPv6's documentation prefix (RFC 9637), routed nowhere on the real internet. They
  cannot live in 10.0.0.0/8: the analysis, like OONI's, takes a private address in a DNS answer
  for a lie (a bogon), so a lab site at 10.77.x.x would read as "not a public site".
  Everything else - links, resolver, the censor's portal - is in 10.77.0.0/16.
* **censor** forwards between the two and applies a scenario (``scenarios.py``): nftables rules,
  an ip6tables string match (SNI), a tc qdisc, and runs the blockpage portal and proxy
  (``servers.py``, role ``censor``).
* **client** runs the probe (``ip netns exec``), with routes to the lab's prefixes only: any other
  destination is unreachable from it, and nothing in the lab has a link to the host's network.

Namespace names carry this process's id and a random part, so runs never collide; ``close()``
stops the servers this object started (by their Popen handle) and deletes the namespaces, and
``sweep_stale()`` deletes namespaces left by a run whose process is gone.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from netlab.certs import make_certificates
from netlab.pages import page_body

CLIENT_V4, CLIENT_V6 = "10.77.1.2", "3fff:77:1::2"
CENSOR_IN_V4, CENSOR_IN_V6 = "10.77.1.1", "3fff:77:1::1"
CENSOR_OUT_V4, CENSOR_OUT_V6 = "10.77.2.1", "3fff:77:2::1"
SERVER_V4, SERVER_V6 = "10.77.2.2", "3fff:77:2::2"
RESOLVER = "10.77.100.53"
PORTAL = "10.77.9.9"
LAB_V4, LAB_V6 = "10.77.0.0/16", "3fff:77::/32"
SERVICES_V4, SERVICES_V6 = "10.77.100.0/24", "3fff:77:100::/64"
CLIENT_LINK = "c0"  # in client; its peer "c1" is in censor
SERVER_LINK = "s0"  # in internet; its peer "s1" is in censor
CENSOR_TO_CLIENT = "c1"

NETLAB = Path(__file__).resolve().parent
_NAME = re.compile(r"^lso-(\d+)-[0-9a-f]+-(cli|cen|net)$")
TOOLS = ("ip", "nft", "ip6tables", "tc", "sysctl", "openssl")


@dataclass(frozen=True)
class Service:
    address: str  # in SERVICES_V6
    names: tuple[str, ...]
    listeners: tuple[tuple[int, bool], ...]  # (port, tls)


WEB = ((80, False), (443, True))
SITE = Service("3fff:77:100::10", ("www.site.test",), WEB)
BLOCKED = Service("3fff:77:100::20", ("www.blocked.test",), WEB)
VIDEO = Service("3fff:77:100::30", ("video.blocked.test",), WEB)
CHAT = ((443, True), (5222, False))
WHATSAPP_CHAT = Service("3fff:77:100::40", ("e1.whatsapp.net", "e2.whatsapp.net"), CHAT)
WHATSAPP_WEB = Service("3fff:77:100::41", ("v.whatsapp.net", "web.whatsapp.com"), WEB)
DATA_CENTRE = ((80, False), (443, False))  # plain HTTP on both, as Telegram's access points
TELEGRAM_DC1 = Service("3fff:77:100::50", (), DATA_CENTRE)
TELEGRAM_DC2 = Service("3fff:77:100::51", (), DATA_CENTRE)
TELEGRAM_WEB = Service("3fff:77:100::52", ("web.telegram.org",), WEB)
SIGNAL = Service(
    "3fff:77:100::60",
    (
        "textsecure-service.whispersystems.org",
        "storage.signal.org",
        "cdn.signal.org",
        "cdn2.signal.org",
        "sfu.voip.signal.org",
    ),
    WEB,
)
SERVICES = (SITE, BLOCKED, VIDEO, WHATSAPP_CHAT, WHATSAPP_WEB, TELEGRAM_DC1, TELEGRAM_DC2, TELEGRAM_WEB)
SERVICES += (SIGNAL,)

# host -> (title, size in bytes); the controls are made from the same numbers.
PAGES: dict[str, tuple[str, int]] = {
    "www.site.test": ("Lab open website", 6_000),
    "www.blocked.test": ("Lab censored website", 9_000),
    "video.blocked.test": ("Lab video service", 4_000_000),
    "v.whatsapp.net": ("Lab WhatsApp registration", 400),
    "web.whatsapp.com": ("Lab WhatsApp Web", 3_000),
    "web.telegram.org": ("Lab Telegram Web", 3_000),
    **{name: ("Lab Signal backend", 300) for name in SIGNAL.names},
}
WEB_URLS = ("https://www.site.test/", "http://www.blocked.test/", "https://www.blocked.test/")
THROTTLED_URL = "https://video.blocked.test/"


class LabUnavailable(Exception):
    """This machine cannot build the lab (no ``ip netns``): the tests skip."""


def netns_unavailable_reason() -> str | None:
    """Why ``ip netns`` cannot be used here, or None when it can."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    name = f"lso-{os.getpid()}-{secrets.token_hex(3)}-cli"
    added = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if added.returncode != 0:
        return f"`ip netns add` failed: {added.stderr.strip() or added.returncode} (needs root)"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return None


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def sweep_stale() -> None:
    """Delete lab namespaces whose creating process no longer exists (a run that was killed)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    for line in listed.splitlines():
        name = line.split(" ", 1)[0]
        match = _NAME.match(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def run(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(list(args), input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


@dataclass
class Lab:
    workdir: Path
    tag: str = field(default_factory=lambda: f"lso-{os.getpid()}-{secrets.token_hex(3)}")
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def client(self) -> str:
        return f"{self.tag}-cli"

    @property
    def censor(self) -> str:
        return f"{self.tag}-cen"

    @property
    def internet(self) -> str:
        return f"{self.tag}-net"

    @property
    def policy_file(self) -> Path:
        return self.workdir / "dns-policy.json"

    # -- building -----------------------------------------------------------------------------

    def build(self) -> None:
        """Make namespaces, links, addresses, routes; start the servers. Cleans up if it fails."""
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        sweep_stale()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in (self.client, self.censor, self.internet):
            run("ip", "netns", "add", name)
            self.namespaces.append(name)
            self.ns(name, "ip", "link", "set", "lo", "up")
        for link, namespace, peer in ((CLIENT_LINK, self.client, "c1"), (SERVER_LINK, self.internet, "s1")):
            pair = f"{link} netns {namespace} type veth peer name {peer} netns {self.censor}"
            run("ip", "link", "add", *pair.split())
        self._address(self.client, CLIENT_LINK, f"{CLIENT_V4}/24", f"{CLIENT_V6}/64")
        self._address(self.censor, "c1", f"{CENSOR_IN_V4}/24", f"{CENSOR_IN_V6}/64")
        self._address(self.censor, "s1", f"{CENSOR_OUT_V4}/24", f"{CENSOR_OUT_V6}/64")
        self._address(self.internet, SERVER_LINK, f"{SERVER_V4}/24", f"{SERVER_V6}/64")
        self.ns(self.censor, "ip", "addr", "add", f"{PORTAL}/32", "dev", "lo")
        self.ns(self.internet, "ip", "addr", "add", f"{RESOLVER}/32", "dev", "lo")
        for service in SERVICES:
            self.ns(self.internet, "ip", "-6", "addr", "add", f"{service.address}/128", "dev", "lo")
        # Routes to the lab's own prefixes only: nothing else is reachable from any namespace.
        self.ns(self.client, "ip", "route", "add", LAB_V4, "via", CENSOR_IN_V4)
        self.ns(self.client, "ip", "-6", "route", "add", LAB_V6, "via", CENSOR_IN_V6)
        self.ns(self.internet, "ip", "route", "add", LAB_V4, "via", CENSOR_OUT_V4)
        self.ns(self.internet, "ip", "-6", "route", "add", LAB_V6, "via", CENSOR_OUT_V6)
        self.ns(self.censor, "ip", "route", "add", SERVICES_V4, "via", SERVER_V4)
        self.ns(self.censor, "ip", "-6", "route", "add", SERVICES_V6, "via", SERVER_V6)
        self.ns(self.censor, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        self.ns(self.censor, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
        self.policy_file.write_text("{}")
        names = [name for service in SERVICES for name in service.names]
        certs = make_certificates(self.workdir / "tls", names)
        self.ca_file = certs.ca
        zone: dict[str, dict[str, list[str]]] = {
            name: {"AAAA": [service.address]} for service in SERVICES for name in service.names
        }
        zone["uptime.signal.org"] = {"A": ["127.0.0.1"]}  # as the real one: loopback by design
        pages = {host: {"title": title, "size": size} for host, (title, size) in PAGES.items()}
        pages["web.whatsapp.com"]["redirect_http_to_https"] = True
        internet = {
            "role": "internet",
            "dns": {"address": RESOLVER, "zone": zone, "policy_file": str(self.policy_file)},
            "cert": str(certs.cert),
            "key": str(certs.key),
            "pages": pages,
            "listeners": [
                {"address": service.address, "port": port, "tls": tls}
                for service in SERVICES
                for port, tls in service.listeners
            ],
        }
        censor = {
            "role": "censor",
            "portal": PORTAL,
            "listeners": [
                {"address": PORTAL, "port": 80, "tls": False},
                {"address": "::", "port": 8080, "tls": False},  # the transparent proxy (dual-stack)
            ],
        }
        self._start(self.internet, "internet", internet)
        self._start(self.censor, "censor", censor)
        self._warm_up()

    def _warm_up(self) -> None:
        """One connection through the censor, so neighbour discovery is done before any timed test."""
        self.ns(
            self.client,
            sys.executable,
            "-c",
            f"import socket; socket.create_connection(({SITE.address!r}, 80), timeout=10).close()",
        )

    def _address(self, namespace: str, link: str, v4: str, v6: str) -> None:
        self.ns(namespace, "ip", "addr", "add", v4, "dev", link)
        self.ns(namespace, "ip", "-6", "addr", "add", v6, "dev", link, "nodad")
        self.ns(namespace, "ip", "link", "set", link, "up")

    def _start(self, namespace: str, role: str, config: dict[str, object]) -> None:
        path = self.workdir / f"{role}.json"
        path.write_text(json.dumps(config))
        log = self.workdir / f"{role}.log"
        with log.open("w") as errors:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, sys.executable, str(NETLAB / "servers.py"), str(path)],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        self.processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()  # "ready", or nothing when it died
        if line.strip() != "ready":
            process.kill()
            process.communicate(timeout=10)
            raise RuntimeError(f"the {role} servers did not start: {log.read_text().strip()[-2000:]}")

    def ns(self, namespace: str, *args: str, stdin: str | None = None) -> str:
        return run("ip", "netns", "exec", namespace, *args, stdin=stdin)

    # -- scenarios ------------------------------------------------------------------------------

    def reset_censor(self) -> None:
        """No censorship: empty ruleset (nftables and ip6tables alike), no qdisc, honest resolver."""
        self.ns(self.censor, "nft", "flush", "ruleset")
        subprocess.run(
            ["ip", "netns", "exec", self.censor, "tc", "qdisc", "del", "dev", CENSOR_TO_CLIENT, "root"],
            capture_output=True,
            check=False,
        )
        self.set_dns_policy({})

    def set_dns_policy(self, policy: dict[str, list[str]]) -> None:
        temporary = self.policy_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(policy))
        temporary.replace(self.policy_file)

    # -- the probe ------------------------------------------------------------------------------

    def probe_config(self) -> str:
        """The probe's TOML configuration: lab resolver, lab CA, lab endpoints, controls."""
        lines = [
            "[probe]",
            'country = "IR"',
            'asn = "AS64512"',
            'network_name = "Lightsout lab"',
            "[dns]",
            f'resolver = "{RESOLVER}"',
            'query_types = ["AAAA"]  # the lab\'s services are IPv6-only',
            "[timeouts]",
            "dns_s = 2.0",
            "connect_s = 2.0",
            "tls_s = 3.0",
            "http_s = 4.0",
            "[tls]",
            f'ca_file = "{self.ca_file}"',
            "[network_check]  # www.site.test is never censored: the lab's control host",
            'names = ["www.site.test"]',
            'second_resolver = ""',
            "[public_address]  # no echo outside the lab; the client's own address is an interface's",
            "dns = []",
            "[apps.whatsapp]",
            f"endpoints = {json.dumps(list(WHATSAPP_CHAT.names))}",
            "[apps.telegram]",
            f"data_centres = {json.dumps([TELEGRAM_DC1.address, TELEGRAM_DC2.address])}",
            "[apps.signal]",
            f"urls = {json.dumps([f'https://{name}/' for name in SIGNAL.names])}",
            f'ca_file = "{self.ca_file}"',
        ]
        for url in (*WEB_URLS, THROTTLED_URL):
            host = url.split("/")[2]
            title, size = PAGES[host]
            service = next(s for s in SERVICES if host in s.names)
            lines += [
                "[[web.control]]",
                f'url = "{url}"',
                f'addresses = ["{service.address}"]',
                "status_code = 200",
                f"body_length = {len(page_body(host, title, size))}",
                f'title = "{title}"',
                'headers = ["X-Lab-Site"]',
            ]
        return "\n".join(lines) + "\n"

    def run_probe(
        self, out: Path, db: Path | None, urls: list[str], apps: list[str]
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m lightsout.probe`` inside the client namespace."""
        config = self.workdir / "probe.toml"
        config.write_text(self.probe_config())
        args = [sys.executable, "-m", "lightsout.probe", "--config", str(config), "--out", str(out)]
        if urls:
            urls_file = out.with_suffix(".urls")
            urls_file.write_text("\n".join(urls) + "\n")
            args += ["--urls", str(urls_file)]
        if apps:
            args += ["--apps", ",".join(apps)]
        args += ["--db", str(db)] if db is not None else ["--no-store"]
        return subprocess.run(
            ["ip", "netns", "exec", self.client, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    # -- teardown -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the servers started here, then delete the namespaces (their veths go with them)."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 5
        for process in self.processes:
            try:
                process.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
        self.processes.clear()
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.namespaces.clear()
