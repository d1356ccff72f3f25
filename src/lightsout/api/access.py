"""Store access inside the server: one write connection behind a lock, a pool of read connections.

DuckDB lets one process open a file for writing. Inside that process, every ``duckdb.connect`` of
the same file shares one database instance, and each connection sees its own consistent snapshot
(MVCC): a reader is never blocked by a writer and never sees half of an ingest. A connection must
not be used by two threads at once, so each request borrows a whole read store from a pool and
gives it back; the write store is used by one thread at a time, under ``_write_lock``.

Without a token the server cannot write, so every connection is read-only and other processes may
read the same file (``lightsout events`` beside a running server).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from lightsout.api.errors import ApiError
from lightsout.apps.aggregate import BlockingEvent, blocking_events
from lightsout.detect.service import data_ends, list_events
from lightsout.model import Entity, EntityKind, Event, SeriesSummary
from lightsout.store import Store, StoreLocation, open_store

T = TypeVar("T")


class StoreAccess:
    def __init__(self, path: StoreLocation, writable: bool, readers: int = 8, wait_s: float = 30.0) -> None:
        self.path = path
        self.writable = writable
        self._wait_s = wait_s
        self._write_lock = threading.Lock()
        self._writer: Store | None = open_store(path, read_only=False) if writable else None
        self._pool: queue.LifoQueue[Store] = queue.LifoQueue()
        self._opened: list[Store] = []
        try:
            for _ in range(readers):
                store = open_store(path, read_only=not writable)
                self._opened.append(store)
                self._pool.put(store)
        except BaseException:
            self.close()
            raise
        # Bumped after every write. Only this process can write the file, so a result computed at
        # generation g is current for as long as the generation is still g.
        self._generation = 0
        self._entities: _GenerationCache[EntityIndex] = _GenerationCache()
        self._catalogue: _GenerationCache[dict[str, list[SeriesSummary]]] = _GenerationCache()
        self._events: _GenerationCache[list[Event]] = _GenerationCache()
        self._blocking: _GenerationCache[list[BlockingEvent]] = _GenerationCache()

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """Borrow a read store for the length of a request."""
        try:
            store = self._pool.get(timeout=self._wait_s)
        except queue.Empty:
            raise ApiError(503, "server busy: no store connection free; retry later") from None
        try:
            yield store
        finally:
            self._pool.put(store)

    def write(self, job: Callable[[Store], T]) -> T:
        """Run ``job`` on the write store, one job at a time."""
        if self._writer is None:
            raise ApiError(403, "writes are disabled: the server was started without a token")
        with self._write_lock:
            try:
                return job(self._writer)
            finally:
                self._generation += 1

    @property
    def generation(self) -> int:
        """The number of writes so far: a result computed at generation g is current while it is g."""
        return self._generation

    def entities(self, store: Store) -> EntityIndex:
        """Every stored entity (``Store.entities()``), recomputed only after a write."""
        return self._entities.get(self._generation, lambda: EntityIndex.of(store.entities()))

    def catalogue(self, store: Store) -> dict[str, list[SeriesSummary]]:
        """Every stored series, by entity_id (``Store.series()``), recomputed only after a write."""

        def compute() -> dict[str, list[SeriesSummary]]:
            by_entity: dict[str, list[SeriesSummary]] = {}
            for summary in store.series():
                by_entity.setdefault(summary.key.entity_id, []).append(summary)
            return by_entity

        return self._catalogue.get(self._generation, compute)

    def events(self, store: Store) -> list[Event]:
        """Every event, fused from the stored alerts (``list_events``), recomputed only after a write."""
        return self._events.get(self._generation, lambda: list_events(store))

    def blocking(self, store: Store) -> list[BlockingEvent]:
        """Every app and website blocking event, judged from every stored OONI measurement
        (``blocking_events``), recomputed only after a write."""
        return self._blocking.get(self._generation, lambda: blocking_events(store))

    def data_end(self, store: Store) -> dict[str, datetime]:
        """Per entity, the end of its latest stored bin."""
        return data_ends(s for summaries in self.catalogue(store).values() for s in summaries)

    def close(self) -> None:
        for store in self._opened:
            store.close()
        self._opened.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@dataclass(frozen=True, slots=True)
class EntityIndex:
    """The entities in the store's order (kind, entity_id), with lookups by id and by parent."""

    ordered: list[Entity]
    by_id: dict[str, Entity]
    children: dict[str, list[Entity]]

    @classmethod
    def of(cls, entities: list[Entity]) -> EntityIndex:
        children: dict[str, list[Entity]] = {}
        for entity in entities:
            if entity.parent_id is not None:
                children.setdefault(entity.parent_id, []).append(entity)
        return cls(entities, {e.entity_id: e for e in entities}, children)

    def select(
        self, kind: EntityKind | None = None, country: str | None = None, parent_id: str | None = None
    ) -> list[Entity]:
        """What ``Store.entities(kind, country, parent_id)`` answers."""
        rows = self.ordered if parent_id is None else self.children.get(parent_id, [])
        return [
            e
            for e in rows
            if (kind is None or e.kind == kind) and (country is None or e.country_code == country)
        ]


class _GenerationCache(Generic[T]):
    """One value, tagged with the write generation it was computed at.

    The caller reads the generation *before* its queries: a write that commits during the
    computation bumps the generation after it, so a value that may have missed it is tagged with
    the old generation and recomputed on the next call. Values only move forward: the lock
    serialises computations, and a caller holding an older generation accepts a newer value.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[int, T] | None = None

    def get(self, generation: int, compute: Callable[[], T]) -> T:
        value = self._value
        if value is not None and value[0] >= generation:
            return value[1]
        with self._lock:  # one computation at a time; the others wait for it
            value = self._value
            if value is not None and value[0] >= generation:
                return value[1]
            result = compute()
            self._value = (generation, result)
            return result
