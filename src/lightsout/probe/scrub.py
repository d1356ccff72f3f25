"""Scrubbing the vantage's own addresses out of everything a probe writes (as OONI scrubs the
probe's IP).

**Which addresses.** The local address of every connection the test made
(:attr:`lightsout.probe.netx.Trace.local_addresses`), every address of the machine's interfaces
(:func:`interface_addresses`, from ``/proc/net`` on Linux), and the public address(es) a server
sees the vantage as when it is behind NAT: given in ``LIGHTSOUT_PROBE_PUBLIC_ADDRESSES``
(comma-separated) by the operator, or learnt from an echo service the operator runs. Loopback and
unspecified addresses are never an identity and are left alone.

**Which forms.** A page may echo an address in any of these; each is matched as a whole token
(``10.0.0.1`` never scrubs the start of ``10.0.0.10``) and compared by value:

* IPv4 dotted (with or without zero padding: ``192.000.002.002``), dashed or underscored as in
  reverse-DNS names (``192-0-2-2.isp.example``, ``2-2-0-192.dyn.example``: both orders),
  reversed under ``.in-addr.arpa``, percent-encoded dots (``192%2E0%2E2%2E2``), one decimal
  integer (``3221225986``), hexadecimal (``0xC0000202``, ``c0000202``);
* IPv6 in any case and any compression or padding (``2001:DB8::2``, ``2001:db8:0:0:0:0:0:2``,
  ``2001:0db8:0000:...``), with percent-encoded colons (``2001%3Adb8%3A%3A2``), IPv4-mapped, and
  reversed nibbles under ``.ip6.arpa``;
* in bytes: the same, read as Latin-1 (so no byte is changed but the address), inside gzip
  bodies (decompressed, scrubbed, compressed again) and in UTF-16 text (with or without a BOM).
"""

from __future__ import annotations

import gzip
import ipaddress
import itertools
import os
import re
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCRUBBED = "[scrubbed]"
MAX_INFLATED_BYTES = 16 << 20  # a compressed body larger than this once inflated is left as it is

_V4_SEP = r"(?:\.|-|_|%2[eE])"
_OCTET = r"\d{1,3}"
_V4 = re.compile(
    rf"(?<![\d.%-])(?<!%2[eE])({_OCTET}){_V4_SEP}({_OCTET}){_V4_SEP}({_OCTET}){_V4_SEP}({_OCTET})"
    rf"(?P<arpa>\.in-addr\.arpa)?(?!\d)(?!(?:\.|%2[eE])\d)",
    re.IGNORECASE,
)
_DECIMAL = re.compile(r"(?<![\d.])\d{7,10}(?![\d])")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?:0[xX])?[0-9A-Fa-f]{8}(?![0-9A-Za-z])")
_V6 = re.compile(
    r"(?<![0-9A-Za-z:%.])(?:[0-9A-Fa-f]{0,4}(?::|%3[aA])){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?![0-9A-Za-z:]|\.\d)"
)
_V6_ARPA = re.compile(r"(?<![0-9A-Za-z.])((?:[0-9A-Fa-f]\.){32})ip6\.arpa", re.IGNORECASE)


def interface_addresses(proc: Path = Path("/proc/net")) -> set[str]:
    """The machine's own IPv4 and IPv6 addresses (Linux: ``fib_trie`` local host routes and
    ``if_inet6``); empty where ``/proc`` is not there."""
    found: set[str] = set()
    try:
        lines = (proc / "fib_trie").read_text(encoding="ascii").splitlines()
    except OSError:
        lines = []
    for previous, line in itertools.pairwise(lines):
        if "/32 host LOCAL" in line:
            match = re.search(r"(\d+\.\d+\.\d+\.\d+)", previous)
            if match:
                found.add(match.group(1))
    try:
        for line in (proc / "if_inet6").read_text(encoding="ascii").splitlines():
            digits = line.split()[0] if line.split() else ""
            if len(digits) == 32:
                found.add(str(ipaddress.IPv6Address(int(digits, 16))))
    except (OSError, ValueError):
        pass
    return found


def configured_public_addresses() -> set[str]:
    """``LIGHTSOUT_PROBE_PUBLIC_ADDRESSES``: the addresses servers see the vantage as (NAT)."""
    text = os.environ.get("LIGHTSOUT_PROBE_PUBLIC_ADDRESSES", "")
    return {part.strip() for part in text.split(",") if part.strip()}


class Scrubber:
    """Replaces the vantage's addresses, in every form of the module docstring, by ``[scrubbed]``."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self.v4: set[int] = set()
        self.v6: set[int] = set()
        for text in addresses:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0].strip())
            except ValueError:
                continue
            if address.is_loopback or address.is_unspecified:
                continue  # 127.0.0.1 is what OONI writes as probe_ip; never an identity
            if isinstance(address, ipaddress.IPv6Address):
                if address.ipv4_mapped is not None:
                    self.v4.add(int(address.ipv4_mapped))
                self.v6.add(int(address))
            else:
                self.v4.add(int(address))
                self.v6.add(int(ipaddress.IPv6Address(f"::ffff:{address}")))

    # -- text --------------------------------------------------------------------------------------

    def _v4_match(self, match: re.Match[str]) -> str:
        octets = [int(match.group(i)) for i in range(1, 5)]
        if any(o > 255 for o in octets):
            return match.group(0)
        forward = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
        backward = (octets[3] << 24) | (octets[2] << 16) | (octets[1] << 8) | octets[0]
        separator = match.group(0)[len(match.group(1))]
        reversible = match.group("arpa") is not None or separator in "-_"
        if forward in self.v4 and match.group("arpa") is None:
            return SCRUBBED
        if reversible and backward in self.v4:
            return SCRUBBED + (match.group("arpa") or "")
        return match.group(0)

    def _v6_match(self, match: re.Match[str]) -> str:
        token = match.group(0)
        try:
            value = int(ipaddress.IPv6Address(re.sub("%3[aA]", ":", token)))
        except ValueError:
            return self._v4_inside(token)
        return SCRUBBED if value in self.v6 else self._v4_inside(token)

    def _v4_inside(self, token: str) -> str:
        return _V4.sub(self._v4_match, token) if "." in token else token

    def _arpa6_match(self, match: re.Match[str]) -> str:
        nibbles = match.group(1).replace(".", "")[::-1]
        return SCRUBBED + ".ip6.arpa" if int(nibbles, 16) in self.v6 else match.group(0)

    def _number_match(self, match: re.Match[str]) -> str:
        token = match.group(0)
        value = int(token, 16) if not token.isdigit() or token.lower().startswith("0x") else int(token)
        if token.isdigit() and value in self.v4:
            return SCRUBBED
        if not token.isdigit() and value in self.v4:
            return SCRUBBED
        return token

    def text(self, value: str) -> str:
        if not self.v4 and not self.v6:
            return value
        if self.v6:
            value = _V6_ARPA.sub(self._arpa6_match, value)
            value = _V6.sub(self._v6_match, value)
        if self.v4:
            value = _V4.sub(self._v4_match, value)
            value = _DECIMAL.sub(self._number_match, value)
            value = _HEX.sub(self._number_match, value)
        return value

    # -- bytes -------------------------------------------------------------------------------------

    def data(self, value: bytes) -> bytes:
        """Raw bytes: as Latin-1 text, then inside gzip/zlib and UTF-16 content."""
        if not self.v4 and not self.v6:
            return value
        if value[:2] == b"\x1f\x8b":
            inflated = _inflate(value)
            if inflated is not None:
                scrubbed = self.data(inflated)
                return value if scrubbed == inflated else gzip.compress(scrubbed, mtime=0)
        utf16 = _utf16(value)
        if utf16 is not None:
            text, encoding, bom = utf16
            scrubbed_text = self.text(text)
            if scrubbed_text != text:
                return bom + scrubbed_text.encode(encoding, "surrogatepass")
        return self.text(value.decode("latin-1")).encode("latin-1")

    def tree(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(item) for item in value]
        return value


def _inflate(value: bytes) -> bytes | None:
    try:
        decompressor = zlib.decompressobj(wbits=47)  # gzip or zlib header
        out = decompressor.decompress(value, MAX_INFLATED_BYTES + 1)
    except zlib.error:
        return None
    return out if len(out) <= MAX_INFLATED_BYTES else None


def _utf16(value: bytes) -> tuple[str, str, bytes] | None:
    """(text, codec, BOM) when ``value`` is UTF-16 text: a BOM, or NULs at every other byte."""
    if value[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16-le" if value[:2] == b"\xff\xfe" else "utf-16-be"
        bom, body = value[:2], value[2:]
    elif len(value) >= 8 and value[1::2].count(0) > len(value) // 4:
        encoding, bom, body = "utf-16-le", b"", value
    elif len(value) >= 8 and value[0::2].count(0) > len(value) // 4:
        encoding, bom, body = "utf-16-be", b"", value
    else:
        return None
    try:
        return body.decode(encoding, "surrogatepass"), encoding, bom
    except UnicodeDecodeError:
        return None
