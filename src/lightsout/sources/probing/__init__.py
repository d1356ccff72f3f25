"""Lightsout's own active probing: a Trinocular-style prober of /24 blocks (docs/probing.md).

Quan, Heidemann & Pradkin, "Trinocular: Understanding Internet Reliability Through Adaptive
Probing", ACM SIGCOMM 2013: per block, ever-responsive addresses E(b) and availability A(b), a
Bayesian belief that the block is up updated by each probe, adaptive probing until the belief is
decisive (at most 15 probes per block per 11-minute round); UP above 0.9, DOWN below 0.1 as
IODA's trinarkular reports it.

* :mod:`.safety` — what may never be probed (bogons, the do-not-probe file; the lab's ranges only)
* :mod:`.hitlist` — the blocks of a country / AS / prefix list and their responsive addresses
* :mod:`.icmp` — ICMP echo through a raw or an unprivileged datagram socket
* :mod:`.belief` — the Bayesian belief and the stopping rule
* :mod:`.prober` — discovery, the own-connectivity check, one adaptive round under a rate limit
* :mod:`.rounds` — rounds as signals in the store, state across restarts, the round loop
"""
