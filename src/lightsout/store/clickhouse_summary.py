"""Per-series summaries for the ClickHouse backend, kept at write time.

``Store.series()`` answers from a ``series_summary`` row per series instead of aggregating every
stored point (at IODA scale, 450 million points deduplicated by key would take tens of GB of
memory per query). Each write stores, in its own generation and so published with it, the new
summary of every series its points touch:

- a series the store did not have: the batch's own figures;
- a batch that only adds bins after the series' last stored bin (the usual case: the next file of
  a stream): the old summary merged with the batch's figures, exactly (count adds, min/max/first/
  last combine);
- otherwise (the batch rewrites or fills bins the series already has): recomputed from the points
  table over the published rows and the batch's own, the batch's values winning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from lightsout.model import SignalKind, SignalPoint

# (entity_id, signal, source, bin_s), as stored
Key = tuple[str, str, str, int]

SUMMARY_TABLE = (
    "CREATE TABLE IF NOT EXISTS series_summary (entity_id String, signal String, source String, "
    "bin_s Int64, points Int64, first Int64, last Int64, min_value Float64, max_value Float64, "
    "gen UInt64) ENGINE = ReplacingMergeTree(gen) PARTITION BY tuple() "
    "ORDER BY (entity_id, signal, source, bin_s)"
)
SUMMARY_COLUMNS = (
    "entity_id",
    "signal",
    "source",
    "bin_s",
    "points",
    "first",
    "last",
    "min_value",
    "max_value",
    "gen",
)


@dataclass(frozen=True, slots=True)
class Summary:
    points: int
    first_us: int
    last_us: int
    min_value: float
    max_value: float

    def then(self, later: Summary) -> Summary:
        """This summary followed by one of bins all after it."""
        return Summary(
            self.points + later.points,
            self.first_us,
            later.last_us,
            min(self.min_value, later.min_value),
            max(self.max_value, later.max_value),
        )


def batch_summaries(points: Iterable[SignalPoint], micros: Callable[[datetime], int]) -> dict[Key, Summary]:
    """Each series' figures over the batch's points (a bin given twice counts once, its last value)."""
    values: dict[tuple[str, SignalKind, str, int], dict[datetime, float]] = {}
    for p in points:
        key = (p.entity_id, p.signal, p.source, p.bin_s)
        bins = values.get(key)
        if bins is None:
            bins = values[key] = {}
        bins[p.bin_start] = p.value
    out = {}
    for (entity_id, signal, source, bin_s), bins in values.items():
        vs = bins.values()
        summary = Summary(len(bins), micros(min(bins)), micros(max(bins)), min(vs), max(vs))
        out[(entity_id, signal.value, source, bin_s)] = summary
    return out
