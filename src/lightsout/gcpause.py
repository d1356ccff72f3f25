"""Python's cyclic garbage collector paused around work that makes many objects without cycles.

Readers and writers of large files make hundreds of thousands of objects (prefix keys, tuples,
points, entities) none of which can form a cycle; each collection meanwhile walks all of them
(~13 % of the CPU of an MRT full table's read, measured with perf; docs/mrt.md). Nested pauses are
safe: only the outermost one enables the collector again, and only if it was enabled before.
"""

from __future__ import annotations

import gc
from types import TracebackType


class gc_paused:  # lower case: used as a statement, like contextlib's helpers
    """``with gc_paused(): ...``: the collector off inside, restored as it was on leaving."""

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._was_enabled:
            gc.enable()
