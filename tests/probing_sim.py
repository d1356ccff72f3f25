"""An in-process stand-in for the prober's ICMP socket (unit tests, bench): each probe to a block is
answered at once with that block's probability, so the round engine runs without a network."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator

import numpy as np

from lightsout.sources.probing.icmp import Reply


class SimulatedNetwork:
    def __init__(self, answer_probability: dict[int, float], seed: int = 1) -> None:
        self.answer_probability = answer_probability  # /24 block number -> P(reply)
        self.rng = np.random.default_rng(seed)
        self.queue: deque[int] = deque()
        self.sent: list[int] = []
        self.record = False
        self.token = 0
        self.send_errors = 0
        self.kind = "simulated"
        self._read, self._write = os.pipe()
        os.write(self._write, b"x")  # always readable: select never waits
        self._draws: Iterator[float] = iter(())

    def fileno(self) -> int:
        return self._read

    def set_payload(self, data: bytes) -> None:
        self.token = int.from_bytes(data[4:8], "big")

    def _draw(self) -> float:
        try:
            return next(self._draws)
        except StopIteration:
            self._draws = iter(self.rng.random(1 << 16).tolist())
            return next(self._draws)

    def send(self, address: int) -> bool:
        if self.record:
            self.sent.append(address)
        if self._draw() < self.answer_probability.get(address >> 8, 0.0):
            self.queue.append(address)
        return True

    def replies(self, limit: int = 4096) -> Iterator[Reply]:
        while self.queue:
            yield Reply(self.queue.popleft(), self.token)

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)
