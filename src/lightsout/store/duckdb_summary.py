"""Per-series summaries for the DuckDB backend, kept at write time (duckdb_points.write_points).

``Store.series()`` answers from one row per series: at IODA scale (450 million points) counting
the points on every read takes seconds. A batch that only extends a series (the next file of a
stream) merges its figures with the stored summary, exactly; one that rewrites or fills stored
bins has the series recounted from the points table after the write.

A store of an older points layout (duckdb_points.points_layout) opened read-only is read as it
is: layout 1 kept its summaries in ``series_summary``; layout 0 kept none, and its series are
counted from the points.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np

from lightsout.model import SeriesKey

_SERIES_WHERE = (
    "WHERE (? IS NULL OR s.entity_id = ?) AND (? IS NULL OR e.country_code = ?) "
    "AND (?::VARCHAR[] IS NULL OR s.entity_id IN (SELECT unnest(?::VARCHAR[]))) "
    "ORDER BY s.entity_id, s.signal, s.source, s.bin_s"
)
_SUMMARY_COLUMNS = (
    "SELECT s.entity_id, s.signal, s.source, s.bin_s, s.points, s.first, s.last, s.min_value, s.max_value"
)

# Store.series() from the summaries (one row per series, kept at write time).
# The series' id comes last (the reader keeps it: Store.points() of that series needs no lookup).
SUMMARY_SERIES = (
    f"{_SUMMARY_COLUMNS}, s.series_id FROM series s JOIN entities e USING (entity_id) {_SERIES_WHERE}"
)

# The same from a store of points layout 1, opened read-only.
LAYOUT1_SERIES = f"{_SUMMARY_COLUMNS} FROM series_summary s JOIN entities e USING (entity_id) {_SERIES_WHERE}"

# Store.series() of a store of points layout 0 (no summaries kept), opened read-only: count the points.
COUNTED_SERIES = (
    "SELECT s.entity_id, s.signal, s.source, s.bin_s, count(*), min(s.bin_start), "
    "max(s.bin_start), min(s.value), max(s.value) FROM points s "
    f"JOIN entities e USING (entity_id) {_SERIES_WHERE.replace('ORDER BY', 'GROUP BY ALL ORDER BY')}"
)

_OLDER_POINTS = (
    "SELECT epoch(bin_start)::BIGINT, value FROM points WHERE entity_id = ? AND signal = ? "
    "AND source = ? AND bin_s = ? AND (?::TIMESTAMPTZ IS NULL OR bin_start >= ?) "
    "AND (?::TIMESTAMPTZ IS NULL OR bin_start < ?) ORDER BY bin_start"
)


def older_points(
    con: duckdb.DuckDBPyConnection, key: SeriesKey, since: datetime | None, until: datetime | None
) -> tuple[np.ndarray, np.ndarray]:
    """Store.points() of a store of points layout 0 or 1, opened read-only."""
    rows = con.execute(
        _OLDER_POINTS, [key.entity_id, key.signal.value, key.source, key.bin_s, since, since, until, until]
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float64)
