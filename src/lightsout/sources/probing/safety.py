"""What the prober must never probe, and the lab exception.

* **Bogons and special-purpose space** (IANA IPv4 Special-Purpose Address Registry, RFC 6890 and
  updates): private (RFC 1918), shared (RFC 6598), loopback, link-local, documentation,
  benchmarking, multicast, reserved. Probing them on the real internet is at best useless and at
  worst leaks into someone's network.
* **The operator's do-not-probe file**: one prefix per line (``#`` comments), e.g. the networks
  that asked to opt out through the URL every probe carries.

The lab (tests, ``--lab``) inverts the rule: only the two test ranges the lab builds inside its own
network namespaces (198.18.0.0/15, benchmarking, RFC 2544; 100.64.0.0/10, shared address space,
RFC 6598) may be probed, and nothing else at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lightsout.errors import InputError

BOGONS_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)  # fmt: skip
LAB_RANGES_V4 = ("198.18.0.0/15", "100.64.0.0/10")

U32 = npt.NDArray[np.uint32]


def _intervals(prefixes: list[str]) -> list[tuple[int, int]]:
    """Prefixes as half-open intervals of /24 block numbers (address >> 8), merged and sorted."""
    spans = []
    for text in prefixes:
        net = ipaddress.IPv4Network(text, strict=False)
        first = int(net.network_address) >> 8
        last = int(net.broadcast_address) >> 8
        spans.append((first, last + 1))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _inside(blocks: U32, intervals: list[tuple[int, int]]) -> npt.NDArray[np.bool_]:
    if not intervals or blocks.size == 0:
        return np.zeros(blocks.size, dtype=bool)
    starts = np.array([s for s, _ in intervals], dtype=np.int64)
    ends = np.array([e for _, e in intervals], dtype=np.int64)
    where = np.searchsorted(starts, blocks.astype(np.int64), side="right") - 1
    ok = where >= 0
    result = np.zeros(blocks.size, dtype=bool)
    result[ok] = blocks[ok].astype(np.int64) < ends[where[ok]]
    return result


def iter_first_columns(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, first column) of each line of a prefix or address list: ``#`` starts a
    comment, blank lines are passed over, anything after the first column (comma or space
    separated) is ignored. A file that cannot be read is one :class:`InputError` naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(str(path), "", f"cannot read: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].replace(",", " ").split()
        if text:
            yield number, text[0]


def read_prefix_file(path: Path) -> list[str]:
    """IPv4 prefixes of a do-not-probe (or hitlist) file: one per line (:func:`iter_first_columns`)."""
    prefixes = []
    for number, first in iter_first_columns(path):
        try:
            net = ipaddress.ip_network(first, strict=False)
        except ValueError:
            raise InputError(str(path), f"line {number}", f"not a prefix: {first!r}") from None
        if net.version == 4:
            prefixes.append(str(net))
    return prefixes


@dataclass(frozen=True, slots=True)
class DoNotProbe:
    """Blocks the prober may not touch. ``lab``: only the lab's test ranges are allowed."""

    excluded: tuple[tuple[int, int], ...]
    allowed_only: tuple[tuple[int, int], ...] | None  # lab mode: everything outside is excluded
    lab: bool = False

    @classmethod
    def build(cls, extra: list[str] | None = None, lab: bool = False) -> DoNotProbe:
        extra = extra or []
        if lab:
            return cls(tuple(_intervals(extra)), tuple(_intervals(list(LAB_RANGES_V4))), True)
        return cls(tuple(_intervals(list(BOGONS_V4) + extra)), None, False)

    def allowed(self, blocks: U32) -> npt.NDArray[np.bool_]:
        """Per /24 block number, whether it may be probed."""
        ok = ~_inside(blocks, list(self.excluded))
        if self.allowed_only is not None:
            ok &= _inside(blocks, list(self.allowed_only))
        return ok

    def allows_address(self, address: int) -> bool:
        return bool(self.allowed(np.array([address >> 8], dtype=np.uint32))[0])
