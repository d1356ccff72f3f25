"""Trinocular's belief that a /24 block is up, and its stopping rule.

Method: Quan, Heidemann & Pradkin, "Trinocular: Understanding Internet Reliability Through
Adaptive Probing", ACM SIGCOMM 2013. Each block ``b`` has a set ``E(b)`` of ever-responsive
addresses and an availability ``A(b)``: the chance that one address of ``E(b)`` answers a probe
while the block is up. A probe's outcome updates the belief ``B = P(up)`` by Bayes' rule:

* positive reply: ``B' = A B / (A B + eps (1 - B))``
* no reply:       ``B' = (1 - A) B / ((1 - A) B + (1 - eps) (1 - B))``

where ``eps = P(reply | down)``. Trinocular's model has a down block never answer; Lightsout keeps
a small ``eps`` (1 %) so that one stray or spoofed reply cannot pin the belief at certainty, and
keeps ``B`` within ``[0.01, 0.99]`` so that a change of state always takes a bounded number of
probes. The block's state follows the belief with hysteresis, as IODA's trinarkular reports it:
UP above 0.9, DOWN below 0.1, otherwise the previous state (and the round is "uncertain").

Adaptive probing: one probe per block per round; when the outcome agrees with the current state
(a reply from an UP block, silence from a DOWN one) the round is done for that block; when it
disagrees, more probes follow until the belief is decisive and the last outcome agrees with it,
never more than ``MAX_PROBES`` (15) per block per round.

``A(b)`` is re-estimated from the rounds in which the block was up (positive replies over probes,
with exponential forgetting). Within an up round probes stop at the first reply, so the counts are
a geometric sample and their ratio is its maximum-likelihood estimate of ``A(b)``.
"""

from __future__ import annotations

UP_THRESHOLD = 0.9
DOWN_THRESHOLD = 0.1
MAX_PROBES = 15  # per block per round (Trinocular)
EPSILON = 0.01  # P(reply | block down)
BELIEF_MIN, BELIEF_MAX = 0.01, 0.99
A_MIN, A_MAX = 0.05, 0.95  # A(b) used in the update; outside, one probe would decide too much

UP, DOWN, UNKNOWN = 1, 0, -1


def clamp_availability(a: float) -> float:
    return min(A_MAX, max(A_MIN, a))


def update(belief: float, availability: float, answered: bool) -> float:
    """Bayes' rule for one probe outcome (module docstring)."""
    a = clamp_availability(availability)
    if answered:
        up, down = a * belief, EPSILON * (1.0 - belief)
    else:
        up, down = (1.0 - a) * belief, (1.0 - EPSILON) * (1.0 - belief)
    return min(BELIEF_MAX, max(BELIEF_MIN, up / (up + down)))


def next_state(state: int, belief: float) -> int:
    """The block's state after a belief change: hysteresis between the two thresholds."""
    if belief >= UP_THRESHOLD:
        return UP
    if belief <= DOWN_THRESHOLD:
        return DOWN
    return state


def decided(belief: float, answered: bool, probes: int, max_probes: int = MAX_PROBES) -> bool:
    """Whether this round's probing of a block is done after its latest outcome: the belief is
    decisive and the outcome agrees with it (silence from a block believed up is confirmed by
    more probes), or the block had its ``max_probes``."""
    if probes >= max_probes:
        return True
    if belief >= UP_THRESHOLD:
        return answered
    if belief <= DOWN_THRESHOLD:
        return not answered
    return False
