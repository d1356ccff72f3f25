"""The probe's scrubber (issue 13): the vantage's own addresses in every textual form an echoing
page may use, in raw bytes, gzip bodies and UTF-16 text; nothing else touched."""

from __future__ import annotations

import gzip
import ipaddress
from pathlib import Path

import pytest

from lightsout.probe.scrub import SCRUBBED, Scrubber, interface_addresses

V4, V6 = "192.0.2.2", "2001:db8::2"
SCRUB = Scrubber([V4, V6, "10.0.0.1", "127.0.0.1"])

FORMS = [
    ("your address is 192.0.2.2.", f"your address is {SCRUBBED}."),
    ("padded 192.000.002.002", f"padded {SCRUBBED}"),
    ("host 192-0-2-2.isp.example", f"host {SCRUBBED}.isp.example"),
    ("host 2-2-0-192.dyn.example", f"host {SCRUBBED}.dyn.example"),
    ("ptr 2.2.0.192.in-addr.arpa", f"ptr {SCRUBBED}.in-addr.arpa"),
    ("ip=192%2E0%2E2%2E2&x=1", f"ip={SCRUBBED}&x=1"),
    ("decimal 3221225986 here", f"decimal {SCRUBBED} here"),
    ("hex 0xC0000202 and c0000202", f"hex {SCRUBBED} and {SCRUBBED}"),
    ("v6 2001:db8::2", f"v6 {SCRUBBED}"),
    ("upper 2001:DB8::2", f"upper {SCRUBBED}"),
    ("unpadded 2001:db8:0:0:0:0:0:2", f"unpadded {SCRUBBED}"),
    ("padded 2001:0db8:0000:0000:0000:0000:0000:0002", f"padded {SCRUBBED}"),
    ("url [2001%3Adb8%3A%3A2]:443", f"url [{SCRUBBED}]:443"),
    ("mapped ::ffff:192.0.2.2", f"mapped {SCRUBBED}"),
    ("arpa " + ".".join(reversed("20010db8000000000000000000000002")) + ".ip6.arpa",
     f"arpa {SCRUBBED}.ip6.arpa"),
    ("underscored 192_0_2_2", f"underscored {SCRUBBED}"),
]


def address_forms(v4: str, v6: str) -> list[tuple[str, str]]:
    """:data:`FORMS` for any pair of addresses: (text a page may show, what the scrubber leaves)."""
    octets = v4.split(".")
    number = int(ipaddress.IPv4Address(v4))
    six = ipaddress.IPv6Address(v6)
    groups = six.exploded.split(":")
    nibbles = six.exploded.replace(":", "")
    return [
        (f"your address is {v4}.", f"your address is {SCRUBBED}."),
        ("padded " + ".".join(f"{int(o):03d}" for o in octets), f"padded {SCRUBBED}"),
        (f"host {'-'.join(octets)}.isp.example", f"host {SCRUBBED}.isp.example"),
        (f"host {'-'.join(reversed(octets))}.dyn.example", f"host {SCRUBBED}.dyn.example"),
        (f"ptr {'.'.join(reversed(octets))}.in-addr.arpa", f"ptr {SCRUBBED}.in-addr.arpa"),
        (f"ip={'%2E'.join(octets)}&x=1", f"ip={SCRUBBED}&x=1"),
        (f"decimal {number} here", f"decimal {SCRUBBED} here"),
        (f"hex 0x{number:08X} and {number:08x}", f"hex {SCRUBBED} and {SCRUBBED}"),
        (f"v6 {six.compressed}", f"v6 {SCRUBBED}"),
        (f"upper {six.compressed.upper()}", f"upper {SCRUBBED}"),
        ("unpadded " + ":".join(f"{int(g, 16):x}" for g in groups), f"unpadded {SCRUBBED}"),
        (f"padded {six.exploded}", f"padded {SCRUBBED}"),
        (f"url [{six.compressed.replace(':', '%3A')}]:443", f"url [{SCRUBBED}]:443"),
        (f"mapped ::ffff:{v4}", f"mapped {SCRUBBED}"),
        (f"arpa {'.'.join(reversed(nibbles))}.ip6.arpa", f"arpa {SCRUBBED}.ip6.arpa"),
        (f"underscored {'_'.join(octets)}", f"underscored {SCRUBBED}"),
    ]


def test_the_forms_are_made_for_any_address() -> None:
    assert address_forms(V4, V6) == FORMS


@pytest.mark.parametrize(("text", "scrubbed"), FORMS)
def test_every_textual_form_is_scrubbed(text: str, scrubbed: str) -> None:
    assert SCRUB.text(text) == scrubbed
    assert SCRUB.data(text.encode()) == scrubbed.encode()


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.10 is a neighbour",  # not [scrubbed]0
        "10.0.0.100 and 110.0.0.1 and 10.0.0.1.5",
        "192.0.2.22, 192.0.2.20, 1192.0.2.2",
        "2001:db8::22 and 2001:db8::2:1",
        "version 3221225987, hash c0000203, id 32212259860",
        "127.0.0.1 ::1",  # what OONI writes as probe_ip stays
    ],
)
def test_nothing_else_is_scrubbed(text: str) -> None:
    assert SCRUB.text(text) == text


def test_gzip_and_utf16_bodies() -> None:
    page = f"<p>You are {V4} ({V6})</p>".encode()
    zipped = SCRUB.data(gzip.compress(page))
    assert gzip.decompress(zipped) == f"<p>You are {SCRUBBED} ({SCRUBBED})</p>".encode()
    for encoding, bom in (("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-16-le", b"")):
        body = bom + f"addr: {V4}".encode(encoding)
        assert SCRUB.data(body) == bom + f"addr: {SCRUBBED}".encode(encoding)
    clean = gzip.compress(b"<p>nothing here</p>", mtime=0)
    assert SCRUB.data(clean) == clean  # unchanged bytes stay byte for byte
    binary = bytes(range(256)) * 4
    assert SCRUB.data(binary) == binary


def test_interface_addresses_read_from_proc(tmp_path: Path) -> None:
    (tmp_path / "fib_trie").write_text(
        "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 192.0.2.2\n        /32 host LOCAL\n"
        "     |-- 192.0.2.255\n        /32 link BROADCAST\n",
        encoding="ascii",
    )
    (tmp_path / "if_inet6").write_text(
        "20010db8000000000000000000000002 02 40 00 80     eth0\n", encoding="ascii"
    )
    assert interface_addresses(tmp_path) == {"192.0.2.2", "2001:db8::2"}
    assert interface_addresses(tmp_path / "missing") == set()
    # On this machine: the loopback at least, when /proc is there.
    if Path("/proc/net/fib_trie").exists():
        assert "127.0.0.1" in interface_addresses()
