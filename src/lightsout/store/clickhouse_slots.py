"""Slots: why a ClickHouse merge never puts an unpublished row in place of a published one
(lightsout.store.clickhouse_store; docs/design.md, "ClickHouse backend").

Tables are ReplacingMergeTree(gen): a merge keeps, of the rows with the same sorting key, the one
of the highest generation, whether or not that generation was ever published. A write killed
before its commit (or still under way) has the highest generation, so on its own key a merge
would drop the published row and keep the invisible one: the value would vanish. So every table
whose rows are replaced (the ``ON CONFLICT DO UPDATE`` tables of DuckDB) has a ``slot`` column
(0 or 1) at the end of its sorting key, and a write puts each row in the slot *other* than the one
of its key's newest published row (slot 0 for a key never published). A merge then only ever
chooses between rows of the same slot: in the slot of the newest published row there is no row of
a later write (every later write goes to the other slot), and in the other slot only rows older
than it (replaced already) or of later writes. The newest published row of each key always
survives; a key holds at most two rows after merges (plus those of killed writes, until
``clickhouse_generations.discard_abandoned`` deletes them). Reads are unchanged: ``argMax(row,
gen)`` over published rows, whatever the slot.

This holds for one writer at a time (the store's contract). Two writers racing on the same key,
the later-begun one killed, could still meet in one slot.

Tables whose rows are written once and never replaced (entities, sources, OONI measurements,
file provenance) need no slot: the store never sends a row whose key is already published, so a
merge only ever sees one published row per key, and later unpublished copies cannot exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightsout.store.clickhouse_sql import IDS_PER_QUERY, PUBLISHED, Connection, bind, chunks

# Each table with a slot, by its key (the sorting key before ``slot``).
_POINT_KEY = ("entity_id", "signal", "source", "bin_s", "bin_start")
SLOTTED: dict[str, tuple[str, ...]] = {
    "points": _POINT_KEY,
    "alerts": _POINT_KEY,
    "series_summary": ("entity_id", "signal", "source", "bin_s"),
    "ooni_verdicts": ("measurement_id",),
    "checkpoints": ("source", "stream"),
    "source_health": ("source",),
    "external_events": ("event_id",),
    "reader_state": ("key",),
    "detector_state": ("group_id",),
}


def published_slots(con: Connection, table: str, where: str) -> dict[tuple[Any, ...], int]:
    """The slot of the newest published row of each key of ``table`` matching ``where``."""
    key = ", ".join(SLOTTED[table])
    rows = con.query(
        f"SELECT {key}, argMax(slot, gen) FROM {table} WHERE {PUBLISHED} AND ({where}) GROUP BY {key}"
    )
    return {tuple(r[:-1]): int(r[-1]) for r in rows}


def next_slots(found: dict[tuple[Any, ...], int], keys: Sequence[tuple[Any, ...]]) -> list[int]:
    """The slot each key's new row goes to: the other one than its newest published row's."""
    return [1 - found[k] if k in found else 0 for k in keys]


def slots_for(con: Connection, table: str, keys: Sequence[tuple[Any, ...]]) -> list[int]:
    """The slots of new rows of ``keys`` (values as stored), looked up by key."""
    names = SLOTTED[table]
    found: dict[tuple[Any, ...], int] = {}
    for chunk in chunks(sorted(set(keys)), IDS_PER_QUERY):
        if len(names) == 1:
            where = bind(f"{names[0]} IN {{keys}}", keys=[k[0] for k in chunk])
        else:
            where = bind(f"({', '.join(names)}) IN {{keys}}", keys=chunk)
        found.update(published_slots(con, table, where))
    return next_slots(found, keys)


def slots_by_entity(
    con: Connection, table: str, keys: Sequence[tuple[Any, ...]], time_column: str | None = None
) -> list[int]:
    """:func:`slots_for` for tables keyed by entity first (points, alerts, series summaries):
    looked up by entity id (and the keys' time range in ``time_column``, the key's last field)."""
    found: dict[tuple[Any, ...], int] = {}
    span = ""
    if time_column is not None and keys:
        times = [k[-1] for k in keys]
        span = bind(f" AND {time_column} >= {{lo}} AND {time_column} <= {{hi}}", lo=min(times), hi=max(times))
    for chunk in chunks(sorted({k[0] for k in keys}), IDS_PER_QUERY):
        found.update(published_slots(con, table, bind("entity_id IN {ids}", ids=chunk) + span))
    return next_slots(found, keys)


def add_slots(con: Connection) -> None:
    """Give the tables of a store written before slots their ``slot`` column (0 for every row
    already stored) at the end of the sorting key: a metadata change, no data rewritten."""
    rows = con.query(
        "SELECT table FROM system.columns WHERE database = currentDatabase() AND name = 'slot'"
    )
    have = {r[0] for r in rows}
    for table, key in SLOTTED.items():
        if table not in have:
            con.query(f"ALTER TABLE {table} ADD COLUMN slot UInt8, MODIFY ORDER BY ({', '.join(key)}, slot)")
