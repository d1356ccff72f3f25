"""Per-series summaries for the DuckDB backend, kept at write time.

``Store.series()`` answers from one ``series_summary`` row per series, written by ``write_batch``
in the batch's own transaction: at IODA scale (450 million points) counting the points on every
read takes seconds. A batch that only extends a series (the next file of a stream) merges its
figures with the stored summary, exactly; one that rewrites or fills stored bins has the series
recounted from the points table after the write.
"""

from __future__ import annotations

import duckdb

SUMMARY_TABLE = (
    "CREATE TABLE series_summary (entity_id VARCHAR NOT NULL, signal VARCHAR NOT NULL, "
    "source VARCHAR NOT NULL, bin_s BIGINT NOT NULL, points BIGINT NOT NULL, first TIMESTAMPTZ NOT NULL, "
    "last TIMESTAMPTZ NOT NULL, min_value DOUBLE NOT NULL, max_value DOUBLE NOT NULL, "
    "PRIMARY KEY (entity_id, signal, source, bin_s))"
)

# Each series' figures over the batch's points (``points_arrow``).
BATCH_SUMMARY = (
    "SELECT entity_id, signal, source, bin_s, count(*) AS points, min(bin_start) AS first, "
    "max(bin_start) AS last, min(value) AS min_value, max(value) AS max_value FROM points_arrow GROUP BY ALL"
)

# Store.series() from the summaries (one row per series, kept at write time).
SUMMARY_SERIES = (
    "SELECT s.entity_id, s.signal, s.source, s.bin_s, s.points, s.first, s.last, s.min_value, "
    "s.max_value FROM series_summary s JOIN entities e USING (entity_id) "
    "WHERE (? IS NULL OR s.entity_id = ?) AND (? IS NULL OR e.country_code = ?) "
    "AND (?::VARCHAR[] IS NULL OR s.entity_id IN (SELECT unnest(?::VARCHAR[]))) "
    "ORDER BY s.entity_id, s.signal, s.source, s.bin_s"
)

# Store.series() of a store written before summaries were kept, opened read-only: count the points.
COUNTED_SERIES = (
    "SELECT p.entity_id, p.signal, p.source, p.bin_s, count(*), min(p.bin_start), "
    "max(p.bin_start), min(p.value), max(p.value) FROM points p "
    "JOIN entities e USING (entity_id) "
    "WHERE (? IS NULL OR p.entity_id = ?) AND (? IS NULL OR e.country_code = ?) "
    "AND (?::VARCHAR[] IS NULL OR p.entity_id IN (SELECT unnest(?::VARCHAR[]))) "
    "GROUP BY ALL ORDER BY p.entity_id, p.signal, p.source, p.bin_s"
)


def create_summaries(con: duckdb.DuckDBPyConnection) -> None:
    """The summary table of a store written before summaries were kept: count every series once."""
    con.begin()
    try:
        con.execute(SUMMARY_TABLE)
        con.execute(
            "INSERT INTO series_summary SELECT entity_id, signal, source, bin_s, count(*), "
            "min(bin_start), max(bin_start), min(value), max(value) FROM points GROUP BY ALL"
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def write_points(con: duckdb.DuckDBPyConnection) -> None:
    """The batch's points (``points_arrow``) and their series' summaries, inside the caller's
    transaction. A series the batch only extends (the next file of a stream) merges its summary
    with the batch's, exactly; one whose stored bins it rewrites or fills is recounted after the
    write."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE redo_keys AS SELECT b.entity_id, b.signal, b.source, b.bin_s "
        f"FROM ({BATCH_SUMMARY}) b JOIN series_summary s USING (entity_id, signal, source, bin_s) "
        "WHERE b.first <= s.last"
    )
    # A later file covering the same bins of the same source replaces them.
    con.execute(
        "INSERT INTO points SELECT * FROM points_arrow "
        "ON CONFLICT (entity_id, signal, source, bin_s, bin_start) "
        "DO UPDATE SET value = excluded.value, samples = excluded.samples"
    )
    con.execute(
        f"INSERT INTO series_summary SELECT * FROM ({BATCH_SUMMARY}) b "
        "ANTI JOIN redo_keys USING (entity_id, signal, source, bin_s) "
        "ON CONFLICT (entity_id, signal, source, bin_s) DO UPDATE SET "
        "points = points + excluded.points, last = excluded.last, "
        "min_value = least(min_value, excluded.min_value), "
        "max_value = greatest(max_value, excluded.max_value)"
    )
    if con.execute("SELECT count(*) FROM redo_keys").fetchone() != (0,):
        con.execute(
            "INSERT OR REPLACE INTO series_summary SELECT p.entity_id, p.signal, p.source, p.bin_s, "
            "count(*), min(p.bin_start), max(p.bin_start), min(p.value), max(p.value) "
            "FROM points p SEMI JOIN redo_keys USING (entity_id, signal, source, bin_s) GROUP BY ALL"
        )
    con.execute("DROP TABLE redo_keys")
