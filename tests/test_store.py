"""The Store contract, asserted identically on every backend: DuckDB, ClickHouse on a server
(Debian's 18.16 in CI) and ClickHouse in-process through chdb (current ClickHouse's SQL).

A ClickHouse test skips with its reason when no server answers (scripts/ci-clickhouse.sh starts one;
.ci/run calls it, so nothing skips in CI); a chdb test skips when chdb is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

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
    SignalKind,
    SignalPoint,
    SourceFile,
    SourceHealth,
)
from lightsout.sources import CarryState
from lightsout.store import ClickHouseLocation, IngestBatch, MeasurementFilter, Store, parse_location
from store_backends import BACKENDS, Backend, chdb_unavailable, clickhouse_unavailable

T0 = datetime(2019, 11, 16, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
IR = Entity("country/IR", EntityKind.COUNTRY, "IR", "Iran", "IR", None)
TEHRAN = Entity("region/IR-07", EntityKind.REGION, "IR-07", "Tehran", "IR", "country/IR")
AS12880 = Entity("network/AS12880", EntityKind.NETWORK, "AS12880", "DCI", None, None, 12880)
CONNECTIVITY = SeriesKey("country/IR", SignalKind.CONNECTIVITY_INDEX, "monash", 3600)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = request.param
    reason = {"clickhouse": clickhouse_unavailable, "chdb": chdb_unavailable}.get(kind, lambda: None)()
    if reason:
        pytest.skip(reason)
    b = Backend(kind, tmp_path)
    yield b
    b.drop()


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    s = backend.open()
    yield s
    s.close()


def source(sha: str, at: datetime = T0, points: int = 0) -> SourceFile:
    return SourceFile(sha, f"/data/{sha}.csv", "monash", at + timedelta(microseconds=123457), 10, 1, points)


def points(values: list[float], start: datetime = T0, key: SeriesKey = CONNECTIVITY) -> list[SignalPoint]:
    return [
        SignalPoint(key.entity_id, key.signal, key.source, start + i * HOUR, key.bin_s, v, samples=i + 1)
        for i, v in enumerate(values)
    ]


def measurement(mid: str, start: datetime | None, cc: str = "IR", asn: int = 12880) -> OoniMeasurement:
    return OoniMeasurement(
        mid, "web_connectivity", "0.4.3", cc, asn, start, "https://x.example/", '{"k": "\'é"}'
    )


def test_a_batch_reads_back_as_written(store: Store) -> None:
    carry = CarryState("mrt/rrc15", T0 + timedelta(microseconds=5), bytes(range(256)) + b"'\\\n")
    checkpoint = Checkpoint("ooni", "follow", '{"since": "2019-11-16"}', None, T0)
    batch = IngestBatch(
        source("a", points=3),
        [IR, TEHRAN, AS12880],
        points([90.0, 12.5, 3.25]),
        [measurement("m1", T0)],
        carry,
        checkpoint=checkpoint,
    )
    store.write_batch(batch)

    assert store.has_source("a") and not store.has_source("b")
    assert store.sources() == [batch.source]
    assert store.entities() == [IR, AS12880, TEHRAN]  # by kind, then id
    assert store.entity("network/AS12880") == AS12880 and store.entity("country/XX") is None
    assert store.entities(kind=EntityKind.REGION) == [TEHRAN]
    assert store.entities(country="IR") == [IR, TEHRAN]
    assert store.entities(parent_id="country/IR") == [TEHRAN]
    series = store.points(CONNECTIVITY)
    assert series.times_s.tolist() == [int((T0 + i * HOUR).timestamp()) for i in range(3)]
    assert series.values.tolist() == [90.0, 12.5, 3.25]
    assert series.times_s.dtype == np.int64 and series.values.dtype == np.float64
    assert store.measurements(MeasurementFilter()) == batch.measurements
    assert store.load_carry("mrt/rrc15") == carry and store.load_carry("mrt/rrc00") is None
    assert store.load_checkpoint("ooni", "follow") == checkpoint


def test_a_batch_given_as_columns_is_stored_as_the_same_rows(store: Store) -> None:
    """MRT ingest's workers send points and entities as Arrow columns (IngestBatch.point_columns):
    stored and read back exactly as the same rows given as lists, on every backend."""
    from lightsout.store.schema import arrow_table, rows_from_arrow

    rows = points([90.0, 12.5, 3.25]) + points([7.0], key=replace(CONNECTIVITY, entity_id="network/AS12880"))
    assert rows_from_arrow(SignalPoint, arrow_table(SignalPoint, rows)) == rows
    store.write_batch(
        IngestBatch(
            source("a", points=4),
            entity_columns=arrow_table(Entity, [IR, TEHRAN, AS12880]),
            point_columns=arrow_table(SignalPoint, rows),
        )
    )
    assert store.entities() == [IR, AS12880, TEHRAN]
    series = store.points(CONNECTIVITY)
    assert series.values.tolist() == [90.0, 12.5, 3.25]
    assert series.times_s.tolist() == [int((T0 + i * HOUR).timestamp()) for i in range(3)]
    assert [s.points for s in store.series()] == [3, 1]
    assert store.sources() == [source("a", points=4)]


def test_an_mrt_file_ingested_as_columns_is_stored_as_its_point_objects(
    store: Store, shared_data: Path
) -> None:
    """Every MRT ingest hands the store Arrow columns (lightsout.ingest.make_batch): on every
    backend, a real update file (2 bins of 374 series: 362 before its IPv6 sessions counted as full
    feeds of their family) reads back as the reader's SignalPoint and Entity objects, bin by bin."""
    from lightsout.ingest import check_parsed, ingest_file
    from lightsout.sources.mrt import read_mrt

    path = shared_data / "mrt" / "collectors" / "bgpdump-test_data" / "updates.20100722.2015.gz"
    report = ingest_file(store, path)
    objects = check_parsed(read_mrt(path), path)  # the objects, as ingest checks them
    assert report.points_written == len(objects.points) == 748
    assert store.entities() == sorted(objects.entities, key=lambda e: (e.kind.value, e.entity_id))
    expected: dict[SeriesKey, list[tuple[int, float]]] = {}
    for p in objects.points:
        key = SeriesKey(p.entity_id, p.signal, p.source, p.bin_s)
        expected.setdefault(key, []).append((int(p.bin_start.timestamp()), p.value))
    summaries = store.series()
    assert {s.key: s.points for s in summaries} == {k: len(v) for k, v in expected.items()}
    for key in [s.key for s in summaries][::40]:  # one point read per 40 series (each a query)
        series = store.points(key)
        stored = list(zip(series.times_s.tolist(), series.values.tolist(), strict=True))
        assert stored == sorted(expected[key])
    assert store.sources()[0].points_written == 748 and store.load_carry("mrt/mrt") is not None


def test_ingest_state_and_sources_by_sha_answer_without_reading_every_record(store: Store) -> None:
    # The read paths' cache key and an event's files: never the whole ledger (one row per live item).
    assert store.ingest_state() == (0, None) and store.sources_by_sha(["a"]) == []
    first, second = source("a", points=1), replace(source("b", points=1), ingested_at=T0 + HOUR)
    store.write_batch(IngestBatch(first, [IR], points([50.0])))
    store.write_batch(IngestBatch(second, [IR], points([60.0])))
    store.write_batch(IngestBatch(replace(first, path="/again"), [IR], points([70.0])))  # adds nothing
    assert store.ingest_state() == (2, T0 + HOUR)
    assert store.sources_by_sha(["b", "zz", "a", "b"]) == [first, second]


def test_the_same_file_twice_adds_nothing(store: Store) -> None:
    first = IngestBatch(source("a", points=2), [IR], points([50.0, 60.0]))
    store.write_batch(first)
    again = IngestBatch(
        replace(first.source, path="/elsewhere"), [replace(IR, name="X")], points([1.0, 2.0, 3.0])
    )
    store.write_batch(again)

    assert store.sources() == [first.source]
    assert store.entity("country/IR") == IR
    assert store.points(CONNECTIVITY).values.tolist() == [50.0, 60.0]


def test_a_later_file_replaces_the_bins_it_covers(store: Store) -> None:
    store.write_batch(IngestBatch(source("a"), [IR], points([50.0, 60.0, 70.0])))
    store.write_batch(IngestBatch(source("b", T0 + HOUR), [], points([5.0, 99.0], start=T0 + HOUR)))

    assert store.points(CONNECTIVITY).values.tolist() == [50.0, 5.0, 99.0]
    (summary,) = store.series()
    assert (summary.points, summary.min_value, summary.max_value) == (3, 5.0, 99.0)
    assert (summary.first, summary.last, summary.end) == (T0, T0 + 2 * HOUR, T0 + 3 * HOUR)


def test_files_that_continue_a_series_add_to_its_summary(store: Store) -> None:
    store.write_batch(IngestBatch(source("a"), [IR], points([50.0, 60.0])))
    store.write_batch(IngestBatch(source("b"), [], points([40.0, 45.0], start=T0 + 2 * HOUR)))
    store.write_batch(IngestBatch(source("c"), [], points([99.0], start=T0 + 5 * HOUR)))  # after a gap

    (summary,) = store.series(country="IR")
    assert (summary.points, summary.min_value, summary.max_value) == (5, 40.0, 99.0)
    assert (summary.first, summary.last) == (T0, T0 + 5 * HOUR)
    assert store.points(CONNECTIVITY).values.tolist() == [50.0, 60.0, 40.0, 45.0, 99.0]


def test_an_entity_and_a_measurement_keep_their_first_version(store: Store) -> None:
    store.write_batch(IngestBatch(source("a"), [IR], measurements=[measurement("m1", T0)]))
    later = replace(measurement("m1", T0), raw_json="{}", probe_cc="DE")
    store.write_batch(IngestBatch(source("b"), [replace(IR, name="Persia")], measurements=[later]))

    assert store.entity("country/IR") == IR
    assert store.measurements(MeasurementFilter()) == [measurement("m1", T0)]
    # the children of some entities (a page walks its tree of parent links level by level)
    store.write_batch(IngestBatch(source("c"), [TEHRAN]))
    assert store.entities(parent_ids={"country/IR", "country/XX"}) == [TEHRAN]
    assert store.entities(parent_ids={TEHRAN.entity_id}) == store.entities(parent_ids=[]) == []
    assert store.entities(entity_ids={TEHRAN.entity_id, "country/XX"}) == [TEHRAN]
    assert store.entities(entity_ids={TEHRAN.entity_id, IR.entity_id}, parent_ids={IR.entity_id}) == [TEHRAN]
    assert store.entities(entity_ids=[]) == []


def test_duckdb_entities_given_twice_in_a_batch_keep_the_first(tmp_path: Path) -> None:
    """DuckDB writes a batch of distinct new entities by an anti-join, else ON CONFLICT DO NOTHING:
    either way a stored entity is kept and an id given twice in one batch keeps its first row."""
    from lightsout.store.duckdb_store import DuckDBStore
    from lightsout.store.schema import arrow_table

    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        store.write_batch(IngestBatch(source("a"), [IR]))
        twice = [replace(AS12880, name="first"), replace(IR, name="Persia"), replace(AS12880, name="second")]
        store.write_batch(IngestBatch(source("b"), entity_columns=arrow_table(Entity, twice)))
        store.write_batch(IngestBatch(source("c"), [replace(AS12880, name="later"), TEHRAN]))
        assert store.entities() == [IR, replace(AS12880, name="first"), TEHRAN]
    finally:
        store.close()


def test_a_write_that_fails_at_its_last_step_leaves_nothing(store: Store) -> None:
    store.write_batch(IngestBatch(source("a"), [IR], points([50.0, 60.0])))
    broken = IngestBatch(
        replace(source("b"), records_read="not a number"),  # type: ignore[arg-type]
        [TEHRAN],
        points([1.0, 2.0, 3.0]),
        [measurement("m2", T0)],
        CarryState("mrt/rrc15", T0, b"state"),
        checkpoint=Checkpoint("ooni", "follow", "{}", T0, T0),
        external_events=[external("ioda:IR:1", 0, None)],
    )
    with pytest.raises(Exception):  # noqa: B017 - each backend fails in its own words
        store.write_batch(broken)

    assert not store.has_source("b") and [s.sha256 for s in store.sources()] == ["a"]
    assert store.entities() == [IR]
    assert store.points(CONNECTIVITY).values.tolist() == [50.0, 60.0]  # the older file's values still show
    assert store.measurements(MeasurementFilter()) == []
    assert store.load_carry("mrt/rrc15") is None
    assert store.load_checkpoint("ooni", "follow") is None
    assert store.external_events() == []

    fixed = replace(broken, source=source("b"))
    store.write_batch(fixed)  # the next run writes the file whole
    assert store.points(CONNECTIVITY).values.tolist() == [1.0, 2.0, 3.0]
    assert store.entities(kind=EntityKind.REGION) == [TEHRAN]
    assert [m.measurement_id for m in store.measurements(MeasurementFilter())] == ["m2"]


def verdict(m: OoniMeasurement, analysis: str = "v1", status: str = "blocked") -> OoniVerdict:
    method = "dns" if status == "blocked" else None
    return OoniVerdict(
        m.measurement_id, analysis, m.test_name, m.input or "", status, method, "why \'é", m.probe_cc,
        m.probe_asn, m.measurement_start, None, "r1", None,
    )


def test_a_file_written_in_parts_is_one_atomic_write(store: Store) -> None:
    def parts(fail: bool) -> Iterator[IngestBatch]:
        yield IngestBatch(source("a"), [IR], points([1.0, 2.0]), [measurement("m1", T0)])
        yield IngestBatch(source("a"), [TEHRAN], points([3.0, 4.0, 5.0], T0 + 2 * HOUR))
        if fail:
            raise ValueError("the reader failed half-way")
        last = replace(source("a", points=5), records_read=7)
        yield IngestBatch(last, measurements=[measurement("m2", T0)])

    with pytest.raises(ValueError):
        store.write_parts(parts(fail=True))
    assert not store.has_source("a") and store.entities() == []
    assert store.points(CONNECTIVITY).values.tolist() == [] and store.measurements(MeasurementFilter()) == []

    store.write_parts(parts(fail=False))
    assert [(s.sha256, s.records_read, s.points_written) for s in store.sources()] == [("a", 7, 5)]
    assert store.entities() == [IR, TEHRAN]
    assert store.points(CONNECTIVITY).values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    (summary,) = store.series()
    assert (summary.points, summary.first, summary.last) == (5, T0, T0 + 4 * HOUR)
    (provenance,) = store.file_series([CONNECTIVITY])
    assert (provenance.first, provenance.last, provenance.points) == (T0, T0 + 4 * HOUR, 5)
    assert [m.measurement_id for m in store.measurements(MeasurementFilter())] == ["m1", "m2"]

    store.write_parts(parts(fail=True))  # already stored: adds nothing, reads no further
    assert len(store.sources()) == 1


def test_a_streamed_ooni_file_shows_only_once_whole(store: Store) -> None:
    stored = measurement("m0", T0)
    store.write_batch(IngestBatch(source("a"), measurements=[stored], verdicts=[verdict(stored)]))
    seen: list[list[str]] = []

    def parts(fail: bool) -> Iterator[IngestBatch]:
        for i in range(3):  # chunks of measurements and verdicts only, as lightsout ingest streams them
            chunk = [measurement(f"m{i}{j}", T0 + (i * 2 + j) * HOUR) for j in range(2)]
            if i == 1:
                chunk.append(stored)  # already stored by file a: stays shown throughout
            judged = [verdict(m, status="down") for m in chunk]
            yield IngestBatch(source("b"), measurements=chunk, verdicts=judged)
            seen.append([m.measurement_id for m in store.measurements(MeasurementFilter())])
            assert [v.measurement_id for v in store.verdicts(MeasurementFilter(), "v1")] == ["m0"]
        if fail:
            raise ValueError("the reader failed at the end")
        yield IngestBatch(replace(source("b"), records_read=6), [IR])

    with pytest.raises(ValueError):
        store.write_parts(parts(fail=True))
    assert seen == [["m0"]] * 3 and store.measurements(MeasurementFilter()) == [stored]
    assert not store.has_source("b") and store.entities() == []

    seen.clear()
    store.write_parts(parts(fail=False))
    assert seen == [["m0"]] * 3
    assert len(store.measurements(MeasurementFilter())) == 7 and store.entities() == [IR]
    verdicts = store.verdicts(MeasurementFilter(), "v1")
    assert [(v.measurement_id, v.status) for v in verdicts][:2] == [("m0", "blocked"), ("m00", "down")]
    assert len(verdicts) == 7 and store.unjudged(MeasurementFilter(), "v1") == []
    assert [s.records_read for s in store.sources()] == [10, 6]


def test_verdicts_are_stored_with_new_measurements_only(store: Store) -> None:
    m1, m2, m3 = measurement("m1", T0), measurement("m2", T0 + HOUR, cc="DE"), measurement("m3", None)
    first = IngestBatch(source("a"), measurements=[m1, m2, m3], verdicts=[verdict(m1), verdict(m2)])
    store.write_batch(first)
    # A second copy of m1 (another file) keeps the stored verdict; m4 comes with its own.
    m4 = replace(measurement("m4", T0 + 2 * HOUR), test_name="whatsapp")
    again = verdict(m1, status="accessible")
    store.write_batch(IngestBatch(source("b"), measurements=[m1, m4], verdicts=[again, verdict(m4)]))

    assert store.verdicts(MeasurementFilter(), "v1") == [verdict(m1), verdict(m2), verdict(m4)]
    assert store.verdicts(MeasurementFilter(country="DE"), "v1") == [verdict(m2)]
    assert store.verdicts(MeasurementFilter(test_name="whatsapp"), "v1") == [verdict(m4)]
    assert store.verdicts(MeasurementFilter(since=T0 + HOUR, limit=1), "v1") == [verdict(m2)]
    assert store.verdicts(MeasurementFilter(), "v2") == []
    assert store.unjudged(MeasurementFilter(), "v1") == [m3]
    assert store.unjudged(MeasurementFilter(country="IR"), "v2") == [m1, m4, m3]

    # Judged again by another analysis: that analysis's verdicts replace the stored ones.
    store.save_verdicts([verdict(m1, "v2", "accessible"), verdict(m3, "v2", "inconclusive")])
    assert store.verdicts(MeasurementFilter(), "v2") == [
        verdict(m1, "v2", "accessible"), verdict(m3, "v2", "inconclusive")
    ]
    assert [m.measurement_id for m in store.unjudged(MeasurementFilter(), "v2")] == ["m2", "m4"]


def test_series_are_summarised_per_entity_and_country(store: Store) -> None:
    bgp = SeriesKey("network/AS12880", SignalKind.BGP_PREFIXES, "rrc15", 300)
    orphan = SeriesKey("network/AS1", SignalKind.BGP_PREFIXES, "rrc15", 300)  # no entity record
    store.write_batch(
        IngestBatch(
            source("a"),
            [IR, AS12880],
            points([50.0, 60.0]) + points([7.0, 3.0, 5.0], key=bgp) + points([1.0], key=orphan),
        )
    )

    assert [s.key for s in store.series()] == [CONNECTIVITY, bgp]
    assert [s.key for s in store.series(entity_id="network/AS12880")] == [bgp]
    assert [s.key for s in store.series(country="IR")] == [CONNECTIVITY]
    (summary,) = store.series(entity_id="network/AS12880")
    assert (summary.points, summary.min_value, summary.max_value) == (3, 3.0, 7.0)
    assert store.series(entity_id="country/XX") == []
    # Of some entities: known ones only, in key order, none for none.
    assert [s.key for s in store.series(entity_ids={"network/AS12880", "network/AS1", "country/IR"})] == [
        CONNECTIVITY,
        bgp,
    ]
    assert [s.key for s in store.series(entity_ids=["network/AS12880"], country="IR")] == []
    assert store.series(entity_ids=set()) == []


def test_points_within_a_time_range(store: Store) -> None:
    store.write_batch(IngestBatch(source("a"), [IR], points([1.0, 2.0, 3.0, 4.0])))
    assert store.points(CONNECTIVITY, since=T0 + HOUR, until=T0 + 3 * HOUR).values.tolist() == [2.0, 3.0]
    assert store.points(CONNECTIVITY, since=T0 + 2 * HOUR).values.tolist() == [3.0, 4.0]
    assert store.points(CONNECTIVITY, until=T0 + HOUR).values.tolist() == [1.0]
    other = SeriesKey("country/IR", SignalKind.CONNECTIVITY_INDEX, "monash", 300)
    assert len(store.points(other).times_s) == 0


def test_measurements_are_filtered_and_ordered(store: Store) -> None:
    rows = [
        measurement("m3", T0 + 2 * HOUR),
        measurement("m1", T0),
        measurement("m2", T0 + HOUR, cc="DE", asn=3320),
        measurement("m0", None),
        replace(measurement("m4", T0 + HOUR), test_name="whatsapp"),
    ]
    store.write_batch(IngestBatch(source("a"), measurements=rows))

    def ids(**kwargs: object) -> list[str]:
        return [m.measurement_id for m in store.measurements(MeasurementFilter(**kwargs))]  # type: ignore[arg-type]

    assert ids() == ["m1", "m2", "m4", "m3", "m0"]  # by start, then id; no start last
    assert ids(country="IR") == ["m1", "m4", "m3", "m0"]
    assert ids(asn=3320) == ["m2"]
    assert ids(test_name="whatsapp") == ["m4"]
    assert ids(since=T0 + HOUR) == ["m2", "m4", "m3"]
    assert ids(until=T0 + HOUR) == ["m1"]
    assert ids(limit=2) == ["m1", "m2"]


def alert(key: SeriesKey, hour: int, value: float = 1.0, level: int = 2) -> Alert:
    return Alert(
        key.entity_id, key.signal, key.source, key.bin_s, T0 + hour * HOUR, value, 50.0, value / 50.0, level
    )


def test_replace_alerts_swaps_one_range_of_some_series(store: Store) -> None:
    other = SeriesKey("region/IR-07", SignalKind.CONNECTIVITY_INDEX, "monash", 3600)
    store.add_alerts([alert(CONNECTIVITY, h) for h in range(4)] + [alert(other, 1)])
    store.add_alerts([alert(CONNECTIVITY, 0, value=2.0, level=1)])  # the same bin again: updated

    store.replace_alerts([CONNECTIVITY], T0 + HOUR, T0 + 3 * HOUR, [alert(CONNECTIVITY, 2, value=3.0)])

    got = {(a.entity_id, a.bin_start, a.value, a.level) for a in store.alerts()}
    assert got == {
        ("country/IR", T0, 2.0, 1),
        ("country/IR", T0 + 2 * HOUR, 3.0, 2),
        ("country/IR", T0 + 3 * HOUR, 1.0, 2),
        ("region/IR-07", T0 + HOUR, 1.0, 2),
    }
    assert [a.bin_start for a in store.alerts(since=T0 + 2 * HOUR, until=T0 + 3 * HOUR)] == [T0 + 2 * HOUR]

    # only some entities' alerts (the page of one entity reads only those that can touch it)
    assert [a.entity_id for a in store.alerts(entity_ids={"region/IR-07"})] == ["region/IR-07"]
    assert store.alerts(entity_ids={"region/IR-07", "country/IR"}) == store.alerts()
    assert store.alerts(entity_ids=[]) == []
    assert store.alerts(since=T0 + 2 * HOUR, entity_ids=["region/IR-07"]) == []

    store.replace_alerts([CONNECTIVITY, other], None, None, [])
    assert store.alerts() == []
    store.add_alerts([alert(other, 1)])  # a deleted alert can come back
    assert store.alerts() == [alert(other, 1)]


def test_a_judgement_is_stored_whole_or_not_at_all(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """An online round's alerts and detector states: one transaction (DuckDB) or generation
    (ClickHouse). Dying after the alerts and before the states leaves the previous round's."""
    store.save_judgement([alert(CONNECTIVITY, 0)], {"IR": b"round 1", "DE": b"round 1"})
    assert store.alerts() == [alert(CONNECTIVITY, 0)]
    assert store.load_detector_state("IR") == store.load_detector_state("DE") == b"round 1"

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    states_writer = "_insert_detector_states" if hasattr(store, "_insert_detector_states") else (
        "_upsert_detector_state"
    )
    monkeypatch.setattr(type(store), states_writer, killed)
    with pytest.raises(KeyboardInterrupt):
        store.save_judgement([alert(CONNECTIVITY, 1), alert(CONNECTIVITY, 0, value=9.0)], {"IR": b"round 2"})
    monkeypatch.undo()
    assert store.alerts() == [alert(CONNECTIVITY, 0)]
    assert store.load_detector_state("IR") == b"round 1"
    store.save_judgement([alert(CONNECTIVITY, 1)], {"IR": b"round 2"})  # the round again, whole
    assert store.alerts() == [alert(CONNECTIVITY, 0), alert(CONNECTIVITY, 1)]
    assert (store.load_detector_state("IR"), store.load_detector_state("DE")) == (b"round 2", b"round 1")


def test_detector_state_is_replaced(store: Store) -> None:
    assert store.load_detector_state("IR") is None
    store.save_detector_state("IR", b"\x00first\xff")
    store.save_detector_state("IR", b"\x00second\xff")
    store.save_detector_state("DE", b"")
    assert store.load_detector_state("IR") == b"\x00second\xff"
    assert store.load_detector_state("DE") == b""


def test_checkpoints_and_source_health_are_replaced(store: Store) -> None:
    store.save_checkpoint(Checkpoint("ooni", "follow", '{"n": 1}', None, T0))
    store.save_checkpoint(Checkpoint("ooni", "follow", '{"n": 2}', T0, T0 + HOUR))
    store.save_checkpoint(Checkpoint("ooni", "backfill", "{}", None, T0))
    assert store.load_checkpoint("ooni", "follow") == Checkpoint("ooni", "follow", '{"n": 2}', T0, T0 + HOUR)
    assert store.load_checkpoint("ioda", "follow") is None

    failing = SourceHealth("ooni", HealthState.FAILING, T0, None, None, "HTTP 503", T0 + HOUR, 3, None)
    ok = SourceHealth("ooni", HealthState.OK, T0 + HOUR, T0 + HOUR, T0, None, None, 0, -1.5)
    ioda = SourceHealth("ioda", HealthState.PENDING, None, None, None, None, None)
    store.save_health(failing)
    store.save_health(ioda)
    store.save_health(ok)
    assert store.source_health() == [ioda, ok]


def test_a_reopened_store_sees_everything_and_read_only_sees_the_same(backend: Backend) -> None:
    writer = backend.open()
    writer.write_batch(IngestBatch(source("a"), [IR], points([50.0])))
    writer.close()
    reader = backend.open(read_only=True)
    try:
        assert reader.has_source("a") and reader.points(CONNECTIVITY).values.tolist() == [50.0]
    finally:
        reader.close()


def test_read_only_open_of_an_empty_location_is_a_user_error(backend: Backend) -> None:
    with pytest.raises(UserError, match="no store here yet"):
        backend.open(read_only=True)


@pytest.mark.parametrize("kind", ["clickhouse", "chdb"])
def test_clickhouse_results_equal_duckdb_on_real_data(shared_data: Path, kind: str, tmp_path: Path) -> None:
    """Iran, November 2019 (Monash): ingested and judged on DuckDB and on ClickHouse, every entity,
    series summary, point and alert equal."""
    reason = clickhouse_unavailable() if kind == "clickhouse" else chdb_unavailable()
    if reason:
        pytest.skip(reason)
    from lightsout.detect.run import detect_batch
    from lightsout.ingest import ingest_file

    csv = shared_data / "monash-ip-observatory" / "irn-2019-11-11_gif.csv"
    backend = Backend(kind, tmp_path)
    stores = [Backend("duckdb", tmp_path).open(), backend.open()]
    try:
        for s in stores:
            ingest_file(s, csv)
            detect_batch(s)
        duck, click = stores
        assert click.entities() == duck.entities()
        assert click.series() == duck.series() and len(duck.series()) == 104
        for summary in duck.series(country="IR")[:10]:
            a, b = duck.points(summary.key), click.points(summary.key)
            assert a.times_s.tolist() == b.times_s.tolist() and a.values.tolist() == b.values.tolist()
        assert click.alerts() == duck.alerts() and len(duck.alerts()) > 1000
    finally:
        for s in stores:
            s.close()
        backend.drop()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clickhouse://db.example:9001/obs", ClickHouseLocation("db.example", 9001, "obs")),
        ("clickhouse://localhost", ClickHouseLocation("localhost", 9000, "lightsout")),
        (
            "clickhouse://reader:s%40cret@10.0.0.1/x_1",
            ClickHouseLocation("10.0.0.1", 9000, "x_1", "reader", "s@cret"),
        ),
        ("out/lightsout.duckdb", Path("out/lightsout.duckdb")),
    ],
)
def test_store_locations_are_parsed(text: str, expected: object) -> None:
    assert parse_location(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("postgres://x/y", "unknown store URL"),
        ("clickhouse://h:port/db", "port is not a number"),
        ("clickhouse://h/bad-name", "database name 'bad-name'"),
        ("clickhouse:///db", "no host"),
    ],
)
def test_bad_store_locations_are_user_errors(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_location(text)


def test_a_location_never_prints_its_password() -> None:
    location = parse_location("clickhouse://reader:secret@h:9000/db")
    assert str(location) == "clickhouse://reader@h:9000/db"
    assert "secret" not in repr(location) and "secret" not in str(location)


def external(event_id: str, start_h: int, end_h: int | None, **kwargs: object) -> ExternalEvent:
    fields: dict[str, object] = {
        "source": "ioda",
        "entity_id": "country/IR",
        "entity_name": "Iran",
        "country_code": "IR",
        "scope": Scope.NATIONAL,
        "start_time": T0 + start_h * HOUR,
        "end_time": None if end_h is None else T0 + end_h * HOUR,
        "cause": None,
        "description": None,
        "link": None,
        "datasource": "bgp",
        "score": 12.5,
    }
    fields.update(kwargs)
    return ExternalEvent(event_id, **fields)  # type: ignore[arg-type]


def test_external_events_keep_their_newest_version(store: Store) -> None:
    ongoing = external("ioda:IR:1", 0, None)
    other = external(
        "ioda:AS:2", 5, 6, entity_id="network/AS12880", country_code=None, scope=None, score=None
    )
    store.write_batch(IngestBatch(source("a"), external_events=[ongoing, other]))
    ended = external("ioda:IR:1", 0, 3, description="ended")
    store.write_batch(IngestBatch(source("b"), external_events=[ended]))

    assert store.external_events() == [ended, other]
    assert store.external_events(country="IR") == [ended]
    assert store.external_events(entity_id="network/AS12880") == [other]
    assert store.external_events(since=T0 + 3 * HOUR) == [other]  # ended at 3: not overlapping
    assert store.external_events(until=T0 + 5 * HOUR) == [ended]


def test_file_series_names_the_files_behind_each_series(store: Store) -> None:
    bgp = SeriesKey("network/AS12880", SignalKind.BGP_PREFIXES, "rrc15", 300)
    store.write_batch(IngestBatch(source("a"), [IR, AS12880], points([50.0, 60.0]) + points([7.0], key=bgp)))
    store.write_batch(IngestBatch(source("b"), [], points([5.0, 6.0, 7.0], start=T0 + HOUR)))

    got = store.file_series([CONNECTIVITY])
    assert [(f.sha256, f.first, f.last, f.points) for f in got] == [
        ("a", T0, T0 + HOUR, 2),
        ("b", T0 + HOUR, T0 + 3 * HOUR, 3),
    ]
    assert got[0].signal == SignalKind.CONNECTIVITY_INDEX and got[0].entity_id == "country/IR"
    assert [(f.sha256, f.points) for f in store.file_series([bgp])] == [("a", 1)]
    assert store.file_series([]) == []


@pytest.mark.parametrize("kind", ["clickhouse", "chdb"])
def test_the_rows_of_a_killed_clickhouse_write_are_removed_later(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that never published its generation leaves rows no reader sees; a writer opening
    the store once that generation is old deletes them (here "old" is made "now")."""
    reason = clickhouse_unavailable() if kind == "clickhouse" else chdb_unavailable()
    if reason:
        pytest.skip(reason)
    import time

    from lightsout.store import clickhouse_generations

    backend = Backend(kind, tmp_path)
    try:
        store = backend.open()
        store.write_batch(IngestBatch(source("a"), [IR], points([50.0])))
        broken = IngestBatch(replace(source("b"), records_read="x"), [TEHRAN], points([1.0, 2.0]))  # type: ignore[arg-type]
        with pytest.raises(Exception):  # noqa: B017
            store.write_batch(broken)
        con = store._con  # type: ignore[attr-defined]
        unpublished = "SELECT count() FROM points WHERE gen NOT IN (SELECT gen FROM commits)"
        assert con.query(unpublished) == [(2,)]
        store.close()

        monkeypatch.setattr(clickhouse_generations, "ABANDONED_AFTER_S", 0)
        store = backend.open()
        con = store._con  # type: ignore[attr-defined]
        for _ in range(100):  # ALTER ... DELETE runs in the background
            if con.query(unpublished) == [(0,)]:
                break
            time.sleep(0.1)
        assert con.query(unpublished) == [(0,)]
        assert con.query("SELECT count() FROM entities") == [(1,)]
        assert store.points(CONNECTIVITY).values.tolist() == [50.0] and store.entities() == [IR]
        store.close()
    finally:
        backend.drop()


@pytest.mark.parametrize("kind", ["clickhouse", "chdb"])
def test_a_reader_of_an_older_clickhouse_store_upgrades_it(kind: str, tmp_path: Path) -> None:
    """A store written before series summaries existed (no series_summary table, no marker in
    meta): a read-only open adds the tables and counts the summaries from the points."""
    reason = clickhouse_unavailable() if kind == "clickhouse" else chdb_unavailable()
    if reason:
        pytest.skip(reason)
    backend = Backend(kind, tmp_path)
    try:
        store = backend.open()
        store.write_batch(IngestBatch(source("a"), [IR], points([50.0, 60.0, 40.0])))
        store._con.query("DROP TABLE series_summary")  # type: ignore[attr-defined]
        store._con.query("DROP TABLE meta")  # type: ignore[attr-defined]
        store.close()

        reader = backend.open(read_only=True)
        (summary,) = reader.series()
        assert (summary.key, summary.points, summary.min_value, summary.max_value) == (
            CONNECTIVITY,
            3,
            40.0,
            60.0,
        )
        reader.close()
    finally:
        backend.drop()


def test_an_ingest_killed_in_the_middle_of_its_clickhouse_write_leaves_nothing(
    shared_data: Path, tmp_path: Path
) -> None:
    """`lightsout ingest --db clickhouse://...` killed (SIGKILL) while its generation is begun but
    not published: readers see nothing of the file, and the next run stores it whole."""
    reason = clickhouse_unavailable()
    if reason:
        pytest.skip(reason)
    import os
    import signal
    import subprocess
    import sys
    import time

    csv = shared_data / "monash-ip-observatory" / "usa-2020-08-31_HurrLaura.csv"
    backend = Backend("clickhouse", tmp_path)
    env = {**os.environ, "LIGHTSOUT_DB": str(backend.location)}
    command = [sys.executable, "-m", "lightsout.cli", "ingest", str(csv)]
    try:
        probe = backend.open()  # creates the schema, so that the write can be watched
        con = probe._con  # type: ignore[attr-defined]
        in_progress = "SELECT count() FROM begun WHERE gen NOT IN (SELECT gen FROM commits)"
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while con.query(in_progress) == [(0,)] and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the ingest ended before it could be killed mid-write"
        assert con.query(in_progress) == [(1,)]  # killed with its generation begun, unpublished
        assert probe.sources() == [] and probe.series() == [] and probe.entities() == []
        probe.close()

        assert subprocess.run(command, env=env, capture_output=True, timeout=300).returncode == 0
        store = backend.open(read_only=True)
        reference = Backend("duckdb", tmp_path).open()
        try:
            from lightsout.ingest import ingest_file

            ingest_file(reference, csv)
            assert store.series() == reference.series() and len(store.sources()) == 1
        finally:
            store.close()
            reference.close()
    finally:
        backend.drop()


def _as_older_layout(path: Path, layout: int) -> None:
    """Rewrite a store's points as the layout before series ids (``points`` and ``file_series``
    keyed by their VARCHARs), with its summaries in ``series_summary`` (layout 1) or none (0)."""
    import duckdb

    from lightsout.store.schema import create_table_sql

    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE old AS SELECT s.entity_id, s.signal, s.source, p.bin_start, s.bin_s, p.value, "
        "p.samples FROM points p JOIN series s USING (series_id)"
    )
    con.execute("DROP TABLE points")
    con.execute(
        create_table_sql("points", SignalPoint, ("entity_id", "signal", "source", "bin_s", "bin_start"))
    )
    con.execute("INSERT INTO points SELECT * FROM old")
    con.execute(
        "CREATE TABLE old_files AS SELECT f.sha256, s.entity_id, s.signal, s.source, s.bin_s, f.first, "
        "f.last, f.points FROM file_series f JOIN series s USING (series_id)"
    )
    con.execute("DROP TABLE file_series")
    keyed = ("sha256", "entity_id", "signal", "source", "bin_s")
    con.execute(create_table_sql("file_series", FileSeries, keyed))
    con.execute("INSERT INTO file_series SELECT * FROM old_files")
    if layout == 1:
        con.execute(
            "CREATE TABLE series_summary AS SELECT entity_id, signal, source, bin_s, points, first, last, "
            "min_value, max_value FROM series"
        )
    con.execute("DROP TABLE old")
    con.execute("DROP TABLE old_files")
    con.execute("DROP TABLE series")
    con.close()


@pytest.mark.parametrize("layout", [0, 1])
def test_a_duckdb_store_of_the_older_points_layout_is_read_and_upgraded(
    tmp_path: Path, layout: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store written before series ids (points keyed by their VARCHARs, with or without kept
    summaries): a reader reads it as it is; the first writer rewrites it (saying so, once) and
    every read stays the same; later writes extend and replace as ever."""
    from lightsout.store import open_store

    path = tmp_path / "old.duckdb"
    bgp = SeriesKey("network/AS12880", SignalKind.BGP_PREFIXES, "rrc15", 300)
    store = open_store(path)
    store.write_batch(
        IngestBatch(source("a"), [IR, AS12880], points([50.0, 60.0, 40.0]) + points([7.0], key=bgp))
    )
    before = (
        store.series(),
        store.points(CONNECTIVITY),
        store.points(bgp),
        store.file_series([CONNECTIVITY]),
    )
    store.close()
    _as_older_layout(path, layout)

    reader = open_store(path, read_only=True)
    assert reader.series() == before[0]
    assert reader.points(CONNECTIVITY).values.tolist() == [50.0, 60.0, 40.0]
    assert reader.points(CONNECTIVITY, since=T0 + HOUR).values.tolist() == [60.0, 40.0]
    assert reader.file_series([CONNECTIVITY]) == before[3] and len(before[3]) == 1
    reader.close()
    assert capsys.readouterr().err == ""

    writer = open_store(path)
    assert "upgrading the points table" in capsys.readouterr().err
    assert writer.series() == before[0]
    for got, want in zip((writer.points(CONNECTIVITY), writer.points(bgp)), before[1:3], strict=True):
        assert got.times_s.tolist() == want.times_s.tolist() and got.values.tolist() == want.values.tolist()
    assert writer.file_series([CONNECTIVITY]) == before[3]
    writer.write_batch(IngestBatch(source("b"), [], points([10.0], start=T0 + 3 * HOUR)))
    writer.write_batch(IngestBatch(source("c"), [], points([99.0], start=T0 + HOUR)))
    files = [(f.sha256, f.points) for f in writer.file_series([CONNECTIVITY])]
    assert files == [("a", 3), ("c", 1), ("b", 1)]
    assert writer.points(CONNECTIVITY).values.tolist() == [50.0, 99.0, 40.0, 10.0]
    summary = next(s for s in writer.series() if s.key == CONNECTIVITY)
    assert (summary.points, summary.min_value, summary.max_value, summary.last) == (
        4,
        10.0,
        99.0,
        T0 + 3 * HOUR,
    )
    writer.close()
    open_store(path).close()
    assert capsys.readouterr().err == ""  # upgraded once


def test_one_bin_given_twice_in_one_file_is_stored_once_in_duckdb(tmp_path: Path) -> None:
    """The first value of a bin given twice by one file is kept (as the previous layout's
    ``ON CONFLICT`` insert of the batch kept it); the summary counts the bin once."""
    from lightsout.store import open_store

    store = open_store(tmp_path / "twice.duckdb")
    twice = [*points([50.0, 60.0]), SignalPoint("country/IR", CONNECTIVITY.signal, "monash", T0, 3600, 1.0)]
    store.write_batch(IngestBatch(source("a"), [IR], twice))
    assert store.points(CONNECTIVITY).values.tolist() == [50.0, 60.0]
    (summary,) = store.series()
    assert (summary.points, summary.min_value, summary.max_value) == (2, 50.0, 60.0)
    assert [f.points for f in store.file_series([CONNECTIVITY])] == [2]
    store.close()


def test_overlapping_files_of_real_data_replace_the_bins_they_cover(
    shared_data: Path, tmp_path: Path
) -> None:
    """Monash's Venezuela file (1,469 hourly values, 13 states) cut into two files that overlap by
    a third: stored one after the other, the store holds exactly the whole file's points, once
    each. A third file, a revision of the second with other values, replaces the bins it covers
    and leaves the rest; its series' summaries follow."""
    import csv

    from lightsout.ingest import ingest_file

    original = shared_data / "monash-ip-observatory" / "ven-2019-07-22_gif.csv"
    with original.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    times = sorted({int(r[3]) for r in rows})
    low, high = times[len(times) // 3], times[2 * len(times) // 3]

    def part(name: str, keep: list[list[str]]) -> Path:
        path = tmp_path / name
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *keep])
        return path

    early = part("early.csv", [r for r in rows if int(r[3]) < high])
    late = part("late.csv", [r for r in rows if int(r[3]) >= low])
    revised_rows = [[*r[:7], str(int(r[7]) // 2)] for r in rows if int(r[3]) >= low]
    revised = part("revised.csv", revised_rows)
    # What the store must hold after the revision: the early bins as they were, then the revision.
    after = part("after.csv", [r for r in rows if int(r[3]) < low] + revised_rows)

    store = Backend("duckdb", tmp_path).open()  # the DuckDB layout's write; ClickHouse: generations
    reference = Backend("duckdb", tmp_path / "whole").open()
    reference_after = Backend("duckdb", tmp_path / "after").open()
    try:
        ingest_file(reference, original)
        ingest_file(reference_after, after)
        for path in (early, late, early):  # the third: the same file again, adds nothing
            ingest_file(store, path)
        assert_same_points(store, reference)
        assert len(store.series()) > 1

        ingest_file(store, revised)
        assert_same_points(store, reference_after)
        assert store.series() != reference.series()
    finally:
        store.close()
        reference.close()
        reference_after.close()


def assert_same_points(store: Store, reference: Store) -> None:
    """The same series, summaries and points, bin for bin."""
    assert store.series() == reference.series()
    for summary in reference.series():
        got, want = store.points(summary.key), reference.points(summary.key)
        assert got.times_s.tolist() == want.times_s.tolist()
        assert got.values.tolist() == want.values.tolist()
