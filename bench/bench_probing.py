"""Benchmark of the prober: against the lab (real ICMP, one core), against icmplib on the same
addresses in the same run, and the round engine's cost per 100k blocks up to a million.

    python bench/bench_probing.py [--rounds N] [--blocks N]     (needs root: builds the lab)

1. **Lab** — the 2,048-block country of ``tests/netlab/probing_lab.py``; the bench's process enters
   the vantage namespace and runs ``--rounds`` rounds at 20,000 probes/s: achieved probes/s, blocks
   per second, and CPU per probe (user = our code; system = the kernel, which here also forwards the
   probe through three namespaces and answers it, so it overstates a real vantage point's cost).
2. **Peer** — icmplib 3's ``multiping`` (asyncio, one socket per task) sends one probe to one address
   of each block, as a non-adaptive pinger would, with the same timeout: probes/s and CPU per probe.
3. **Scale** — the round engine on a synthetic hitlist of ``--blocks`` blocks (default 1,000,000;
   20-60 addresses each) with an in-process responder (each probe answered with probability A(b),
   no network): CPU and memory per 100k blocks, and how many blocks one core can track per
   11-minute round. The socket's own cost comes from part 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import sys
import time
import tracemalloc
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from lightsout.sources.probing.hitlist import Hitlist  # noqa: E402
from lightsout.sources.probing.icmp import IcmpSocket  # noqa: E402
from lightsout.sources.probing.prober import ProbeParams, ProbeState, run_round, survey  # noqa: E402
from probing_sim import SimulatedNetwork  # noqa: E402


def cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def enter(namespace: str) -> None:
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)


def lab_part(rounds: int) -> tuple[float, float] | None:
    """(CPU seconds per probe, probes per block) of Lightsout's rounds against the lab."""
    from netlab.lab import netns_unavailable_reason
    from netlab.probing_lab import CONTROLS, ProbingLab
    from netlab.probing_lab import socket_in as _socket_in  # noqa: F401  (the test's way; we setns whole)

    reason = netns_unavailable_reason()
    if reason is not None:
        print(f"lab part skipped: {reason}")
        return None
    from lightsout.sources.probing.hitlist import build_hitlist, read_prefix_rows
    from lightsout.sources.probing.safety import DoNotProbe

    with TemporaryDirectory() as tmp:
        lab = ProbingLab(Path(tmp))
        lab.build()
        try:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            enter(lab.vantage)
            sock = IcmpSocket(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True)
            controls = tuple(int.from_bytes(socket.inet_aton(c), "big") for c in CONTROLS)
            params = ProbeParams(rate_pps=20_000, timeout_s=0.2, controls=controls)
            hitlist, _ = build_hitlist(
                read_prefix_rows(lab.prefix_file()), DoNotProbe.build(lab=True), geolocate=False
            )
            census = [(b << 8) + o for b, octets in lab.responsive.items() for o in octets]
            hitlist = survey(sock, hitlist.with_census(census), list(range(len(hitlist))), params, 0)
            state = ProbeState.fresh(hitlist)
            run_round(sock, hitlist, state, params, 0)  # first round: beliefs settle
            u0, s0 = cpu()
            w0 = time.perf_counter()
            probes = blocks = 0
            for i in range(rounds):
                result = run_round(sock, hitlist, state, params, 660 * (i + 1))
                probes += int(result.sent.sum())
                blocks += int(result.probed.sum())
            wall = time.perf_counter() - w0
            u1, s1 = cpu()
            print(
                f"lab: {rounds} rounds of {blocks // rounds:,} blocks, {probes:,} probes in {wall:.2f} s "
                f"(incl. {rounds} x 2 own-connectivity checks"
                f" and a {params.timeout_s} s tail per round)"
            )
            print(
                f"  Lightsout: {probes / wall:,.0f} probes/s, {blocks / wall:,.0f} blocks/s; CPU per probe "
                f"{1e6 * (u1 - u0) / probes:.1f} us user"
                f" + {1e6 * (s1 - s0) / probes:.1f} us system"
            )
            ours = probes / wall
            measured = ((u1 - u0) + (s1 - s0)) / probes, probes / blocks
            first = [hitlist.addresses_of(i)[0] for i in np.flatnonzero(hitlist.probeable()).tolist()]
            texts = [socket.inet_ntoa(a.to_bytes(4, "big")) for a in first]
            import icmplib

            u0, s0 = cpu()
            w0 = time.perf_counter()
            hosts = asyncio.run(
                icmplib.async_multiping(
                    texts, count=1, timeout=params.timeout_s, concurrent_tasks=500, privileged=True
                )
            )
            wall = time.perf_counter() - w0
            u1, s1 = cpu()
            alive = sum(1 for h in hosts if h.is_alive)
            print(
                f"  icmplib {icmplib.__version__} async_multiping (500 tasks): {len(texts):,} probes, "
                f"{alive:,} "
                f"answered, {len(texts) / wall:,.0f} probes/s; CPU per probe "
                f"{1e6 * (u1 - u0) / len(texts):.1f} "
                f"us user + {1e6 * (s1 - s0) / len(texts):.1f} us system"
            )
            print(f"  ratio: Lightsout sends {ours / (len(texts) / wall):.1f}x icmplib's probes/s")
            sock.close()
            from ctypes import CDLL

            CDLL("libc.so.6").setns(own, 0x40000000)
            os.close(own)
        finally:
            lab.close()
    return measured


def synthetic(n: int, seed: int = 2) -> tuple[Hitlist, dict[int, float]]:
    rng = np.random.default_rng(seed)
    blocks = (np.arange(n, dtype=np.uint32) + (1 << 16)).astype(np.uint32)  # 1.0.0.0 onwards (never sent)
    sizes = rng.integers(20, 61, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    octets = rng.integers(1, 255, int(offsets[-1])).astype(np.uint8)
    a = rng.uniform(0.3, 1.0, n).astype(np.float32)
    hitlist = Hitlist(
        blocks,
        np.full(n, 64500, dtype=np.uint32),
        np.zeros(n, dtype=np.int32),
        np.full(n, -1, dtype=np.int32),
        ["XX"],
        [],
        offsets,
        octets,
        a,
        np.ones(n, dtype=np.int64),
    )
    return hitlist, dict(zip(blocks.tolist(), a.tolist(), strict=True))


def scale_part(n: int, lab: tuple[float, float] | None) -> None:
    hitlist, availability = synthetic(n)
    fixed = sum(
        x.nbytes
        for x in (
            hitlist.blocks,
            hitlist.asn,
            hitlist.country,
            hitlist.region,
            hitlist.e_offsets,
            hitlist.e_octets,
            hitlist.availability,
            hitlist.discovered_s,
        )
    )
    state = ProbeState.fresh(hitlist)
    fixed += sum(
        x.nbytes
        for x in (state.belief, state.state, state.cursor, state.a_pos, state.a_probes, state.window_probes)
    )
    responder = SimulatedNetwork(availability)
    params = ProbeParams(rate_pps=1e9, timeout_s=0.0, burst=1 << 20)
    run_round(responder, hitlist, state, params, 0)  # type: ignore[arg-type]  # settle the beliefs
    u0, s0 = cpu()
    result = run_round(responder, hitlist, state, params, 660)  # type: ignore[arg-type]
    u1, s1 = cpu()
    tracemalloc.start()  # a round of its own: tracing slows every allocation
    run_round(responder, hitlist, state, params, 1320)  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds = (u1 - u0) + (s1 - s0)
    probes = int(result.sent.sum())
    per_100k = seconds * 100_000 / n
    print(
        f"scale: one round of {n:,} blocks (A(b) 0.3-1.0), {probes:,} probes ({probes / n:.2f} per block), "
        f"{int(result.up.sum()):,} up"
    )
    print(
        f"  round engine CPU: {seconds:.2f} s = {per_100k:.2f} s per 100k blocks "
        f"({1e6 * seconds / probes:.1f} us per probe)"
    )
    print(
        f"  memory: {fixed / n * 1e5 / 2**20:.1f} MiB per 100k blocks kept between rounds "
        "(hitlist + state), "
        f"{peak / n * 1e5 / 2**20:.1f} MiB per 100k blocks more at the round's peak"
    )
    if lab is None:
        return
    lab_s, probes_per_block = lab
    per_block = probes_per_block * lab_s  # the lab's CPU per probe already holds the engine's
    print(
        f"1 M blocks per 11-minute round on one core: {probes_per_block:.2f} probes per block and "
        f"{1e6 * lab_s:.1f} us CPU per probe in the lab (engine + socket + kernel, the kernel's part "
        f"including the lab's forwarding): {per_block * 1e6:,.0f} CPU-s of the round's 660 "
        f"({100 * per_block * 1e6 / 660:.0f}% of a core); one core: {660 / per_block / 1e6:.1f} M blocks "
        f"per round (Trinocular: 3.4 M per machine). Rate needed for 1 M: "
        f"{probes_per_block * 1e6 / 660:,.0f} probes/s (default limit 2,000)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=1_000_000)
    parser.add_argument("--no-lab", action="store_true")
    args = parser.parse_args()
    lab = None if args.no_lab else lab_part(args.rounds)
    scale_part(args.blocks, lab)


if __name__ == "__main__":
    main()
