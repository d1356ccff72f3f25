"""Generations: how the ClickHouse backend makes one write all-or-nothing without transactions
(lightsout.store.clickhouse_store; docs/design.md, "ClickHouse backend").

Every write takes a new generation number ``gen`` (:func:`begin`, which registers it in ``begun``)
and tags all of its rows with it; its last statement, :func:`commit`, inserts the one row into
``commits`` that publishes the generation. Every read filters on :data:`PUBLISHED`. The rows of a
writer killed before its commit are invisible, and :func:`discard_abandoned` deletes them later.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from lightsout.store.clickhouse_sql import PUBLISHED, Connection, bind, micros

# Every write registers its generation here first (see begin).
BEGUN_TABLE = (
    "CREATE TABLE IF NOT EXISTS begun (gen UInt64) ENGINE = MergeTree PARTITION BY tuple() ORDER BY gen"
)
# A generation begun this long ago and not published belongs to a killed writer.
ABANDONED_AFTER_S = 6 * 3600


class _Generations:
    """Generation numbers: increasing in this process, and across processes as their clocks are
    (nanoseconds since the epoch), so a later write wins a tie on a key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return self._last


_GENERATIONS = _Generations()


def begin(con: Connection) -> int:
    """A new generation, registered as begun so that the writer after a killed one finds and
    removes its rows (:func:`discard_abandoned`)."""
    gen = _GENERATIONS.next()
    con.insert("begun", ("gen",), [[gen]])
    return gen


def discard_abandoned(con: Connection) -> None:
    """Delete the rows of generations begun long ago and never published (their writer was
    killed): invisible to every reader already, they only take space. ALTER ... DELETE is a
    background mutation; the rows stay invisible until it has run."""
    cutoff = time.time_ns() - ABANDONED_AFTER_S * 1_000_000_000
    rows = con.query(
        bind(f"SELECT gen FROM begun WHERE gen < {{cutoff}} AND NOT ({PUBLISHED})", cutoff=cutoff)
    )
    abandoned = sorted(r[0] for r in rows)
    if not abandoned:
        return
    # Every table whose rows carry a generation, whoever added it.
    tables = con.query(
        "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() AND name = 'gen' "
        "AND table NOT IN ('commits', 'begun', 'meta')"
    )
    for (table,) in tables:
        con.query(bind(f"ALTER TABLE {table} DELETE WHERE gen IN {{gens}}", gens=abandoned))
    con.query(bind("ALTER TABLE begun DELETE WHERE gen IN {gens}", gens=abandoned))


def commit(con: Connection, gen: int, kind: str) -> None:
    """Publish generation ``gen``: one single-row insert, the last step of every write."""
    con.insert("commits", ("gen", "kind", "committed_at"), [[gen], [kind], [micros(datetime.now(UTC))]])
