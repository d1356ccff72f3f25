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

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from lightsout.store.clickhouse_points import SeriesFigures, last_values
from lightsout.store.clickhouse_slots import slots_by_entity
from lightsout.store.clickhouse_sql import IDS_PER_QUERY, PUBLISHED, Connection, bind, chunks

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
    "slot",
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


# The published summaries of some series, each with its row's slot (lightsout.store.clickhouse_slots).
Stored = dict[Key, tuple[Summary, int]]


def batch_summaries(table: pa.Table, figures: list[SeriesFigures]) -> dict[Key, Summary]:
    """Each series' summary over a batch's points (lightsout.store.clickhouse_points.point_table)
    from its ``figures``: a bin given twice counts once, with its last value (the one stored)."""
    out: dict[Key, Summary] = {}
    for f in figures:
        if f.rows == f.bins:
            out[f.key] = Summary(f.bins, f.first_us, f.last_us, f.min_value, f.max_value)
        else:
            values = last_values(table, f.key)
            vs = values.values()
            out[f.key] = Summary(len(values), min(values), max(values), min(vs), max(vs))
    return out


def write_summaries(con: Connection, batch: dict[Key, Summary], gen: int, stored: Stored) -> None:
    """The new summary of every series of ``batch`` (its own figures), in generation ``gen``;
    ``stored``: the published summaries of (at least) the batch's entities."""
    if not batch:
        return
    new: dict[Key, Summary] = {}
    redo: list[Key] = []
    for key, summary in batch.items():
        old = stored[key][0] if key in stored else None
        if old is None:
            new[key] = summary
        elif summary.first_us > old.last_us:
            new[key] = old.then(summary)
        else:
            redo.append(key)
    if redo:
        wanted = set(redo)
        recounted = recount(con, sorted({key[0] for key in redo}), gen)
        new.update((key, s) for key, s in recounted.items() if key in wanted)
    insert_summaries(con, new, gen, {key: 1 - stored[key][1] if key in stored else 0 for key in new})


def point_slots(
    con: Connection, points: pa.Table, figures: list[SeriesFigures], stored: Stored
) -> list[int] | None:
    """The slot of each of a batch's points (lightsout.store.clickhouse_slots), or None when all
    go to slot 0: no point's key is published, every series being new or its bins all after its
    stored ones (the usual case, told by the stored summaries without reading points)."""
    again = {f.key for f in figures if f.key in stored and f.first_us <= stored[f.key][0].last_us}
    if not again:
        return None
    key = ("entity_id", "signal", "source", "bin_s", "bin_start")
    columns = [points.column(name).to_pylist() for name in key]
    keys = list(zip(*columns, strict=True))
    rewritten = [i for i, key in enumerate(keys) if key[:4] in again]
    slots = [0] * len(keys)
    found = slots_by_entity(con, "points", [keys[i] for i in rewritten], "bin_start")
    for i, slot in zip(rewritten, found, strict=True):
        slots[i] = slot
    return slots


def stored_summaries(con: Connection, entity_ids: list[str]) -> Stored:
    """The published summary of every series of ``entity_ids``, with its row's slot."""
    out: Stored = {}
    for chunk in chunks(entity_ids, IDS_PER_QUERY):
        rows = con.query(
            "SELECT entity_id, signal, source, bin_s, tupleElement(r, 1), tupleElement(r, 2), "
            "tupleElement(r, 3), tupleElement(r, 4), tupleElement(r, 5), tupleElement(r, 6) FROM "
            "(SELECT entity_id, signal, source, bin_s, "
            "argMax(tuple(points, first, last, min_value, max_value, slot), gen) AS r "
            f"FROM series_summary WHERE {PUBLISHED} AND "
            + bind("entity_id IN {ids}", ids=chunk)
            + " GROUP BY entity_id, signal, source, bin_s)"
        )
        out.update(((r[0], r[1], r[2], r[3]), (Summary(*r[4:9]), int(r[9]))) for r in rows)
    return out


def recount(con: Connection, entity_ids: list[str] | None, gen: int) -> dict[Key, Summary]:
    """Summaries counted from the points of ``entity_ids`` (all when None): published rows and
    those of generation ``gen`` (the write in progress), the newest version of each bin."""
    out: dict[Key, Summary] = {}
    parts = [None] if entity_ids is None else list(chunks(entity_ids, IDS_PER_QUERY))
    for chunk in parts:
        rows = con.query(
            "SELECT entity_id, signal, source, bin_s, count(), min(bin_start), max(bin_start), "
            "min(v), max(v) FROM (SELECT entity_id, signal, source, bin_s, bin_start, "
            "argMax(value, gen) AS v FROM points "
            + bind(f"WHERE ({PUBLISHED} OR gen = {{gen}}) ", gen=gen)
            + (bind("AND entity_id IN {ids} ", ids=chunk) if chunk is not None else "")
            + "GROUP BY entity_id, signal, source, bin_s, bin_start) "
            "GROUP BY entity_id, signal, source, bin_s"
        )
        out.update(((r[0], r[1], r[2], r[3]), Summary(*r[4:])) for r in rows)
    return out


def insert_summaries(
    con: Connection, summaries: dict[Key, Summary], gen: int, slots: dict[Key, int] | None = None
) -> None:
    """Summaries in generation ``gen``, each in its ``slots`` (looked up when not given)."""
    if not summaries:
        return
    items = sorted(summaries.items())
    keys = [key for key, _ in items]
    columns: list[list[Any]] = [[key[i] for key, _ in items] for i in range(4)]
    columns += [
        [s.points for _, s in items],
        [s.first_us for _, s in items],
        [s.last_us for _, s in items],
        [s.min_value for _, s in items],
        [s.max_value for _, s in items],
        [gen] * len(items),
        [slots[key] for key in keys] if slots is not None else slots_by_entity(con, "series_summary", keys),
    ]
    con.insert("series_summary", SUMMARY_COLUMNS, columns)
