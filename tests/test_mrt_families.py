"""Full-feed peers per address family, on a real collector that mixes IPv4 and IPv6 sessions.

rrc23 (RIS, Singapore), 2022-04-21 02:00 UTC, one 5-minute update file: at the bin's close its
largest IPv4 table holds 3,600 prefixes and its largest IPv6 table 1,016; with one full-feed test
over both families no IPv6 session passed it (under 50 % of 3,600), so no IPv6 prefix counted.
The expected values are recomputed here from ``bgpdump -m``'s reading of the file, with the rule of
docs/mrt.md ("Full-feed peers, per address family") written out independently: one table per
peer, a session leaving Established (state 6) loses its table, per family the peers whose table at
the bin's close holds >= 50 % of the largest table of that family, a prefix counting for every AS
of its origin (an AS_SET: each member) when a full feed of its family routes it, prefixes shorter
than /8 (IPv4) or /12 (IPv6) left out.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest

from lightsout.model import SignalKind
from lightsout.sources.mrt import read_mrt

RRC23 = Path("mrt") / "collectors" / "rrc23" / "rrc23.updates.20220421.0200.gz"
ESTABLISHED = "6"


def _bgpdump_counts(path: Path) -> tuple[dict[int, int], dict[int, int], dict[int, set[str]]]:
    """Per AS: visible IPv4 prefixes, visible IPv6 prefixes; per family, the full-feed peers."""
    bgpdump = shutil.which("bgpdump")
    if bgpdump is None:
        pytest.skip("bgpdump is not installed (scripts/ci-system-deps.sh installs it)")
    out = subprocess.run([bgpdump, "-m", str(path)], capture_output=True, text=True, check=True).stdout
    tables: dict[str, dict[str, tuple[int, ...]]] = {}
    for line in out.splitlines():
        f = line.split("|")
        if f[2] == "STATE":
            if f[5] == ESTABLISHED and f[6] != ESTABLISHED:
                tables.pop(f[3], None)
            continue
        net = ipaddress.ip_network(f[5], strict=False)
        table = tables.setdefault(f[3], {})
        if f[2] == "W":
            table.pop(str(net), None)
            continue
        last = f[6].split()[-1]
        origins = tuple(int(a) for a in last.strip("{}").split(",")) if last else ()
        table[str(net)] = origins
    by_family: list[dict[int, int]] = [{}, {}]
    full: dict[int, set[str]] = {}
    for version, minimum, counts in ((4, 8, by_family[0]), (6, 12, by_family[1])):
        sizes = {
            peer: sum(1 for p in table if ipaddress.ip_network(p).version == version)
            for peer, table in tables.items()
        }
        largest = max(sizes.values())
        full[version] = {peer for peer, n in sizes.items() if n and n >= 0.5 * largest}
        visible: dict[str, set[int]] = {}
        for peer in full[version]:
            for prefix, origins in tables[peer].items():
                net = ipaddress.ip_network(prefix)
                if net.version == version and net.prefixlen >= minimum:
                    visible.setdefault(prefix, set()).update(origins)
        for asns in visible.values():
            for asn in asns:
                counts[asn] = counts.get(asn, 0) + 1
    return by_family[0], by_family[1], full


def test_ipv6_prefixes_count_on_a_mixed_collector(shared_data: Path) -> None:
    v4, v6, full = _bgpdump_counts(shared_data / RRC23)
    assert len(full[6]) == 2 and sum(v6.values()) > 1_000  # IPv6 full feeds, and what they route
    parsed = read_mrt(shared_data / RRC23, columns=True)
    columns = parsed.point_columns
    assert columns is not None
    ours = {
        int(word.removeprefix("network/AS")): value
        for word, value in (
            (columns.words[e], v)
            for e, s, v in zip(columns.entity, columns.signal, columns.value.tolist(), strict=True)
            if columns.signals[s] is SignalKind.BGP_PREFIXES
        )
        if word.startswith("network/AS")
    }
    expected = {asn: v4.get(asn, 0) + v6.get(asn, 0) for asn in v4.keys() | v6.keys()}
    assert {asn: n for asn, n in ours.items() if n} == expected
    only_v6 = [asn for asn in v6 if asn not in v4]
    assert len(only_v6) > 10 and all(ours[asn] == v6[asn] for asn in only_v6)  # invisible before
    note = next(n for n in parsed.notes if n.startswith("full-feed peers:"))
    assert f"IPv6 {len(full[6])} of " in note and f"IPv4 {len(full[4])} of " in note
    assert {int(s) for s in columns.samples.tolist()} == {len(full[4] | full[6])}
