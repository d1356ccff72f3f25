"""Signal points as columns: what a reader that makes many points (MRT: ~200k per full table)
hands over instead of one :class:`~lightsout.model.SignalPoint` object per point.

One row per point, in the order the objects would have: entity ids and signals are given once each
(``words``, ``signals``) and indexed per row, numbers are numpy arrays, the source and bin length
are one for the whole set (one reader's file). Every MRT ingest (``lightsout ingest``, its parallel
workers, the archive follower, RIS Live) writes them as Arrow columns
(:func:`lightsout.ingest.make_batch`, :func:`lightsout.store.schema.columns_table`), the bounds
checked on them (:func:`lightsout.sources.bounds.drop_bad_columns`) with the same result as on the
objects; :meth:`PointColumns.points` gives the objects (tests, tools, ``read_mrt(columns=False)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lightsout.model import SignalKind, SignalPoint

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(slots=True)
class PointColumns:
    """Signal points as columns (see the module docstring)."""

    source: str
    bin_s: int
    words: list[str]  # the distinct entity ids
    entity: npt.NDArray[np.int64]  # per row: its entity id's index in ``words``
    signals: list[SignalKind]  # the distinct signals
    signal: npt.NDArray[np.int64]  # per row: its signal's index in ``signals``
    bin_start_s: npt.NDArray[np.int64]  # per row: Unix seconds (UTC)
    value: npt.NDArray[np.float64]
    samples: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.value)

    def select(self, keep: npt.NDArray[np.bool_]) -> PointColumns:
        """The rows where ``keep`` is true, in order."""
        return PointColumns(
            self.source,
            self.bin_s,
            self.words,
            self.entity[keep],
            self.signals,
            self.signal[keep],
            self.bin_start_s[keep],
            self.value[keep],
            self.samples[keep],
        )

    def points(self, rows: list[int] | None = None) -> list[SignalPoint]:
        """The rows (all, or those numbered in ``rows``) as :class:`SignalPoint` objects."""

        def pick(column: npt.NDArray[Any]) -> list[Any]:
            picked: list[Any] = (column if rows is None else column[rows]).tolist()
            return picked

        words, signals, source, bin_s = self.words, self.signals, self.source, self.bin_s
        starts: dict[int, datetime] = {}  # a file has a few bins: one datetime each, shared
        out: list[SignalPoint] = []
        append = out.append
        for entity, signal, start, value, samples in zip(
            pick(self.entity),
            pick(self.signal),
            pick(self.bin_start_s),
            pick(self.value),
            pick(self.samples),
            strict=True,
        ):
            when = starts.get(start)
            if when is None:
                when = starts[start] = datetime.fromtimestamp(start, UTC)
            append(SignalPoint(words[entity], signals[signal], source, when, bin_s, value, samples))
        return out


__all__ = ["PointColumns"]
