"""Probing rounds: adaptive probing of every block, paced by a global packet rate, and the
vantage point's own connectivity check.

One round (:func:`run_round`), as Trinocular does it (Quan, Heidemann & Pradkin, SIGCOMM 2013):

1. **Own connectivity** — the control targets (several networks outside the probed ones) are
   pinged, up to three tries each. If fewer than ``min_control_share`` answer, the vantage point is
   cut off: the round is a *gap* and nothing of the probed blocks is judged. The check runs again
   after the round; a vantage point that lost its uplink during the round discards the round.
2. **Probing** — every probeable block, in a fresh random order, gets one probe to the next
   address of ``E(b)`` (cycling through it). The first probes are spread over ``spread_s``;
   every probe (first or follow-up) waits for a token of the global rate limiter (``rate_pps``).
   A reply or a timeout updates the block's belief (:mod:`.belief`); a block whose outcome
   disagrees with its state gets follow-up probes at once, at most ``max_probes`` in the round and
   never beyond its hourly budget (``hourly_budget``: Trinocular's 15 probes per 11-minute round,
   82 an hour).
3. **Learning** — A(b) is re-estimated from the rounds in which the block was up.

Only one probe per block is in flight at a time, so a block never sees a burst from us.
"""

from __future__ import annotations

import math
import secrets
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lightsout.sources.probing import belief as bl
from lightsout.sources.probing.hitlist import Hitlist
from lightsout.sources.probing.icmp import IcmpSocket, payload

TRINOCULAR_ROUND_S = 660
HOURLY_BUDGET = math.ceil(bl.MAX_PROBES * 3600 / TRINOCULAR_ROUND_S)  # 82 probes per block per hour
DEFAULT_RATE_PPS = 2000.0
DEFAULT_OPT_OUT_URL = (
    "https://github.com/lightsout-observatory/lightsout/blob/main/docs/probing.md#opting-out"
)
A_PRIOR_PROBES = 5.0  # weight of discovery's A(b), in probes
A_DECAY = 0.95  # per up-round forgetting of the A(b) counts
CHUNK_S = 60.0  # discovery and survey send about this many seconds of probes between two waits


@dataclass(frozen=True, slots=True)
class ProbeParams:
    rate_pps: float = DEFAULT_RATE_PPS
    timeout_s: float = 3.0  # how long a probe waits for its reply (Trinocular: 3 s)
    max_probes: int = bl.MAX_PROBES
    hourly_budget: int = HOURLY_BUDGET
    budget_window_s: int = 3600
    spread_s: float = 0.0  # the first probes of a round are spread over this many seconds
    controls: tuple[int, ...] = ()
    min_control_share: float = 0.5
    control_tries: int = 3
    opt_out_url: str = DEFAULT_OPT_OUT_URL
    burst: int = 50  # tokens the rate limiter may hold


@dataclass(slots=True)
class ProbeState:
    """What the prober remembers of every block between rounds (saved with the hitlist's order)."""

    belief: npt.NDArray[np.float64]
    state: npt.NDArray[np.int8]
    cursor: npt.NDArray[np.int64]
    a_pos: npt.NDArray[np.float64]  # decayed count of replies in up rounds
    a_probes: npt.NDArray[np.float64]  # decayed count of probes in up rounds
    window_start_s: int
    window_probes: npt.NDArray[np.int64]  # probes sent to the block in the current budget window

    @classmethod
    def fresh(cls, hitlist: Hitlist) -> ProbeState:
        n = len(hitlist)
        a0 = np.nan_to_num(hitlist.availability.astype(np.float64), nan=0.0)
        rng = np.random.default_rng()
        sizes = np.maximum(hitlist.responsive_counts(), 1)
        # A block just found answering is believed up until a probe says otherwise.
        start = rng.integers(0, 1 << 30, n) % sizes
        return cls(
            np.full(n, bl.BELIEF_MAX), np.full(n, bl.UNKNOWN, dtype=np.int8), start,
            a0 * A_PRIOR_PROBES, np.full(n, A_PRIOR_PROBES), 0, np.zeros(n, dtype=np.int64),
        )  # fmt: skip

    def availability(self) -> npt.NDArray[np.float64]:
        return np.where(self.a_probes > 0, self.a_pos / np.maximum(self.a_probes, 1e-9), 0.0)

    def copy(self) -> ProbeState:
        return ProbeState(self.belief.copy(), self.state.copy(), self.cursor.copy(), self.a_pos.copy(),
                          self.a_probes.copy(), self.window_start_s, self.window_probes.copy())  # fmt: skip


@dataclass(slots=True)
class RoundResult:
    start_s: int
    gap: bool
    reason: str = ""
    probed: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    sent: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    answered: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    up: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    judged: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    controls_answered: int = 0
    controls_total: int = 0
    over_budget: int = 0
    late_replies: int = 0
    send_errors: int = 0
    duration_s: float = 0.0

    @property
    def uncertain(self) -> int:
        return int((self.probed & ~self.judged).sum())


class _Limiter:
    """Token bucket: ``rate`` tokens a second, at most ``burst`` saved."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, float(max(1, burst)), clock
        self.tokens, self.last = 1.0, clock()

    def available(self) -> float:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        return self.tokens

    def wait_s(self) -> float:
        return max(0.0, (1.0 - self.tokens) / self.rate)


def ping(sock: IcmpSocket, addresses: list[int], params: ProbeParams, tries: int = 1) -> set[int]:
    """Which of ``addresses`` answer, each tried up to ``tries`` times (paced by the rate limit)."""
    answered: set[int] = set()
    todo = list(dict.fromkeys(addresses))
    for _ in range(tries):
        if not todo:
            break
        answered |= scan(sock, todo, params)
        todo = [a for a in todo if a not in answered]
    return answered


def scan(sock: IcmpSocket, addresses: list[int], params: ProbeParams) -> set[int]:
    """One probe to each address at the global rate; the set of those that answered in time."""
    token = secrets.randbits(32)
    sock.set_payload(payload(token, params.opt_out_url))
    limiter = _Limiter(params.rate_pps, params.burst, time.monotonic)
    wanted = set(addresses)
    answered: set[int] = set()
    i = 0
    last_send = time.monotonic()
    while True:
        if i < len(addresses):
            while i < len(addresses) and limiter.available() >= 1.0:
                limiter.tokens -= 1.0
                sock.send(addresses[i])
                i += 1
            last_send = time.monotonic()
        for reply in sock.replies():
            if reply.token == token and reply.address in wanted:
                answered.add(reply.address)
        now = time.monotonic()
        if i >= len(addresses) and (now - last_send >= params.timeout_s or len(answered) == len(wanted)):
            return answered
        wait = limiter.wait_s() if i < len(addresses) else params.timeout_s - (now - last_send)
        select.select([sock], [], [], max(0.0, min(wait, 0.05)))


def connectivity(sock: IcmpSocket, params: ProbeParams) -> tuple[bool, int]:
    """Whether the vantage point reaches enough of its control targets; how many answered."""
    if not params.controls:
        return True, 0
    answered = ping(sock, list(params.controls), params, tries=params.control_tries)
    return len(answered) >= math.ceil(params.min_control_share * len(params.controls)), len(answered)


def run_round(
    sock: IcmpSocket,
    hitlist: Hitlist,
    state: ProbeState,
    params: ProbeParams,
    start_s: int,
    probeable: npt.NDArray[np.bool_] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RoundResult:
    """Probe every probeable block once, adaptively (module docstring). ``state`` is updated in
    place unless the round is a gap. ``start_s``: the round's start (UTC epoch seconds), which
    names its time bin."""
    began = clock()
    n = len(hitlist)
    ok, got = connectivity(sock, params)
    controls = len(params.controls)
    if not ok:
        reason = f"own connectivity: {got}/{controls} control targets answered"
        return RoundResult(start_s, True, reason, controls_answered=got, controls_total=controls,
                           duration_s=clock() - began)  # fmt: skip
    if start_s - state.window_start_s >= params.budget_window_s or start_s < state.window_start_s:
        state.window_start_s = start_s - start_s % params.budget_window_s
        state.window_probes[:] = 0
    if probeable is None:
        probeable = hitlist.probeable()
    budget_left = params.hourly_budget - state.window_probes
    eligible = probeable & (budget_left > 0)
    over_budget = int((probeable & ~eligible).sum())
    order = np.flatnonzero(eligible)
    np.random.default_rng().shuffle(order)

    token = secrets.randbits(32)
    sock.set_payload(payload(token, params.opt_out_url))
    base = (hitlist.blocks.astype(np.int64) << 8).tolist()
    offsets = hitlist.e_offsets.tolist()
    octets = hitlist.e_octets.tobytes()
    belief = state.belief.tolist()
    st = state.state.tolist()
    cursor = state.cursor.tolist()
    avail = state.availability().tolist()
    limit = np.minimum(budget_left, params.max_probes).tolist()
    sent = [0] * n
    answered = [0] * n
    followups: deque[int] = deque()
    pending: dict[int, tuple[int, int]] = {}  # address -> (block, probe number)
    deadlines: deque[tuple[float, int, int]] = deque()
    limiter = _Limiter(params.rate_pps, params.burst, clock)
    first_gap = params.spread_s / max(1, order.size)
    order_list = order.tolist()
    next_first = 0
    probe_no = 0
    late = 0
    timeout = params.timeout_s
    send = sock.send

    def outcome(b: int, replied: bool) -> None:
        value = bl.update(belief[b], avail[b], replied)
        belief[b] = value
        st[b] = bl.next_state(st[b], value)
        if not bl.decided(value, replied, sent[b], limit[b]):
            followups.append(b)

    t0 = clock()
    while True:
        tokens = limiter.available()
        now = limiter.last
        while tokens >= 1.0:
            if followups:
                b = followups.popleft()
            elif next_first < len(order_list) and now >= t0 + next_first * first_gap:
                b = order_list[next_first]
                next_first += 1
            else:
                break
            start, size = offsets[b], offsets[b + 1] - offsets[b]
            address = base[b] + octets[start + cursor[b] % size]
            cursor[b] += 1
            sent[b] += 1
            tokens -= 1.0
            probe_no += 1
            if send(address):
                pending[address] = (b, probe_no)
                deadlines.append((now + timeout, address, probe_no))
            else:
                outcome(b, False)
        limiter.tokens = tokens
        for reply in sock.replies():
            entry = pending.pop(reply.address, None) if reply.token == token else None
            if entry is None:
                late += 1
                continue
            answered[entry[0]] += 1
            outcome(entry[0], True)
        now = clock()
        while deadlines and deadlines[0][0] <= now:
            _, address, number = deadlines.popleft()
            entry = pending.get(address)
            if entry is not None and entry[1] == number:
                del pending[address]
                outcome(entry[0], False)
        if not pending and not followups and next_first >= len(order_list):
            break
        waits = [deadlines[0][0] - now] if deadlines else [timeout]
        if followups or next_first < len(order_list):
            waits.append(limiter.wait_s())
            if not followups:
                waits.append(t0 + next_first * first_gap - now)
        select.select([sock], [], [], max(0.0, min(min(waits), 0.05)))

    ok, got = connectivity(sock, params)
    reason = "" if ok else f"own connectivity after the round: {got}/{controls} control targets answered"
    result = RoundResult(start_s, not ok, reason, controls_answered=got, controls_total=controls,
                         over_budget=over_budget, late_replies=late, send_errors=sock.send_errors,
                         duration_s=clock() - began)  # fmt: skip
    if not ok:
        return result
    sent_a = np.array(sent, dtype=np.int64)
    answered_a = np.array(answered, dtype=np.int64)
    belief_a = np.array(belief)
    state_a = np.array(st, dtype=np.int8)
    probed = sent_a > 0
    state.belief = belief_a
    state.state = state_a
    state.cursor = np.array(cursor, dtype=np.int64) % np.maximum(hitlist.responsive_counts(), 1)
    state.window_probes += sent_a
    learn = probed & (belief_a >= bl.UP_THRESHOLD)
    state.a_pos[learn] = state.a_pos[learn] * A_DECAY + answered_a[learn]
    state.a_probes[learn] = state.a_probes[learn] * A_DECAY + sent_a[learn]
    result.probed = probed
    result.sent = sent_a
    result.answered = answered_a
    result.up = probed & (state_a == bl.UP)
    result.judged = probed & ((belief_a >= bl.UP_THRESHOLD) | (belief_a <= bl.DOWN_THRESHOLD))
    return result


def discover(
    sock: IcmpSocket,
    hitlist: Hitlist,
    indices: list[int],
    params: ProbeParams,
    now_s: int,
    second_pass_delay_s: float = 1.0,
) -> Hitlist:
    """Find E(b) and a first A(b) for the blocks ``indices``: every address .1-.254 is probed once,
    interleaved across blocks (a block sees one probe from us at a time, not a sweep), at the global
    rate; then :func:`survey` probes the addresses that answered again for A(b) (a census and a
    re-survey, as Trinocular takes E(b) and A(b) from ISI's census)."""
    found: dict[int, list[int]] = {}
    # A minute of probes per chunk: the reply timeout waited after each chunk costs ~5 %, and a
    # block sees its 254 probes spread over that minute (one every ~0.25 s), never as a burst.
    chunk = max(1, int(params.rate_pps * CHUNK_S) // 254)
    for lo in range(0, len(indices), chunk):
        part = indices[lo : lo + chunk]
        bases = [int(hitlist.blocks[i]) << 8 for i in part]
        addresses = [b + octet for octet in range(1, 255) for b in bases]
        by_block: dict[int, list[int]] = {}
        for address in scan(sock, addresses, params):
            by_block.setdefault(address >> 8, []).append(address & 255)
        for i, b in zip(part, bases, strict=True):
            if (b >> 8) in by_block:
                found[i] = by_block[b >> 8]
    time.sleep(second_pass_delay_s)
    return survey(sock, hitlist.with_discovery(indices, found, {}, now_s), indices, params, now_s)


def survey(
    sock: IcmpSocket, hitlist: Hitlist, indices: list[int], params: ProbeParams, now_s: int
) -> Hitlist:
    """A(b) of the blocks ``indices``: the share of E(b) that answers one probe each (sent
    interleaved across blocks, at the global rate). E(b) may come from :func:`discover` or from a
    census file (``Hitlist.with_census``)."""
    chosen = [i for i in indices if hitlist.e_offsets[i + 1] > hitlist.e_offsets[i]]
    found: dict[int, list[int]] = {}
    availability: dict[int, float] = {}
    sizes = hitlist.responsive_counts()
    per_chunk = int(params.rate_pps * CHUNK_S)  # probes per chunk, as in discover
    lo = 0
    while lo < len(chosen):
        hi, probes = lo, 0
        while hi < len(chosen) and (probes < per_chunk or hi == lo):
            probes += int(sizes[chosen[hi]])
            hi += 1
        lists = {i: hitlist.addresses_of(i) for i in chosen[lo:hi]}
        width = max(len(v) for v in lists.values())
        addresses = [v[k] for k in range(width) for v in lists.values() if k < len(v)]
        answered = scan(sock, addresses, params)
        for i, members in lists.items():
            found[i] = [a & 255 for a in members]
            availability[i] = sum(1 for a in members if a in answered) / len(members)
        lo = hi
    return hitlist.with_discovery(indices, found, availability, now_s)
