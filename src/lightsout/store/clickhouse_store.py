"""The ClickHouse backend: the same :class:`~lightsout.store.base.Store` over a ClickHouse server.

Chosen by ``--db clickhouse://host:port/database`` (or ``LIGHTSOUT_DB``). Speaks the native
protocol through clickhouse-driver. The SQL is kept to what both Debian's clickhouse-server 18.16
and current ClickHouse accept (tests/test_store.py runs the whole store suite on a server and on
chdb, an in-process current ClickHouse). Hence: no DateTime64 (times are Int64 microseconds since
the epoch, UTC), no LowCardinality, no lightweight DELETE, no transactions.

How the DuckDB semantics are kept without transactions (docs/design.md, "ClickHouse backend"):

- **Generations** (lightsout.store.clickhouse_generations). Every write (one file's batch, one alert
  replacement, one detector state) tags all of its rows with a new generation number ``gen``; its
  last statement, a single-row insert into ``commits``, publishes them. Every read sees only
  published rows: a file's data whole or not at all; a killed write's rows are never seen.
- **Dedup.** Tables are ReplacingMergeTree(gen) on the DuckDB primary key (plus a ``slot`` where
  rows are replaced, so that a merge never prefers a killed write's row to a published one:
  lightsout.store.clickhouse_slots), so merges keep one row per key (two with slots). Merges
  happen whenever the server likes, so reads never rely on them (nor on FINAL, which would pick
  an unpublished newer row before the visibility filter): they group by the key over published
  rows and take ``argMax(row, gen)`` where DuckDB does ``ON CONFLICT DO UPDATE`` (points, alerts,
  reader state, detector state, verdicts) and ``argMin(row, gen)`` where it does ``DO NOTHING``
  (entities, OONI measurements, sources).
- **Deletes** (``replace_alerts``) are tombstones: rows with ``deleted = 1`` in the replacing
  generation, published with it.
- **Idempotent ingest.** ``write_batch`` of a file whose SHA-256 is already published adds nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from lightsout.errors import UserError
from lightsout.model import (
    Alert,
    Checkpoint,
    Entity,
    EntityKind,
    ExternalEvent,
    FileSeries,
    OoniMeasurement,
    OoniVerdict,
    SeriesKey,
    SeriesSummary,
    SignalKind,
    SignalPoint,
    SourceFile,
    SourceHealth,
)
from lightsout.sources import CarryState
from lightsout.store.base import IngestBatch, MeasurementFilter, TimeSeries
from lightsout.store.clickhouse_generations import BEGUN_TABLE, begin, commit, discard_abandoned
from lightsout.store.clickhouse_points import insert_data, point_table, series_figures
from lightsout.store.clickhouse_reads import (
    alert_rows,
    external_event_rows,
    file_series_rows,
    health_rows,
    latest_rows,
    measurement_rows,
    published_ids,
    source_rows,
    verdict_rows,
)
from lightsout.store.clickhouse_slots import SLOTTED, add_slots, slots_by_entity, slots_for
from lightsout.store.clickhouse_sql import (
    IDS_PER_QUERY,
    PUBLISHED,
    SCHEMA,
    Connection,
    DriverConnection,
    bind,
    chunks,
    entity_of,
    field_names,
    first_line,
    from_micros,
    insert_columns,
    micros,
    since_us,
    time_or_none,
    until_us,
)
from lightsout.store.clickhouse_summary import (
    SUMMARY_TABLE,
    Summary,
    batch_summaries,
    insert_summaries,
    point_slots,
    stored_summaries,
    write_summaries,
)
from lightsout.store.clickhouse_summary import Key as SummaryKey
from lightsout.store.clickhouse_summary import Stored as StoredSummaries
from lightsout.store.clickhouse_summary import recount as recount_summaries
from lightsout.store.location import ClickHouseLocation
from lightsout.store.schema import rows_from_arrow

SCHEMA_VERSION = 1
POINT_COLUMNS = [*field_names(SignalPoint), "gen", "slot"]
POINTS_PER_INSERT = 1_000_000

# Every table of the store, from the statements that create them.
_TABLES = frozenset(
    statement.split("CREATE TABLE IF NOT EXISTS ", 1)[1].split(" ", 1)[0]
    for statement in [*SCHEMA, SUMMARY_TABLE, BEGUN_TABLE]
)


class ClickHouseStore:
    def __init__(
        self, location: ClickHouseLocation, read_only: bool = False, connection: Connection | None = None
    ) -> None:
        self.location = location
        self.read_only = read_only
        db = location.database
        try:
            if connection is None:
                # The database may not exist yet: connect to the default one to create it.
                connection = DriverConnection(location, None if not read_only else db)
                if read_only:
                    connection.query("SELECT 1")
                else:
                    connection.query(f"CREATE DATABASE IF NOT EXISTS {db}")
                    connection.close()
                    connection = DriverConnection(location, db)
            self._con = connection
            if not read_only:
                self._create_schema()
            else:
                tables = {
                    r[0]
                    for r in self._con.query(
                        bind("SELECT name FROM system.tables WHERE database = {db}", db=db)
                    )
                }
                if "commits" not in tables:
                    raise UserError(f"{location}: no store here yet; run `lightsout ingest` first")
                missing = _TABLES - tables
                if missing:
                    # Written by an older Lightsout: add the new tables (and count the series
                    # summaries) as a writer would, even from a reader; refused if the user may not.
                    try:
                        self._create_schema()
                    except Exception as exc:
                        raise UserError(
                            f"{location}: the store lacks tables of this version "
                            f"({', '.join(sorted(missing))}) and could not add them: {first_line(exc)}; "
                            "open it once for writing (e.g. `lightsout detect`) to upgrade it"
                        ) from None
        except UserError:
            raise
        except Exception as exc:
            if read_only and getattr(exc, "code", None) == 81:  # UNKNOWN_DATABASE
                raise UserError(f"{location}: no store here yet; run `lightsout ingest` first") from None
            if type(exc).__module__.startswith("clickhouse_driver"):
                raise UserError(f"{location}: cannot open store: {first_line(exc)}") from None
            raise

    def _create_schema(self) -> None:
        for statement in [*SCHEMA, SUMMARY_TABLE, BEGUN_TABLE]:
            self._con.query(statement)
        add_slots(self._con)
        discard_abandoned(self._con)
        if not self._con.query("SELECT 1 FROM meta WHERE key = 'series_summary'"):
            # A store written before summaries were kept: count every series once.
            gen = self._begin()
            insert_summaries(self._con, recount_summaries(self._con, None, gen), gen)
            self._commit(gen, "series_summary")
            self._con.insert("meta", ("key", "value", "gen"), [["series_summary"], ["1"], [0]])
        if not self._con.query("SELECT 1 FROM meta WHERE key = 'schema_version'"):
            self._con.insert(
                "meta", ("key", "value", "gen"), [["schema_version"], [str(SCHEMA_VERSION)], [0]]
            )

    def _insert(self, table: str, cls: type, rows: Sequence[Any], gen: int) -> None:
        """Rows of a dataclass into its table, tagged with generation ``gen`` (and, in a table
        whose rows are replaced, each in the slot its key's published row is not in)."""
        names = [*field_names(cls), "gen"]
        data = insert_columns(cls, rows, gen)
        if table in SLOTTED:
            keys = list(zip(*(data[names.index(k)] for k in SLOTTED[table]), strict=True))
            names.append("slot")
            data.append(slots_for(self._con, table, keys))
        self._con.insert(table, names, data)

    def _begin(self) -> int:
        return begin(self._con)

    def _commit(self, gen: int, kind: str) -> None:
        commit(self._con, gen, kind)

    # -- writing ---------------------------------------------------------------------------------

    def has_source(self, sha256: str) -> bool:
        return bool(
            self._con.query(
                bind(f"SELECT 1 FROM sources WHERE sha256 = {{s}} AND {PUBLISHED} LIMIT 1", s=sha256)
            )
        )

    def write_batch(self, batch: IngestBatch) -> None:
        self.write_parts([batch])

    def write_parts(self, parts: Iterable[IngestBatch]) -> None:
        gen = 0
        last: IngestBatch | None = None
        # Series summaries: from the one part with points, or recounted when several had some.
        pending: dict[SummaryKey, Summary] | None = None
        pending_stored: StoredSummaries = {}
        recount: set[str] = set()
        provenance: dict[SummaryKey, tuple[int, int, int]] = {}  # first, last, points
        for part in parts:
            if last is None:
                if self.has_source(part.source.sha256):
                    return  # already ingested: adds nothing
                gen = self._begin()
            points = point_table(part.points, part.point_columns)
            figures = series_figures(points)
            stored = stored_summaries(self._con, sorted({f.key[0] for f in figures})) if figures else {}
            self._write_rows(part, points, point_slots(self._con, points, figures, stored), gen)
            if points.num_rows:
                summaries = batch_summaries(points, figures)
                if pending is None and not recount:
                    pending, pending_stored = summaries, stored
                else:
                    recount.update(key[0] for key in [*(pending or {}), *summaries])
                    pending = None
                for f in figures:
                    seen = provenance.get(f.key)
                    provenance[f.key] = (f.first_us, f.last_us, f.rows) if seen is None else (
                        min(seen[0], f.first_us), max(seen[1], f.last_us), seen[2] + f.rows
                    )
            last = part
        if last is None:
            return
        if pending is not None:
            write_summaries(self._con, pending, gen, pending_stored)
        elif recount:
            insert_summaries(self._con, recount_summaries(self._con, sorted(recount), gen), gen)
        if provenance:
            keys = sorted(provenance)
            spans = [provenance[key] for key in keys]
            self._con.insert(
                "file_series",
                [*field_names(FileSeries), "gen"],
                [
                    [last.source.sha256] * len(keys),
                    *([key[i] for key in keys] for i in range(4)),
                    *([span[i] for span in spans] for i in range(3)),
                    [gen] * len(keys),
                ],
            )
        self._insert("sources", SourceFile, [last.source], gen)
        self._commit(gen, "file")

    def _write_rows(self, batch: IngestBatch, points: pa.Table, slots: list[int] | None, gen: int) -> None:
        """One part's rows, tagged with the write's generation (published by its commit)."""
        con = self._con
        entities = list(batch.entities)
        if batch.entity_columns is not None:
            entities += rows_from_arrow(Entity, batch.entity_columns)
        if entities:
            # Only entities new to the store (as DuckDB keeps the first version): a published row
            # is never sent again, so no merge can put an unpublished copy in its place.
            known = published_ids(con, "entities", "entity_id", sorted({e.entity_id for e in entities}))
            new_entities = [e for e in entities if e.entity_id not in known]
            if new_entities:
                self._insert("entities", Entity, new_entities, gen)
        if points.num_rows:
            for start in range(0, points.num_rows, POINTS_PER_INSERT):
                data = insert_data(points.slice(start, POINTS_PER_INSERT), gen)
                n = len(data[0])
                data.append(np.array(slots[start : start + n], np.uint8) if slots else np.zeros(n, np.uint8))
                con.insert("points", POINT_COLUMNS, data)

        if batch.measurements or batch.verdicts:
            # Only measurements new to the store, and their verdicts (as DuckDB keeps the first
            # version): a stored row is never sent again, so no merge of the ReplacingMergeTree
            # can put an unpublished copy (a write under way, or killed) in its place.
            ids = sorted(
                {m.measurement_id for m in batch.measurements} | {v.measurement_id for v in batch.verdicts}
            )
            stored = published_ids(con, "ooni_measurements", "measurement_id", ids)
            new_verdicts = [v for v in batch.verdicts if v.measurement_id not in stored]
            for chunk in chunks(new_verdicts, 100_000):
                self._insert("ooni_verdicts", OoniVerdict, chunk, gen)
            new = [m for m in batch.measurements if m.measurement_id not in stored]
            for chunk in chunks(new, 100_000):
                self._insert("ooni_measurements", OoniMeasurement, chunk, gen)
        if batch.carry is not None:
            carry = batch.carry
            con.insert(
                "reader_state",
                ("key", "as_of", "payload", "gen", "slot"),
                [
                    [carry.key],
                    [micros(carry.as_of)],
                    [bytes(carry.payload)],
                    [gen],
                    slots_for(con, "reader_state", [(carry.key,)]),
                ],
            )
        if batch.checkpoint is not None:
            self._insert("checkpoints", Checkpoint, [batch.checkpoint], gen)
        if batch.external_events:
            latest = list({e.event_id: e for e in batch.external_events}.values())
            self._insert("external_events", ExternalEvent, latest, gen)


    def save_verdicts(self, verdicts: list[OoniVerdict]) -> None:
        if not verdicts:
            return
        gen = self._begin()
        for chunk in chunks(verdicts, 100_000):
            self._insert("ooni_verdicts", OoniVerdict, chunk, gen)
        self._commit(gen, "verdicts")

    def replace_alerts(
        self, keys: list[SeriesKey], since: datetime | None, until: datetime | None, alerts: list[Alert]
    ) -> None:
        gen = self._begin()
        new = {(a.entity_id, a.signal.value, a.source, a.bin_s, micros(a.bin_start)) for a in alerts}
        # The range's stored alerts in one query (alerts are few beside points), then by key.
        wanted = set(keys)
        tombstones = [
            a
            for a in self._alerts(since, until)
            if SeriesKey(a.entity_id, a.signal, a.source, a.bin_s) in wanted
            and (a.entity_id, a.signal.value, a.source, a.bin_s, micros(a.bin_start)) not in new
        ]
        self._insert_alerts(alerts, gen, deleted=False)
        self._insert_alerts(tombstones, gen, deleted=True)
        self._commit(gen, "alerts")

    def add_alerts(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        gen = self._begin()
        self._insert_alerts(alerts, gen, deleted=False)
        self._commit(gen, "alerts")

    def _insert_alerts(self, alerts: list[Alert], gen: int, deleted: bool) -> None:
        for chunk in chunks(alerts, 500_000):
            data = insert_columns(Alert, chunk, gen)
            data.append([1 if deleted else 0] * len(chunk))
            names = [*field_names(Alert), "gen", "deleted"]
            keys = list(zip(*(data[names.index(k)] for k in SLOTTED["alerts"]), strict=True))
            data.append(slots_by_entity(self._con, "alerts", keys, "bin_start"))
            self._con.insert("alerts", [*names, "slot"], data)

    def alerts(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[Alert]:
        if entity_ids is None:
            return self._alerts(since, until)
        # Chunks of sorted ids, each answer sorted: together in order.
        return [
            alert
            for chunk in chunks(sorted(entity_ids), IDS_PER_QUERY)
            for alert in self._alerts(since, until, bind("AND entity_id IN {ids}", ids=chunk))
        ]

    def _alerts(self, since: datetime | None, until: datetime | None, among: str = "") -> list[Alert]:
        return alert_rows(self._con, since, until, among)

    def save_detector_state(self, group_id: str, payload: bytes) -> None:
        gen = self._begin()
        self._insert_detector_states({group_id: payload}, gen)
        self._commit(gen, "detector_state")

    def _insert_detector_states(self, states: dict[str, bytes], gen: int) -> None:
        now = micros(datetime.now(UTC))
        n = len(states)
        self._con.insert(
            "detector_state",
            ("group_id", "payload", "saved_at", "gen", "slot"),
            [
                list(states),
                [bytes(p) for p in states.values()],
                [now] * n,
                [gen] * n,
                slots_for(self._con, "detector_state", [(g,) for g in states]),
            ],
        )

    def save_judgement(self, alerts: list[Alert], states: dict[str, bytes]) -> None:
        """Alerts and states under one generation, published by its one commit row."""
        if not alerts and not states:
            return
        gen = self._begin()
        if alerts:
            self._insert_alerts(alerts, gen, deleted=False)
        if states:
            self._insert_detector_states(states, gen)
        self._commit(gen, "judgement")

    def load_detector_state(self, group_id: str) -> bytes | None:
        rows = self._con.query(
            bind(
                f"SELECT argMax(payload, gen) FROM detector_state WHERE group_id = {{g}} AND {PUBLISHED} "
                "GROUP BY group_id",
                g=group_id,
            ),
            binary=True,
        )
        return bytes(rows[0][0]) if rows else None

    def load_carry(self, key: str) -> CarryState | None:
        rows = self._con.query(
            bind(
                "SELECT tupleElement(r, 1), tupleElement(r, 2) FROM "
                "(SELECT argMax(tuple(as_of, payload), gen) "
                f"AS r FROM reader_state WHERE key = {{k}} AND {PUBLISHED} GROUP BY key)",
                k=key,
            ),
            binary=True,
        )
        return CarryState(key, from_micros(rows[0][0]), bytes(rows[0][1])) if rows else None

    # -- live sources ----------------------------------------------------------------------------

    def load_checkpoint(self, source: str, stream: str) -> Checkpoint | None:
        rows = self._latest(
            Checkpoint, ("source", "stream"), bind("source = {s} AND stream = {t}", s=source, t=stream)
        )
        if not rows:
            return None
        r = rows[0]
        return Checkpoint(r[0], r[1], r[2], time_or_none(r[3]), from_micros(r[4]))

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        gen = self._begin()
        self._insert("checkpoints", Checkpoint, [checkpoint], gen)
        self._commit(gen, "checkpoint")

    def save_health(self, health: SourceHealth) -> None:
        gen = self._begin()
        self._insert("source_health", SourceHealth, [health], gen)
        self._commit(gen, "health")

    def source_health(self) -> list[SourceHealth]:
        return health_rows(self._con)

    def external_events(
        self,
        entity_id: str | None = None,
        country: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ExternalEvent]:
        return external_event_rows(self._con, entity_id, country, since, until)

    def _latest(self, cls: type, key: tuple[str, ...], where: str = "") -> list[tuple[Any, ...]]:
        """The newest published row of each key (clickhouse_reads.latest_rows)."""
        return latest_rows(self._con, cls, key, where)

    # -- reading ---------------------------------------------------------------------------------

    def sources(self) -> list[SourceFile]:
        return source_rows(self._con)

    def ingest_state(self) -> tuple[int, datetime | None]:
        rows = self._con.query(f"SELECT uniqExact(sha256), max(ingested_at) FROM sources WHERE {PUBLISHED}")
        count = int(rows[0][0]) if rows else 0
        return count, from_micros(rows[0][1]) if count else None

    def sources_by_sha(self, sha256s: Iterable[str]) -> list[SourceFile]:
        wanted = sorted(set(sha256s))
        found = [
            row
            for start in range(0, len(wanted), 1000)
            for row in source_rows(self._con, bind("AND sha256 IN {shas}", shas=wanted[start : start + 1000]))
        ]
        return sorted(found, key=lambda f: (f.ingested_at, f.sha256))

    _ENTITIES = (
        "SELECT entity_id, tupleElement(r, 1) AS kind, tupleElement(r, 2), tupleElement(r, 3), "
        "tupleElement(r, 4) AS country_code, tupleElement(r, 5) AS parent_id, tupleElement(r, 6) FROM "
        "(SELECT entity_id, argMin(tuple(kind, code, name, country_code, parent_id, asn), gen) AS r "
        f"FROM entities WHERE {PUBLISHED} {{where}} GROUP BY entity_id)"
    )

    def entities(
        self,
        kind: EntityKind | None = None,
        country: str | None = None,
        parent_id: str | None = None,
        parent_ids: Collection[str] | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[Entity]:
        if parent_ids is None and entity_ids is None:
            return self._entities(kind, country, parent_id)
        column, among = ("parent_id", parent_ids) if parent_ids is not None else ("entity_id", entity_ids)
        assert among is not None
        wanted = set(entity_ids) if entity_ids is not None else None
        found = [
            entity
            for chunk in chunks(sorted(among), IDS_PER_QUERY)
            for entity in self._entities(kind, country, parent_id, bind(f"{column} IN {{ids}}", ids=chunk))
            if wanted is None or entity.entity_id in wanted
        ]
        return sorted(found, key=lambda e: (e.kind.value, e.entity_id))

    def _entities(
        self, kind: EntityKind | None, country: str | None, parent_id: str | None, among: str | None = None
    ) -> list[Entity]:
        conditions = [among] if among else []
        if kind is not None:
            conditions.append(bind("kind = {v}", v=kind))
        if country is not None:
            conditions.append(bind("country_code = {v}", v=country))
        if parent_id is not None:
            conditions.append(bind("parent_id = {v}", v=parent_id))
        if not conditions:
            rows = self._con.query(self._ENTITIES.format(where="") + " ORDER BY kind, entity_id")
            return [entity_of(row) for row in rows]
        # Only the entities with a stored row matching (a superset: each entity's first version is
        # one of its rows) are aggregated, not all of them; the aggregate is then filtered exactly.
        matching = " AND ".join(conditions)
        candidates = f"AND entity_id IN (SELECT entity_id FROM entities WHERE {matching})"
        sql = self._ENTITIES.format(where=candidates)
        rows = self._con.query(f"SELECT * FROM ({sql}) WHERE {matching} ORDER BY kind, entity_id")
        return [entity_of(row) for row in rows]

    def entity(self, entity_id: str) -> Entity | None:
        rows = self._con.query(self._ENTITIES.format(where=bind("AND entity_id = {e}", e=entity_id)))
        return entity_of(rows[0]) if rows else None

    def series(
        self,
        entity_id: str | None = None,
        country: str | None = None,
        entity_ids: Collection[str] | None = None,
    ) -> list[SeriesSummary]:
        if entity_ids is None:
            return self._series(entity_id, country, "")
        # Chunks of sorted ids, each answer sorted: together in order.
        return [
            summary
            for chunk in chunks(sorted(entity_ids), IDS_PER_QUERY)
            for summary in self._series(entity_id, country, bind("AND entity_id IN {ids}", ids=chunk))
        ]

    def _series(self, entity_id: str | None, country: str | None, among: str) -> list[SeriesSummary]:
        # Only points of known entities, as DuckDB's join with entities.
        own = bind("AND entity_id = {e}", e=entity_id) if entity_id is not None else ""
        known = self._ENTITIES.format(where=f"{own} {among}")
        if country is not None:
            known = f"SELECT entity_id FROM ({known}) WHERE " + bind("country_code = {c}", c=country)
        else:
            known = f"SELECT entity_id FROM ({known})"
        # One summary row per series, kept at write time (lightsout.store.clickhouse_summary).
        rows = self._con.query(
            "SELECT entity_id, signal, source, bin_s, tupleElement(r, 1), tupleElement(r, 2), "
            "tupleElement(r, 3), tupleElement(r, 4), tupleElement(r, 5) FROM (SELECT entity_id, signal, "
            "source, bin_s, argMax(tuple(points, first, last, min_value, max_value), gen) AS r "
            f"FROM series_summary WHERE {PUBLISHED} {own} {among} AND entity_id IN ({known}) "
            "GROUP BY entity_id, signal, source, bin_s) ORDER BY entity_id, signal, source, bin_s"
        )
        return [
            SeriesSummary(
                SeriesKey(r[0], SignalKind(r[1]), r[2], r[3]),
                r[4],
                from_micros(r[5]),
                from_micros(r[6]),
                r[7],
                r[8],
            )
            for r in rows
        ]

    def points(
        self, key: SeriesKey, since: datetime | None = None, until: datetime | None = None
    ) -> TimeSeries:
        rows = self._con.query(
            bind(
                "SELECT bin_start, argMax(value, gen) FROM points WHERE entity_id = {e} AND signal = {s} "
                "AND source = {src} AND bin_s = {b} AND bin_start >= {since} AND bin_start < {until} "
                f"AND {PUBLISHED} GROUP BY bin_start ORDER BY bin_start",
                e=key.entity_id,
                s=key.signal,
                src=key.source,
                b=key.bin_s,
                since=since_us(since),
                until=until_us(until),
            )
        )
        times = np.fromiter((r[0] // 1_000_000 for r in rows), dtype=np.int64, count=len(rows))
        values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        return TimeSeries(key, times, values)

    def measurements(self, query: MeasurementFilter) -> list[OoniMeasurement]:
        return self._measurements(query, "")

    def unjudged(self, query: MeasurementFilter, analysis: str) -> list[OoniMeasurement]:
        judged = bind(
            f" AND measurement_id NOT IN (SELECT measurement_id FROM ooni_verdicts WHERE {PUBLISHED} "
            "AND analysis = {a})",
            a=analysis,
        )
        return self._measurements(query, judged)

    def _measurements(self, query: MeasurementFilter, extra: str) -> list[OoniMeasurement]:
        return measurement_rows(self._con, query, extra)

    def verdicts(self, query: MeasurementFilter, analysis: str) -> list[OoniVerdict]:
        return verdict_rows(self._con, query, analysis)

    def file_series(self, keys: list[SeriesKey]) -> list[FileSeries]:
        return file_series_rows(self._con, keys)

    def close(self) -> None:
        self._con.close()
