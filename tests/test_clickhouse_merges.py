"""ClickHouse merges never bring back what a killed write left (lightsout.store.clickhouse_slots).

A ReplacingMergeTree merge keeps the row of the highest generation of each sorting key, published
or not. Here every kind of write is killed just before its commit, with new values for keys that
already hold published rows; then every table is merged (``OPTIMIZE TABLE ... FINAL``, what the
server's background merges do whenever they like) and the store must read the published values
still. Before slots, the merge kept the killed write's rows and the published values vanished.
Run on the ClickHouse server (18.16 in CI) and on chdb (current ClickHouse).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lightsout.model import Checkpoint, EntityKind, HealthState, SourceHealth
from lightsout.sources import CarryState
from lightsout.store import IngestBatch
from lightsout.store.clickhouse_store import ClickHouseStore
from store_backends import Backend, chdb_unavailable, clickhouse_unavailable
from test_store import CONNECTIVITY, HOUR, IR, T0, alert, external, measurement, points, source, verdict


@pytest.fixture(params=["clickhouse", "chdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClickHouseStore]:
    reason = {"clickhouse": clickhouse_unavailable, "chdb": chdb_unavailable}[request.param]()
    if reason:
        pytest.skip(reason)
    backend = Backend(request.param, tmp_path)
    opened = backend.open()
    assert isinstance(opened, ClickHouseStore)
    yield opened
    opened.close()
    backend.drop()


def merge_everything(store: ClickHouseStore) -> None:
    """What background merges may do at any time, done now: every part of every table merged."""
    con = store._con
    for (table,) in con.query("SELECT name FROM system.tables WHERE database = currentDatabase()"):
        con.query(f"OPTIMIZE TABLE {table} FINAL")


def written(store: ClickHouseStore, tag: str) -> None:
    """One of each kind of write, every value marked with ``tag``."""
    value = float(len(tag))
    m = measurement("m1", T0)
    store.write_batch(
        IngestBatch(
            source(tag),
            [replace(IR, name=f"Iran {tag}")],
            points([value, value + 1]),
            [m],
            CarryState("mrt/rrc15", T0, tag.encode()),
            checkpoint=Checkpoint("ooni", "follow", tag, None, T0),
            external_events=[replace(external("ioda:IR:1", 0, None), description=tag)],
            verdicts=[verdict(m, status=tag)],
        )
    )
    store.save_verdicts([verdict(m, status=tag)])
    store.add_alerts([alert(CONNECTIVITY, 0, value=value)])
    store.replace_alerts([CONNECTIVITY], T0, None, [alert(CONNECTIVITY, 0, value=value)])
    store.save_judgement([alert(CONNECTIVITY, 1, value=value)], {"IR": tag.encode()})
    store.save_detector_state("DE", tag.encode())
    store.save_health(SourceHealth("ooni", HealthState.OK, T0, T0, T0, tag, None, 0, None))


def killed_before_commit(store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch, tag: str) -> None:
    """Every kind of write again with new values, each killed just before its commit."""

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(ClickHouseStore, "_commit", killed)
        for write in (
            lambda: store.write_batch(
                IngestBatch(source(tag), [replace(IR, name=tag)], points([99.0, 98.0]),
                            [measurement("m1", T0)], CarryState("mrt/rrc15", T0, b"killed"),
                            checkpoint=Checkpoint("ooni", "follow", "killed", None, T0),
                            external_events=[replace(external("ioda:IR:1", 0, None), description="killed")])
            ),
            lambda: store.save_verdicts([verdict(measurement("m1", T0), status="killed")]),
            lambda: store.add_alerts([alert(CONNECTIVITY, 0, value=99.0)]),
            lambda: store.replace_alerts([CONNECTIVITY], T0, None, []),
            lambda: store.save_judgement([alert(CONNECTIVITY, 1, value=99.0)], {"IR": b"killed"}),
            lambda: store.save_detector_state("DE", b"killed"),
            lambda: store.save_health(
                SourceHealth("ooni", HealthState.FAILING, T0, T0, T0, "killed", None, 1, None)
            ),
        ):
            with pytest.raises(KeyboardInterrupt):
                write()


def reads(store: ClickHouseStore) -> tuple[object, ...]:
    from lightsout.store import MeasurementFilter

    return (
        store.points(CONNECTIVITY).values.tolist(),
        [(s.points, s.min_value, s.max_value) for s in store.series()],
        [e.name for e in store.entities(kind=EntityKind.COUNTRY)],
        [(a.bin_start, a.value) for a in store.alerts()],
        store.load_detector_state("IR"),
        store.load_detector_state("DE"),
        store.load_carry("mrt/rrc15"),
        store.load_checkpoint("ooni", "follow"),
        [e.description for e in store.external_events()],
        [v.status for v in store.verdicts(MeasurementFilter(), "v1")],
        [h.last_error for h in store.source_health()],
    )


def test_a_killed_write_never_replaces_published_rows_even_after_merges(
    store: ClickHouseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    written(store, "one")
    merge_everything(store)
    first = reads(store)
    assert first[0] == [3.0, 4.0] and first[1] == [(2, 3.0, 4.0)] and first[2] == ["Iran one"]
    assert first[4:6] == (b"one", b"one") and first[9] == ["one"] and first[10] == ["one"]

    killed_before_commit(store, monkeypatch, "killed-1")
    merge_everything(store)
    assert reads(store) == first  # the published rows won the merges

    written(store, "three")  # published again: its values replace the first ones (in the other slot)
    merge_everything(store)
    third = reads(store)
    assert third[0] == [5.0, 6.0] and third[1] == [(2, 5.0, 6.0)] and third[4:6] == (b"three", b"three")
    assert third[2] == ["Iran one"]  # an entity keeps its first version
    assert third[3] == [(T0, 5.0), (T0 + HOUR, 5.0)]

    killed_before_commit(store, monkeypatch, "killed-2")  # lands in the first write's slot
    merge_everything(store)
    assert reads(store) == third
