"""The default backend: an embedded DuckDB file.

One write connection; every query uses parameters, never SQL assembled from values.
DuckDB locks the file for one writing process; within a process, readers use cursors.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from lightsout.errors import UserError
from lightsout.model import (
    Alert,
    Checkpoint,
    Entity,
    EntityKind,
    ExternalEvent,
    FileSeries,
    HealthState,
    OoniMeasurement,
    OoniVerdict,
    Scope,
    SeriesKey,
    SeriesSummary,
    SignalKind,
    SourceFile,
    SourceHealth,
)
from lightsout.sources import CarryState
from lightsout.store.base import IngestBatch, MeasurementFilter, TimeSeries, alerts_from_rows, entity_kind
from lightsout.store.duckdb_ooni import (
    MEASUREMENT_FILTER,
    NOT_PENDING,
    discard_pending,
    filter_values,
    measurement_page,
    only_measurements,
    write_pending,
)
from lightsout.store.duckdb_points import (
    POINTS_LAYOUT,
    code_columns,
    coded_points,
    keyed_file_series,
    points_layout,
    read_file_series,
    read_points,
    series_id_of,
    upgrade_points,
    write_points,
)
from lightsout.store.duckdb_summary import COUNTED_SERIES, LAYOUT1_SERIES, SUMMARY_SERIES, older_points
from lightsout.store.schema import arrow_table, create_table_sql

SCHEMA_VERSION = 1

_TABLES: list[tuple[str, type, tuple[str, ...]]] = [
    ("sources", SourceFile, ("sha256",)),
    ("entities", Entity, ("entity_id",)),
    ("ooni_measurements", OoniMeasurement, ("measurement_id",)),
    ("ooni_verdicts", OoniVerdict, ("measurement_id",)),
    ("alerts", Alert, ("entity_id", "signal", "source", "bin_s", "bin_start")),
    ("checkpoints", Checkpoint, ("source", "stream")),
    ("source_health", SourceHealth, ("source",)),
    ("external_events", ExternalEvent, ("event_id",)),
]


_arrow_table = arrow_table
# Below two row groups (122,880 rows each) a write has nothing its threads can share.
ONE_THREAD_ROWS = 2 * 122_880


class DuckDBStore:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        if path.is_dir():
            raise UserError(f"{path}: is a directory, expected a DuckDB file")
        if read_only and not path.exists():
            raise UserError(f"{path}: no store here yet; run `lightsout ingest` first")
        self._key = str(path.resolve())
        with _OPEN_LOCK:
            if not _OPEN.get(self._key):
                # Only while this process has no connection to the file: closing any descriptor of
                # it would drop the process's POSIX lock on it, held by DuckDB for our writer.
                _check_duckdb_file(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._con = duckdb.connect(str(path), read_only=read_only)
            except duckdb.IOException as exc:
                from lightsout.service.holder import held_message

                raise UserError(held_message(path) or f"{path}: cannot open store: {exc}") from None
            _OPEN[self._key] = _OPEN.get(self._key, 0) + 1
            self._closed = False
        self._con.execute("SET TimeZone = 'UTC'")
        memory = os.environ.get("LIGHTSOUT_DUCKDB_MEMORY_LIMIT", "").strip()
        if memory:  # e.g. "1GB": DuckDB's own cap on its buffers (default: 80% of the machine's memory)
            try:
                self._con.execute(f"SET memory_limit = '{memory.replace(chr(39), '')}'")
            except duckdb.Error as exc:
                self.close()
                raise UserError(f"LIGHTSOUT_DUCKDB_MEMORY_LIMIT={memory!r}: {exc}") from None
        if not read_only:
            self._create_schema()
        elif not self._has_table("sources"):
            self.close()
            raise UserError(f"{path}: no store here yet; run `lightsout ingest` first")
        # The points' layout (duckdb_points): a writer has brought it up to date; a reader of an
        # older store reads it as it is.
        self._layout = points_layout(self._con)
        self._series_ids: dict[SeriesKey, int] = {}  # ids never change once given
        self._keyed_file_series = keyed_file_series(self._con)
        # A store written before streamed OONI writes has no pending list: nothing is pending.
        self._not_pending = NOT_PENDING if self._has_table("ooni_pending") else ""

    def _create_schema(self) -> None:
        for table, cls, key in _TABLES:
            self._con.execute(create_table_sql(table, cls, key))
        self._con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        # OONI measurements of a file whose write is under way (write_parts): committed chunk by
        # chunk, invisible to every reader until the file's source record is written.
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS ooni_pending "
            "(sha256 VARCHAR NOT NULL, measurement_id VARCHAR NOT NULL)"
        )
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS detector_state (group_id VARCHAR PRIMARY KEY, payload BLOB NOT NULL, "
            "saved_at TIMESTAMPTZ NOT NULL)"
        )
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS reader_state (key VARCHAR PRIMARY KEY, as_of TIMESTAMPTZ NOT NULL, "
            "payload BLOB NOT NULL)"
        )
        self._con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)]
        )
        upgrade_points(self._con, str(self.path))

    def _has_table(self, name: str) -> bool:
        return bool(
            self._con.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_name = ?", [name]
            ).fetchone()
        )

    # -- writing ---------------------------------------------------------------------------------

    def has_source(self, sha256: str) -> bool:
        row = self._con.execute("SELECT 1 FROM sources WHERE sha256 = ?", [sha256]).fetchone()
        return row is not None

    def write_batch(self, batch: IngestBatch) -> None:
        """One file's batch in one transaction (:meth:`write_parts`). A batch of fewer rows than
        two of DuckDB's row groups (:data:`ONE_THREAD_ROWS`), which its threads cannot share, is
        written with one thread: the same statements on two threads cost more CPU and no less
        time (a full table's update file, 104k points and 52k entities, into a fresh store: 0.48
        -> 0.41 CPU s, wall 0.47 -> 0.42 s, medians of 7 in one process, load ~1.5). Readers on
        this connection's cursors meanwhile run on one thread too."""
        rows = len(batch.points) + len(batch.entities) + len(batch.measurements)
        rows += sum(t.num_rows for t in (batch.point_columns, batch.entity_columns) if t is not None)
        if rows >= ONE_THREAD_ROWS:
            self.write_parts([batch])
            return
        self._con.execute("SET threads = 1")
        try:
            self.write_parts([batch])
        finally:
            self._con.execute("RESET threads")

    def write_parts(self, parts: Iterable[IngestBatch]) -> None:
        """One file's parts as one atomic write (Store.write_parts).

        While the parts hold only OONI measurements and verdicts (a streamed OONI file), each is
        committed on its own, its new measurements listed in ``ooni_pending``, which every read
        leaves out: DuckDB holds a transaction's uncommitted rows in memory (measured: about 3x
        their size, past its memory_limit), so one transaction per file would hold the file. From
        the first part with anything else, the rest goes into one transaction, which ends with
        the pending list's removal and the source record: then the file shows whole. A failure
        removes the committed chunks; a killed write leaves them invisible, and the next run
        writes the file again (docs/apps.md)."""
        con = self._con
        sha = ""
        last: IngestBatch | None = None
        open_transaction = False
        try:
            for part in parts:
                if last is None:
                    sha = part.source.sha256
                    if self.has_source(sha):
                        return  # already ingested: adds nothing
                if not open_transaction and only_measurements(part):
                    con.begin()
                    try:
                        write_pending(con, part)
                    except BaseException:
                        con.rollback()
                        raise
                    con.commit()
                else:
                    if not open_transaction:
                        con.begin()
                        open_transaction = True
                    self._write_rows(part)
                last = part
            if last is None:
                return
            if not open_transaction:
                con.begin()
                open_transaction = True
            # Every id this file marked, whoever marked it too (a killed run of another file).
            con.execute(
                "DELETE FROM ooni_pending WHERE measurement_id IN "
                "(SELECT measurement_id FROM ooni_pending WHERE sha256 = ?)",
                [sha],
            )
            s = last.source
            con.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    s.sha256,
                    s.path,
                    s.format,
                    s.ingested_at,
                    s.records_read,
                    s.records_skipped,
                    s.points_written,
                ],
            )
            con.commit()
        except BaseException:
            if open_transaction:
                con.rollback()
            if sha:
                self._discard_pending(sha)
            raise

    def _discard_pending(self, sha: str) -> None:
        """Remove what a failed write committed (duckdb_ooni.discard_pending)."""
        discard_pending(self._con, sha)

    def _write_rows(self, batch: IngestBatch) -> None:
        """One part's rows, inside the caller's transaction."""
        con = self._con
        # Columns as they came (MRT ingest's workers), else the rows' columns.
        entities = batch.entity_columns
        if entities is None and batch.entities:
            entities = _arrow_table(Entity, batch.entities)
        if entities is not None and entities.num_rows:
            con.register("entities_arrow", entities)
            # New ids only; an id given twice in the batch keeps its first row (ON CONFLICT DO
            # NOTHING). Ids all distinct (checked): an anti-join, which skips the conflict check
            # per row (52k AS entities into a fresh store: 0.065 -> 0.027 CPU s with the check).
            distinct = con.execute(
                "SELECT count(DISTINCT entity_id) = count(*) FROM entities_arrow"
            ).fetchone() == (True,)
            con.execute(
                "INSERT INTO entities SELECT * FROM entities_arrow a "
                "WHERE NOT EXISTS (SELECT 1 FROM entities e WHERE e.entity_id = a.entity_id)"
                if distinct
                else "INSERT INTO entities SELECT * FROM entities_arrow ON CONFLICT (entity_id) DO NOTHING"
            )
            con.unregister("entities_arrow")
        if batch.point_columns is not None and batch.point_columns.num_rows:
            repeated = code_columns(con, batch.point_columns)
            write_points(con, batch.source.sha256, repeated, "column_keys", "column_rows")
            con.execute("DROP TABLE column_keys")
            con.execute("DROP TABLE column_rows")
        if batch.points:
            keys, rows, twice = coded_points(batch.points)
            con.register("batch_keys", keys)
            con.register("batch_rows", rows)
            write_points(con, batch.source.sha256, twice)  # on failure, the next register replaces them
            con.unregister("batch_keys")
            con.unregister("batch_rows")
        if batch.verdicts:
            # Before the measurements: a verdict goes in with its measurement when that is new.
            con.register("verdicts_arrow", _arrow_table(OoniVerdict, batch.verdicts))
            con.execute(
                "INSERT INTO ooni_verdicts SELECT * FROM verdicts_arrow v WHERE NOT EXISTS "
                "(SELECT 1 FROM ooni_measurements m WHERE m.measurement_id = v.measurement_id) "
                "ON CONFLICT DO NOTHING"
            )
            con.unregister("verdicts_arrow")
        if batch.measurements:
            con.register("ooni_arrow", _arrow_table(OoniMeasurement, batch.measurements))
            con.execute("INSERT INTO ooni_measurements SELECT * FROM ooni_arrow ON CONFLICT DO NOTHING")
            con.unregister("ooni_arrow")
        if batch.carry is not None:
            # Deleted and inserted, in this transaction, rather than upserted: DuckDB's ON CONFLICT
            # DO UPDATE of a BLOB of megabytes (a collector's routing tables) cost ~8x the CPU
            # (20 writes of 2.2 MB with the closing checkpoint: 1.44-1.60 s against 0.18-0.19 s).
            con.execute("DELETE FROM reader_state WHERE key = ?", [batch.carry.key])
            con.execute(
                "INSERT INTO reader_state VALUES (?, ?, ?)",
                [batch.carry.key, batch.carry.as_of, batch.carry.payload],
            )
        if batch.checkpoint is not None:
            self._upsert_checkpoint(batch.checkpoint)
        if batch.external_events:
            # A later answer about the same event (same id) replaces it: an ongoing one ends.
            latest = {e.event_id: e for e in batch.external_events}
            con.register("external_arrow", _arrow_table(ExternalEvent, list(latest.values())))
            con.execute("INSERT OR REPLACE INTO external_events SELECT * FROM external_arrow")
            con.unregister("external_arrow")

    def save_verdicts(self, verdicts: list[OoniVerdict]) -> None:
        if not verdicts:
            return
        con = self._con
        con.begin()
        try:
            con.register("verdicts_arrow", _arrow_table(OoniVerdict, verdicts))
            con.execute("INSERT OR REPLACE INTO ooni_verdicts SELECT * FROM verdicts_arrow")
            con.unregister("verdicts_arrow")
            con.commit()
        except BaseException:
            con.rollback()
            raise

    def replace_alerts(
        self, keys: list[SeriesKey], since: datetime | None, until: datetime | None, alerts: list[Alert]
    ) -> None:
        con = self._con
        con.begin()
        try:
            for key in keys:
                con.execute(
                    "DELETE FROM alerts WHERE entity_id = ? AND signal = ? AND source = ? AND bin_s = ? "
                    "AND (?::TIMESTAMPTZ IS NULL OR bin_start >= ?) "
                    "AND (?::TIMESTAMPTZ IS NULL OR bin_start < ?)",
                    [key.entity_id, key.signal.value, key.source, key.bin_s, since, since, until, until],
                )
            self._insert_alerts(alerts)
            con.commit()
        except BaseException:
            con.rollback()
            raise

    def add_alerts(self, alerts: list[Alert]) -> None:
        self._con.begin()
        try:
            self._insert_alerts(alerts)
            self._con.commit()
        except BaseException:
            self._con.rollback()
            raise

    def _insert_alerts(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        self._con.register("alerts_arrow", _arrow_table(Alert, alerts))
        self._con.execute(
            "INSERT INTO alerts SELECT * FROM alerts_arrow "
            "ON CONFLICT (entity_id, signal, source, bin_s, bin_start) "
            "DO UPDATE SET value = excluded.value, baseline = excluded.baseline, ratio = excluded.ratio, "
            "level = excluded.level"
        )
        self._con.unregister("alerts_arrow")

    def alerts(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[Alert]:
        if entity_ids is not None and not entity_ids:
            return []
        ids = sorted(entity_ids) if entity_ids is not None else None
        rows = self._con.execute(
            "SELECT entity_id, signal, source, bin_s, epoch_us(bin_start), value, baseline, ratio, level "
            "FROM alerts WHERE (?::TIMESTAMPTZ IS NULL OR bin_start >= ?) "
            "AND (?::TIMESTAMPTZ IS NULL OR bin_start < ?) "
            "AND (?::VARCHAR[] IS NULL OR entity_id IN (SELECT unnest(?::VARCHAR[]))) "
            "ORDER BY entity_id, signal, source, bin_s, bin_start",
            [since, since, until, until, ids, ids],
        ).fetchall()
        return alerts_from_rows(rows)

    def save_detector_state(self, group_id: str, payload: bytes) -> None:
        self._upsert_detector_state(group_id, payload)

    def _upsert_detector_state(self, group_id: str, payload: bytes) -> None:
        self._con.execute(
            "INSERT INTO detector_state VALUES (?, ?, now()) ON CONFLICT (group_id) DO UPDATE SET "
            "payload = excluded.payload, saved_at = excluded.saved_at",
            [group_id, payload],
        )

    def save_judgement(self, alerts: list[Alert], states: dict[str, bytes]) -> None:
        con = self._con
        con.begin()
        try:
            self._insert_alerts(alerts)
            for group_id, payload in states.items():
                self._upsert_detector_state(group_id, payload)
            con.commit()
        except BaseException:
            con.rollback()
            raise

    def load_carry(self, key: str) -> CarryState | None:
        row = self._con.execute("SELECT as_of, payload FROM reader_state WHERE key = ?", [key]).fetchone()
        return CarryState(key, row[0], bytes(row[1])) if row else None

    def load_checkpoint(self, source: str, stream: str) -> Checkpoint | None:
        try:
            row = self._con.execute(
                "SELECT * FROM checkpoints WHERE source = ? AND stream = ?", [source, stream]
            ).fetchone()
        except duckdb.CatalogException:  # a store written before live sources, opened read-only
            return None
        return Checkpoint(*row) if row else None

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._upsert_checkpoint(checkpoint)

    def _upsert_checkpoint(self, c: Checkpoint) -> None:
        self._con.execute(
            "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, stream) DO UPDATE SET "
            "cursor = excluded.cursor, data_until = excluded.data_until, updated_at = excluded.updated_at",
            [c.source, c.stream, c.cursor, c.data_until, c.updated_at],
        )

    def save_health(self, health: SourceHealth) -> None:
        h = health
        self._con.execute(
            "INSERT OR REPLACE INTO source_health VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                h.source,
                h.state.value,
                h.checked_at,
                h.last_success,
                h.last_data,
                h.last_error,
                h.next_attempt,
                h.failures,
                h.clock_skew_s,
            ],
        )

    def source_health(self) -> list[SourceHealth]:
        try:
            rows = self._con.execute("SELECT * FROM source_health ORDER BY source").fetchall()
        except duckdb.CatalogException:  # a store written before live sources, opened read-only
            return []
        return [SourceHealth(r[0], HealthState(r[1]), *r[2:]) for r in rows]

    def external_events(
        self,
        entity_id: str | None = None,
        country: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ExternalEvent]:
        try:
            rows = self._con.execute(
                "SELECT * FROM external_events WHERE (? IS NULL OR entity_id = ?) "
                "AND (? IS NULL OR country_code = ?) "
                "AND (?::TIMESTAMPTZ IS NULL OR end_time IS NULL OR end_time > ?) "
                "AND (?::TIMESTAMPTZ IS NULL OR start_time < ?) ORDER BY start_time, event_id",
                [entity_id, entity_id, country, country, since, since, until, until],
            ).fetchall()
        except duckdb.CatalogException:  # a store written before external events, opened read-only
            return []
        return [_external_event(row) for row in rows]

    def load_detector_state(self, group_id: str) -> bytes | None:
        row = self._con.execute(
            "SELECT payload FROM detector_state WHERE group_id = ?", [group_id]
        ).fetchone()
        return bytes(row[0]) if row else None

    # -- reading ---------------------------------------------------------------------------------

    def sources(self) -> list[SourceFile]:
        rows = self._con.execute("SELECT * FROM sources ORDER BY ingested_at").fetchall()
        return [SourceFile(*row) for row in rows]

    def ingest_state(self) -> tuple[int, datetime | None]:
        row = self._con.execute("SELECT count(*), max(ingested_at) FROM sources").fetchone()
        assert row is not None
        return int(row[0]), row[1]

    def sources_by_sha(self, sha256s: Iterable[str]) -> list[SourceFile]:
        wanted = sorted(set(sha256s))
        if not wanted:
            return []
        rows = self._con.execute(
            "SELECT * FROM sources WHERE sha256 IN (SELECT unnest(?)) ORDER BY ingested_at, sha256", [wanted]
        ).fetchall()
        return [SourceFile(*row) for row in rows]

    def file_series(self, keys: list[SeriesKey]) -> list[FileSeries]:
        """Which files wrote which bins of ``keys`` (none for files ingested before this was recorded)."""
        return read_file_series(self._con, keys, self._keyed_file_series)

    def entities(
        self,
        kind: EntityKind | None = None,
        country: str | None = None,
        parent_id: str | None = None,
        parent_ids: Collection[str] | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[Entity]:
        if (parent_ids is not None and not parent_ids) or (entity_ids is not None and not entity_ids):
            return []
        parents = sorted(parent_ids) if parent_ids is not None else None
        ids = sorted(entity_ids) if entity_ids is not None else None
        rows = self._con.execute(
            "SELECT * FROM entities WHERE (? IS NULL OR kind = ?) AND (? IS NULL OR country_code = ?) "
            "AND (? IS NULL OR parent_id = ?) "
            "AND (?::VARCHAR[] IS NULL OR parent_id IN (SELECT unnest(?::VARCHAR[]))) "
            "AND (?::VARCHAR[] IS NULL OR entity_id IN (SELECT unnest(?::VARCHAR[]))) "
            "ORDER BY kind, entity_id",
            [kind, kind, country, country, parent_id, parent_id, parents, parents, ids, ids],
        ).fetchall()
        return [_entity(row) for row in rows]

    def entity(self, entity_id: str) -> Entity | None:
        row = self._con.execute("SELECT * FROM entities WHERE entity_id = ?", [entity_id]).fetchone()
        return _entity(row) if row else None

    def series(
        self,
        entity_id: str | None = None,
        country: str | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[SeriesSummary]:
        if entity_ids is not None and not entity_ids:
            return []
        ids = sorted(entity_ids) if entity_ids is not None else None
        # One row per series kept at write time; else (a store written before summaries were kept,
        # opened read-only) count the points.
        sql = {POINTS_LAYOUT: SUMMARY_SERIES, 1: LAYOUT1_SERIES}.get(self._layout, COUNTED_SERIES)
        rows = self._con.execute(sql, [entity_id, entity_id, country, country, ids, ids]).fetchall()
        summaries = [
            SeriesSummary(SeriesKey(r[0], SignalKind(r[1]), r[2], r[3]), r[4], r[5], r[6], r[7], r[8])
            for r in rows
        ]
        if self._layout == POINTS_LAYOUT:
            self._series_ids.update((s.key, r[9]) for s, r in zip(summaries, rows, strict=True))
        return summaries

    def points(
        self, key: SeriesKey, since: datetime | None = None, until: datetime | None = None
    ) -> TimeSeries:
        if self._layout != POINTS_LAYOUT:  # an older store, opened read-only
            return TimeSeries(key, *older_points(self._con, key, since, until))
        series_id = self._series_ids.get(key) or series_id_of(self._con, key)  # ids start at 1
        if series_id is None:
            return TimeSeries(key, np.empty(0, np.int64), np.empty(0, np.float64))
        self._series_ids[key] = series_id
        return TimeSeries(key, *read_points(self._con, series_id, since, until))

    def measurements(self, query: MeasurementFilter) -> list[OoniMeasurement]:
        return measurement_page(
            self._con, f"{MEASUREMENT_FILTER}{self._not_pending}", [*filter_values(query), query.limit]
        )

    def verdicts(self, query: MeasurementFilter, analysis: str) -> list[OoniVerdict]:
        try:
            rows = self._con.execute(
                "SELECT * FROM ooni_verdicts WHERE analysis = ? AND "
                f"{MEASUREMENT_FILTER}{self._not_pending} ORDER BY"
                " measurement_start, measurement_id LIMIT ?",
                [analysis, *filter_values(query), query.limit],
            ).fetchall()
        except duckdb.CatalogException:  # a store written before verdicts, opened read-only
            return []
        return [OoniVerdict(*row) for row in rows]

    def unjudged(self, query: MeasurementFilter, analysis: str) -> list[OoniMeasurement]:
        try:
            self._con.execute("SELECT 1 FROM ooni_verdicts LIMIT 0")
        except duckdb.CatalogException:  # a store written before verdicts: none is judged
            return self.measurements(query)
        return measurement_page(
            self._con,
            f"{MEASUREMENT_FILTER}{self._not_pending} AND NOT EXISTS (SELECT 1 FROM ooni_verdicts v "
            "WHERE v.measurement_id = m.measurement_id AND v.analysis = ?)",
            [*filter_values(query), analysis, query.limit],
        )

    def close(self) -> None:
        with _OPEN_LOCK:
            if self._closed:
                return
            self._closed = True
            self._con.close()
            _OPEN[self._key] -= 1
            if not _OPEN[self._key]:
                del _OPEN[self._key]


def _external_event(row: tuple[Any, ...]) -> ExternalEvent:
    values = list(row)
    values[5] = Scope(values[5]) if values[5] is not None else None
    return ExternalEvent(*values)


def _entity(row: tuple[Any, ...]) -> Entity:
    return Entity(row[0], entity_kind(row[1]), row[2], row[3], row[4], row[5], row[6])


# Connections this process holds, per resolved path (see DuckDBStore.__init__).
_OPEN: dict[str, int] = {}
_OPEN_LOCK = threading.Lock()


def _check_duckdb_file(path: Path) -> None:
    """Refuse a file that exists but is not a DuckDB database: DuckDB would open a CSV or Parquet
    file as a read-only view, and every write would silently go nowhere."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"{path}: cannot read the store: {exc}") from None
    if head and head[8:12] != b"DUCK":
        raise UserError(f"{path}: not a DuckDB store; give a new file name or an existing store (--db)")
