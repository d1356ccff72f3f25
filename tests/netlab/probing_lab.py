"""The probing lab: a "country" of a few thousand /24 blocks behind a "border", and a vantage point
with its own uplink, in four network namespaces on this machine.

    vantage --veth-- uplink --veth-- border --veth-- country
    198.18.0.2       .0.1 | .0.5     .0.6 | .0.9     198.18.0.10
                     controls 198.19.{1,2,3}.1       blocks 100.64.0.0/13 (AnyIP: a local route)

* **country** answers ICMP echo for every address of ``COUNTRY_RANGE`` through one local route
  (``ip route add local 100.64.0.0/13 dev lo``, "AnyIP"), and an nftables set keeps it realistic:
  only the addresses in ``@responsive`` answer (from 3 to ~150 per block, some blocks too sparse to
  probe), and those in ``@flaky`` answer half of the time, so A(b) varies from block to block.
* **border** forwards between the country and the world; scenarios put nftables rules (a cut of
  everything or of one AS's prefixes, an ICMP rate limit) and tc netem (loss) here.
* **uplink** is the vantage point's provider, and hosts the control targets in three networks.
* **vantage** is where the prober's socket lives (created inside it with setns, see
  :func:`socket_in`): its only routes are to the lab's ranges.

Only 198.18.0.0/15 and 100.64.0.0/10 are used, inside namespaces this object creates; namespace
names carry the process id and a random part, and :meth:`ProbingLab.close` deletes them
(``sweep_stale`` deletes those of a run whose process is gone).
"""

from __future__ import annotations

import ctypes
import os
import random
import re
import secrets
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from netlab.lab import run

COUNTRY = "KZ"
COUNTRY_RANGE = "100.64.0.0/13"  # 2,048 /24 blocks
CONTROLS = ("198.19.1.1", "198.19.2.1", "198.19.3.1")
# (prefix, AS, region): the country's networks, as a prefix file gives them to the hitlist
NETWORKS = (
    ("100.64.0.0/14", 64500, "Almaty"),
    ("100.68.0.0/15", 64501, "Astana"),
    ("100.70.0.0/16", 64502, "Shymkent"),
    ("100.71.0.0/17", 64503, "Almaty"),
    ("100.71.128.0/17", 64504, "Karaganda"),
)
CUT_AS = 64503
_NAME = re.compile(r"^lsp-(\d+)-[0-9a-f]+-(van|upl|bor|cty)$")
CLONE_NEWNET = 0x40000000


def sweep_stale() -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    for line in listed.splitlines():
        name = line.split(" ", 1)[0]
        match = _NAME.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def socket_in(namespace: str, make: Callable[[], socket.socket]) -> socket.socket:
    """A socket created inside ``namespace`` (it stays there); this thread returns to its own."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace} failed")
        try:
            return make()
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the test's namespace failed")
    finally:
        os.close(own)
        os.close(target)


@dataclass
class ProbingLab:
    workdir: Path
    seed: int = 7
    tag: str = field(default_factory=lambda: f"lsp-{os.getpid()}-{secrets.token_hex(3)}")
    namespaces: list[str] = field(default_factory=list)
    responsive: dict[int, list[int]] = field(default_factory=dict)  # block -> answering last octets
    flaky: set[int] = field(default_factory=set)  # addresses that answer half of the time

    def name(self, role: str) -> str:
        return f"{self.tag}-{role}"

    @property
    def vantage(self) -> str:
        return self.name("van")

    def ns(self, role: str, *args: str, stdin: str | None = None) -> str:
        return run("ip", "netns", "exec", self.name(role), *args, stdin=stdin)

    def build(self) -> None:
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        sweep_stale()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for role in ("van", "upl", "bor", "cty"):
            run("ip", "netns", "add", self.name(role))
            self.namespaces.append(self.name(role))
            self.ns(role, "ip", "link", "set", "lo", "up")
        links = (("van", "v0", "upl", "u0"), ("upl", "u1", "bor", "b0"), ("bor", "b1", "cty", "c0"))
        for a, a_if, b, b_if in links:
            run("ip", "link", "add", a_if, "netns", self.name(a), "type", "veth", "peer", "name", b_if,
                "netns", self.name(b))  # fmt: skip
        addresses = (("van", "v0", "198.18.0.2/30"), ("upl", "u0", "198.18.0.1/30"),
                     ("upl", "u1", "198.18.0.5/30"), ("bor", "b0", "198.18.0.6/30"),
                     ("bor", "b1", "198.18.0.9/30"), ("cty", "c0", "198.18.0.10/30"))  # fmt: skip
        for role, link, address in addresses:
            self.ns(role, "ip", "addr", "add", address, "dev", link)
            self.ns(role, "ip", "link", "set", link, "up")
        for control in CONTROLS:
            self.ns("upl", "ip", "addr", "add", f"{control}/32", "dev", "lo")
        # Routes to the lab's ranges only: nothing else is reachable from any namespace.
        for lab_range in ("198.18.0.0/15", "100.64.0.0/10"):
            self.ns("van", "ip", "route", "add", lab_range, "via", "198.18.0.1")
        self.ns("upl", "ip", "route", "add", "100.64.0.0/10", "via", "198.18.0.6")
        self.ns("bor", "ip", "route", "add", "100.64.0.0/10", "via", "198.18.0.10")
        self.ns("bor", "ip", "route", "add", "198.18.0.0/15", "via", "198.18.0.5")
        self.ns("cty", "ip", "route", "add", "198.18.0.0/15", "via", "198.18.0.9")
        self.ns("cty", "ip", "route", "add", "local", COUNTRY_RANGE, "dev", "lo")
        for role in ("upl", "bor"):
            self.ns(role, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        for role in ("upl", "bor", "cty"):  # the lab's hosts answer every echo (no kernel limit)
            self.ns(role, "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0")
            self.ns(role, "sysctl", "-q", "-w", "net.ipv4.icmp_msgs_per_sec=1000000")
        self._country_hosts()

    def _country_hosts(self) -> None:
        """Which addresses of each block answer: a realistic spread (ISI's census finds most /24s
        sparse), written as nftables sets in the country."""
        rng = random.Random(self.seed)
        first = int.from_bytes(socket.inet_aton(COUNTRY_RANGE.split("/")[0]), "big") >> 8
        count = 1 << (24 - int(COUNTRY_RANGE.split("/")[1]))
        responsive: list[str] = []
        flaky: list[str] = []
        for block in range(first, first + count):
            size = (
                rng.randint(3, 14) if rng.random() < 0.1 else min(200, int(rng.lognormvariate(3.6, 0.6)) + 15)
            )
            octets = sorted(rng.sample(range(1, 255), min(size, 254)))
            self.responsive[block] = octets
            share = rng.choice((0.0, 0.0, 0.1, 0.3, 0.6))
            for octet in octets:
                text = f"{block >> 16}.{(block >> 8) & 255}.{block & 255}.{octet}"
                responsive.append(text)
                if rng.random() < share:
                    flaky.append(text)
                    self.flaky.add(int.from_bytes(socket.inet_aton(text), "big"))
        rules = [
            "table inet lab {",
            "  set responsive { type ipv4_addr; }",
            "  set flaky { type ipv4_addr; }",
            "  chain input { type filter hook input priority 0; policy accept;",
            f"    ip daddr {COUNTRY_RANGE} icmp type echo-request ip daddr != @responsive drop",
            f"    ip daddr {COUNTRY_RANGE} icmp type echo-request ip daddr @flaky numgen random mod 2 == 0"
            " drop",
            "  }",
            "}",
        ]
        self.ns("cty", "nft", "-f", "-", stdin="\n".join(rules) + "\n")
        for set_name, members in (("responsive", responsive), ("flaky", flaky)):
            for lo in range(0, len(members), 5000):
                chunk = ", ".join(members[lo : lo + 5000])
                self.ns("cty", "nft", "-f", "-", stdin=f"add element inet lab {set_name} {{ {chunk} }}\n")

    def prefix_file(self) -> Path:
        path = self.workdir / "country-prefixes.csv"
        lines = ["# prefix,asn,country,region (the lab's country)"]
        lines += [f"{prefix},AS{asn},{COUNTRY},{region}" for prefix, asn, region in NETWORKS]
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- scenarios ------------------------------------------------------------------------------

    def clear(self) -> None:
        """No scenario: the border forwards everything, the uplink is up."""
        for role in ("bor", "upl"):
            self.ns(role, "nft", "flush", "ruleset")
        subprocess.run(["ip", "netns", "exec", self.name("bor"), "tc", "qdisc", "del", "dev", "b1", "root"],
                       capture_output=True, check=False)  # fmt: skip

    def _border(self, *rules: str) -> None:
        body = "\n".join(f"    {r}" for r in rules)
        chain = "chain forward { type filter hook forward priority 0; policy accept;"
        text = f"table inet border {{\n  {chain}\n{body}\n  }}\n}}\n"
        self.ns("bor", "nft", "-f", "-", stdin=text)

    def cut_country(self) -> None:
        self._border(f"ip daddr {COUNTRY_RANGE} drop")

    def cut_network(self, asn: int = CUT_AS) -> None:
        prefixes = ", ".join(p for p, a, _ in NETWORKS if a == asn)
        self._border(f"ip daddr {{ {prefixes} }} drop")

    def loss(self, percent: int) -> str:
        """Random loss of ``percent`` % of the packets into the country: tc netem where the kernel
        has it, else the same random drop in nftables (``numgen random``). Returns which one."""
        netem = subprocess.run(
            ["ip", "netns", "exec", self.name("bor"), "tc", "qdisc", "add", "dev", "b1", "root", "netem",
             "loss", f"{percent}%"], capture_output=True, text=True, check=False,
        )  # fmt: skip
        if netem.returncode == 0:
            return "netem"
        self._border(f'oifname "b1" numgen random mod 100 < {percent} drop')
        return "nftables"

    def rate_limit(self, pps: int, burst: int) -> None:
        self._border(f"icmp type echo-request limit rate over {pps}/second burst {burst} packets drop")

    def cut_uplink(self) -> None:
        text = "table inet uplink {\n"
        text += '  chain forward { type filter hook forward priority 0; iifname "u0" drop; }\n'
        text += '  chain input { type filter hook input priority 0; iifname "u0" drop; }\n}\n'
        self.ns("upl", "nft", "-f", "-", stdin=text)

    def close(self) -> None:
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.namespaces.clear()
