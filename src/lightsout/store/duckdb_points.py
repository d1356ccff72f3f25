"""The points of the DuckDB backend: compact series ids, no index on the points, uniqueness kept by
the write.

Layout (``POINTS_LAYOUT`` 2; docs/design.md, "DuckDB points"):

- ``series``: one row per series (entity, signal, source, bin), with its integer ``series_id`` and
  its summary (points, first and last bin, min and max value), kept at write time;
- ``points``: ``(series_id, bin_start, value, samples)`` with no key and no index: each file's
  points are appended sorted by series and time, so that the zonemaps (min/max per row group and
  segment) of ``series_id`` and ``bin_start`` skip what a read of one series does not need.

Uniqueness of (series, bin) is the write's job, in the file's one transaction: a batch whose
points of a series all come after the series' stored last bin (the next file of a stream)
appends; one that covers stored bins first deletes the bins it covers (a later file covering the
same bins of the same source replaces them), and its series' summaries are recounted. A batch
holding one bin twice keeps the first (as the previous layout's ``ON CONFLICT`` did).

The previous layout (``points`` keyed by ``(entity_id, signal, source, bin_s, bin_start)``, an
ART index of those VARCHARs: 98 bytes per point, 18,000 points/s at 74,000 entities) is migrated
when a writer opens the store (:func:`migrate_points`); a reader of such a store reads it as it is.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Sequence
from datetime import datetime
from itertools import count
from operator import attrgetter

import duckdb
import numpy as np
import pyarrow as pa

from lightsout.gcpause import gc_paused
from lightsout.model import FileSeries, SeriesKey, SignalKind, SignalPoint

POINTS_LAYOUT = 2

# The series' key (entity, signal, source, bin) has no UNIQUE index since 2026-12-03 21:10: the
# write keeps it unique (write_points gives an id only to a key the store does not hold, its keys
# distinct per batch), and nothing reads through it (the look-up of a key is a sequential scan:
# DuckDB's index scans take one column). Building that 4-VARCHAR ART index cost ~0.09 CPU s of a
# fresh store's ingest of one full table (104k new series: insert + checkpoint 0.18 -> 0.09 s).
# Stores made before keep it, unused.
SERIES_TABLE = (
    "CREATE TABLE IF NOT EXISTS series (series_id INTEGER NOT NULL PRIMARY KEY, "
    "entity_id VARCHAR NOT NULL, signal VARCHAR NOT NULL, source VARCHAR NOT NULL, bin_s BIGINT NOT NULL, "
    "points BIGINT NOT NULL, first TIMESTAMPTZ NOT NULL, last TIMESTAMPTZ NOT NULL, "
    "min_value DOUBLE NOT NULL, max_value DOUBLE NOT NULL)"
)
# Which file wrote which bins of which series (Store.file_series): a row per part of a file and
# series (a file written in parts may have several for one series; reads merge them), no index.
FILE_SERIES_TABLE = (
    "CREATE TABLE IF NOT EXISTS file_series (sha256 VARCHAR NOT NULL, series_id INTEGER NOT NULL, "
    "first TIMESTAMPTZ NOT NULL, last TIMESTAMPTZ NOT NULL, points BIGINT NOT NULL)"
)
POINTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {name} (series_id INTEGER NOT NULL, bin_start TIMESTAMPTZ NOT NULL, "
    "value DOUBLE NOT NULL, samples BIGINT NOT NULL)"
)

_KEY = attrgetter("entity_id", "signal", "source", "bin_s")
_BIN_START = attrgetter("bin_start")
_VALUE = attrgetter("value")
_SAMPLES = attrgetter("samples")
_UTC_US = pa.timestamp("us", tz="UTC")


def points_layout(con: duckdb.DuckDBPyConnection) -> int:
    """2: this module's layout; 1: points keyed by their VARCHARs with kept summaries; 0: the
    same without summaries (counted on read); -1: no points table yet."""
    columns = _columns(con, "points")
    if not columns:
        return -1
    if "series_id" in columns:
        return POINTS_LAYOUT
    summaries = con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_name = 'series_summary'"
    ).fetchone()
    return 1 if summaries else 0


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])
    return {row[0] for row in rows.fetchall()}


def keyed_file_series(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``file_series`` is of the older layout: keyed by the series' VARCHARs and the file."""
    return "entity_id" in _columns(con, "file_series")


def upgrade_points(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """A writer's open: the points and provenance tables made, or brought to this layout."""
    if points_layout(con) in (0, 1):
        migrate_points(con, path)
    if keyed_file_series(con):
        con.begin()
        try:
            con.execute("ALTER TABLE file_series RENAME TO file_series_keyed")
            con.execute(FILE_SERIES_TABLE)
            con.execute(
                "INSERT INTO file_series SELECT f.sha256, s.series_id, f.first, f.last, f.points "
                "FROM file_series_keyed f JOIN series s USING (entity_id, signal, source, bin_s) "
                "ORDER BY s.series_id, f.first"
            )
            con.execute("DROP TABLE file_series_keyed")
            con.commit()
        except BaseException:
            con.rollback()
            raise
    con.execute(SERIES_TABLE)
    con.execute(POINTS_TABLE.format(name="points"))
    con.execute(FILE_SERIES_TABLE)


def migrate_points(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """A store of layout 0 or 1 rewritten to layout 2 in one transaction: every series counted
    from its points, the points sorted by series and time."""
    (count,) = con.execute("SELECT count(*) FROM points").fetchone() or (0,)
    print(
        f"{path}: upgrading the points table to layout {POINTS_LAYOUT} ({count:,} points; once)",
        file=sys.stderr,
    )
    con.begin()
    try:
        con.execute(SERIES_TABLE)
        con.execute(
            "INSERT INTO series SELECT (row_number() OVER (ORDER BY entity_id, signal, source, bin_s))"
            "::INTEGER, entity_id, signal, source, bin_s, count(*), min(bin_start), max(bin_start), "
            "min(value), max(value) FROM points GROUP BY entity_id, signal, source, bin_s"
        )
        con.execute(POINTS_TABLE.format(name="points_coded"))
        con.execute(
            "INSERT INTO points_coded SELECT s.series_id, p.bin_start, p.value, p.samples FROM points p "
            "JOIN series s USING (entity_id, signal, source, bin_s) ORDER BY s.series_id, p.bin_start"
        )
        con.execute("DROP TABLE points")
        con.execute("ALTER TABLE points_coded RENAME TO points")
        con.execute("DROP TABLE IF EXISTS series_summary")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    con.execute("CHECKPOINT")  # give back the old table's blocks now


def coded_points(points: Sequence[SignalPoint]) -> tuple[pa.Table, pa.Table, bool]:
    """The points as (``keys``: one row per series, numbered ``k``; ``rows``: ``i`` (position in
    the batch), ``k``, ``bin_start``, ``value``, ``samples``; whether a bin of a series is given
    twice), each series key and bin time converted once, not once per point, by C-level maps
    (no Python code runs per point). Measured on the benchmark's 500,000-point files (loaded
    machine): 0.5-0.6 s against 1.8 s for the seven columns of
    :func:`lightsout.store.schema.arrow_table`. Python's cyclic garbage collector is paused
    meanwhile (its collections walk every point object)."""
    n = len(points)
    with gc_paused():
        # Interned: each key's value is the position of its first point (increasing in the
        # dict's order), made dense by a binary search below.
        series: dict[tuple[str, object, str, int], int] = {}
        key_first = np.fromiter(map(series.setdefault, map(_KEY, points), count()), np.int64, n)
        times: dict[datetime, int] = {}
        time_first = np.fromiter(map(times.setdefault, map(_BIN_START, points), count()), np.int64, n)
        values = np.fromiter(map(_VALUE, points), np.float64, n)
        samples = np.fromiter(map(_SAMPLES, points), np.int64, n)
    key_codes = np.searchsorted(np.fromiter(series.values(), np.int64, len(series)), key_first)
    key_codes = key_codes.astype(np.int32)
    time_codes = np.searchsorted(np.fromiter(times.values(), np.int64, len(times)), time_first)
    unique_times = pa.array(list(times), _UTC_US)
    bin_start = unique_times.take(pa.array(time_codes))
    keys = list(series)
    signals = [s.value if isinstance(s, enum.Enum) else s for _, s, _, _ in keys]
    key_table = pa.table(
        {
            "k": pa.array(np.arange(len(keys), dtype=np.int32)),
            "entity_id": pa.array([k[0] for k in keys], pa.string()),
            "signal": pa.array(signals, pa.string()),
            "source": pa.array([k[2] for k in keys], pa.string()),
            "bin_s": pa.array([k[3] for k in keys], pa.int64()),
        }
    )
    row_table = pa.table(
        {
            "i": pa.array(np.arange(n, dtype=np.int64)),
            "k": pa.array(key_codes),
            "bin_start": bin_start,
            "value": pa.array(values),
            "samples": pa.array(samples),
        }
    )
    return key_table, row_table, _repeats(key_codes, unique_times.cast(pa.int64()).to_numpy()[time_codes])


def _repeats(keys: np.ndarray, times: np.ndarray) -> bool:
    """Whether some (key, time) pair occurs twice: at once when the points come in order of key
    and time, as readers write them; else by sorting."""
    if len(keys) < 2:
        return False
    after = (keys[1:] > keys[:-1]) | ((keys[1:] == keys[:-1]) & (times[1:] > times[:-1]))
    if after.all():
        return False
    order = np.lexsort((times, keys))
    keys, times = keys[order], times[order]
    return bool(((keys[1:] == keys[:-1]) & (times[1:] == times[:-1])).any())


def code_columns(con: duckdb.DuckDBPyConnection, columns: pa.Table) -> bool:
    """Points given as columns (``IngestBatch.point_columns``) as the temporary tables
    ``column_keys`` and ``column_rows`` of :func:`coded_points`' shape (other names than the
    views of :func:`coded_points`' tables, which a failed write may leave registered); whether a
    bin is given twice."""
    # the row numbers from their buffer: pa.array of a numpy array imports pandas (0.3-0.8 CPU s)
    numbers = pa.py_buffer(np.arange(columns.num_rows, dtype=np.int64))
    columns = columns.append_column("i", pa.Array.from_buffers(pa.int64(), columns.num_rows, [None, numbers]))
    con.register("points_arrow", columns)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE column_keys AS SELECT (row_number() OVER () - 1)::INTEGER AS k, * "
            "FROM (SELECT DISTINCT entity_id, signal, source, bin_s FROM points_arrow)"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE column_rows AS SELECT p.i, k.k, p.bin_start, p.value, p.samples "
            "FROM points_arrow p JOIN column_keys k USING (entity_id, signal, source, bin_s)"
        )
    finally:
        con.unregister("points_arrow")
    row = con.execute(
        "SELECT count(*) FROM (SELECT 1 FROM column_rows GROUP BY k, bin_start HAVING count(*) > 1)"
    ).fetchone()
    return row != (0,)


def write_points(
    con: duckdb.DuckDBPyConnection,
    sha256: str,
    repeated: bool,
    keys: str = "batch_keys",
    rows: str = "batch_rows",
) -> None:
    """The batch's points (tables or views named ``keys`` and ``rows``, of :func:`coded_points`'
    shape; ``repeated``: some bin is given twice), their series' summaries and the file's
    provenance rows (``file_series``), inside the caller's transaction."""
    if repeated:  # the first value of each bin, as the previous layout's ON CONFLICT insert kept
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE batch_once AS SELECT * FROM {rows} "
            "QUALIFY row_number() OVER (PARTITION BY k, bin_start ORDER BY i) = 1"
        )
        rows = "batch_once"
    # Each series of the batch: its id (stored, or the next free one), what the store held of it.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE batch_series AS "
        "WITH a AS (SELECT k, count(*) AS points, min(bin_start) AS first, max(bin_start) AS last, "
        f"min(value) AS min_value, max(value) AS max_value FROM {rows} GROUP BY k) "
        "SELECT a.*, k.entity_id, k.signal, k.source, k.bin_s, s.series_id IS NULL AS new, "
        "coalesce(s.series_id, (SELECT coalesce(max(series_id), 0) FROM series) "
        "+ row_number() OVER (PARTITION BY s.series_id IS NULL ORDER BY a.k))::INTEGER AS series_id, "
        "(s.series_id IS NOT NULL AND a.first <= s.last) AS overlap "
        f"FROM a JOIN {keys} k USING (k) LEFT JOIN series s USING (entity_id, signal, source, bin_s)"
    )
    row = con.execute(
        "SELECT count(*) FILTER (overlap), min(series_id), max(series_id), min(first), max(last) "
        "FROM batch_series"
    ).fetchone()
    assert row is not None
    overlapping, low_id, high_id, first, last = row
    if overlapping:
        # A later file covering the same bins of the same source replaces them. The constant
        # ranges let the zonemaps skip the row groups no series of the batch is in.
        con.execute(
            f"DELETE FROM points USING (SELECT b.series_id, r.bin_start FROM {rows} r "
            "JOIN batch_series b USING (k) WHERE b.overlap) o "
            "WHERE points.series_id = o.series_id AND points.bin_start = o.bin_start "
            "AND points.series_id BETWEEN ? AND ? AND points.bin_start BETWEEN ? AND ?",
            [low_id, high_id, first, last],
        )
    con.execute(
        f"INSERT INTO points SELECT b.series_id, r.bin_start, r.value, r.samples FROM {rows} r "
        "JOIN batch_series b USING (k) ORDER BY b.series_id, r.bin_start"
    )
    # Summaries: exact from the batch where it only adds to a series, else counted again.
    con.execute(
        "INSERT INTO series SELECT series_id, entity_id, signal, source, bin_s, points, first, last, "
        "min_value, max_value FROM batch_series WHERE new"
    )
    con.execute(
        "UPDATE series SET points = series.points + b.points, last = b.last, "
        "min_value = least(series.min_value, b.min_value), "
        "max_value = greatest(series.max_value, b.max_value) "
        "FROM batch_series b WHERE series.series_id = b.series_id AND NOT b.new AND NOT b.overlap"
    )
    if overlapping:
        con.execute(
            "UPDATE series SET points = c.points, first = c.first, last = c.last, min_value = c.min_value, "
            "max_value = c.max_value FROM (SELECT series_id, count(*) AS points, min(bin_start) AS first, "
            "max(bin_start) AS last, min(value) AS min_value, max(value) AS max_value FROM points "
            "WHERE series_id BETWEEN ? AND ? AND series_id IN (SELECT series_id FROM batch_series "
            "WHERE overlap) GROUP BY series_id) c WHERE series.series_id = c.series_id",
            [low_id, high_id],
        )
    con.execute(
        "INSERT INTO file_series SELECT ?, series_id, first, last, points FROM batch_series "
        "ORDER BY series_id",
        [sha256],
    )
    con.execute("DROP TABLE batch_series")
    if repeated:
        con.execute("DROP TABLE batch_once")


def series_id_of(con: duckdb.DuckDBPyConnection, key: SeriesKey) -> int | None:
    """The series' id (never changes once given), or None for a series the store does not hold."""
    row = con.execute(
        "SELECT series_id FROM series WHERE entity_id = ? AND signal = ? AND source = ? AND bin_s = ?",
        [key.entity_id, key.signal.value, key.source, key.bin_s],
    ).fetchone()
    return None if row is None else int(row[0])


def read_points(
    con: duckdb.DuckDBPyConnection, series_id: int, since: datetime | None, until: datetime | None
) -> tuple[np.ndarray, np.ndarray]:
    """One series' (epoch seconds, values) in time order, its id a constant the zonemaps use."""
    where: list[str] = ["series_id = ?"]
    values: list[object] = [series_id]
    if since is not None:  # constants, not "? IS NULL OR": the zonemaps can use them
        where.append("bin_start >= ?")
        values.append(since)
    if until is not None:
        where.append("bin_start < ?")
        values.append(until)
    got = con.execute(
        "SELECT epoch(bin_start)::BIGINT AS t, value FROM points "
        f"WHERE {' AND '.join(where)} ORDER BY bin_start",
        values,
    ).fetchnumpy()
    return np.asarray(got["t"], dtype=np.int64), np.asarray(got["value"], dtype=np.float64)


def read_file_series(con: duckdb.DuckDBPyConnection, keys: list[SeriesKey], keyed: bool) -> list[FileSeries]:
    """Which files wrote which bins of ``keys`` (none for files ingested before this was recorded);
    ``keyed``: the table is of the older layout (a store opened read-only)."""
    if not keys or not _columns(con, "file_series"):
        return []
    con.register(
        "wanted_keys",
        pa.table(
            {
                "entity_id": [k.entity_id for k in keys],
                "signal": [k.signal.value for k in keys],
                "source": [k.source for k in keys],
                "bin_s": pa.array([k.bin_s for k in keys], pa.int64()),
            }
        ),
    )
    sql = (
        "SELECT f.* FROM file_series f JOIN wanted_keys USING (entity_id, signal, source, bin_s) "
        "ORDER BY f.first, f.sha256, f.entity_id"
    )
    if not keyed:  # the parts of one file merged
        sql = (
            "SELECT f.sha256, s.entity_id, s.signal, s.source, s.bin_s, min(f.first) AS first, max(f.last), "
            "sum(f.points)::BIGINT FROM file_series f JOIN series s USING (series_id) "
            "JOIN wanted_keys USING (entity_id, signal, source, bin_s) GROUP BY ALL "
            "ORDER BY first, f.sha256, s.entity_id"
        )
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.unregister("wanted_keys")
    return [FileSeries(r[0], r[1], SignalKind(r[2]), *r[3:]) for r in rows]
