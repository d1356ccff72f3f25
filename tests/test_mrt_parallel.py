"""Many MRT files at once: one worker process per collector gives the same store as one process."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from lightsout.errors import InputError
from lightsout.ingest import check_parsed, ingest_file, sha256_of, source_record
from lightsout.ingest_parallel import StageTimes, _next, ingest_mrt_files
from lightsout.model import Entity, IngestReport, SignalKind, SignalPoint
from lightsout.sources.bounds import drop_bad_columns, drop_bad_points
from lightsout.sources.columns import PointColumns
from lightsout.sources.mrt import read_mrt
from lightsout.store import IngestBatch, Store, open_store
from lightsout.store.schema import arrow_table, columns_table, entity_columns

COLLECTORS = Path("mrt") / "collectors"
FILES = [
    Path("mrt") / "ripe-ris" / "rrc15" / "2010.02" / "updates.20100227.1600.gz",
    COLLECTORS / "route-views.jinx" / "routeviews.route-views.jinx.updates.1427846400.bz2",
    COLLECTORS / "rrc06" / "ris.rrc06.updates.1427846400.gz",
    COLLECTORS / "rrc06" / "ris.rrc06.updates.1401488100.gz",  # given out of time order on purpose
]


def _stored(path: Path) -> dict[str, set[tuple[object, ...]]]:
    """Every stored point (with its series' key), series summary, entity, carried table and per-file
    count of a closed DuckDB store (layout of store.duckdb_points), read at once: 24k
    ``Store.points`` calls took ~100 s of this test."""
    series = "entity_id, signal, source, bin_s"
    queries = {
        "points": f"SELECT {series}, epoch(bin_start), value, samples "
        "FROM points JOIN series USING (series_id)",
        "series": f"SELECT {series}, points, first, last, min_value, max_value FROM series",
        "entities": "SELECT * FROM entities",
        "carried": "SELECT key, as_of, md5(payload) FROM reader_state",
        "files": "SELECT sha256, records_read, records_skipped, points_written FROM sources",
    }
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: set(map(tuple, con.execute(sql).fetchall())) for name, sql in queries.items()}
    finally:
        con.close()


def _ingest_as_objects(store: Store, path: Path) -> None:
    """A file written as rows, a SignalPoint and an Entity object each: how every MRT ingest wrote
    before the point columns (what the columns must store the same)."""
    parsed = check_parsed(read_mrt(path, load_carry=store.load_carry), path)
    assert parsed.point_columns is None
    source = source_record(path, sha256_of(path), parsed)
    store.write_batch(IngestBatch(source, parsed.entities, parsed.points, carry=parsed.carry))


def test_parallel_ingest_equals_one_process(shared_data: Path, tmp_path: Path) -> None:
    """Every stored value of the parallel ingest (workers, tables handed over in memory) equals
    one process's `lightsout ingest` and the same files written as objects (rows)."""
    paths = [shared_data / f for f in FILES]
    one = open_store(tmp_path / "one.duckdb")
    rows = open_store(tmp_path / "rows.duckdb")
    many = open_store(tmp_path / "many.duckdb")
    try:
        # one process, in time order per collector (what the workers do)
        for path in [paths[0], paths[1], paths[3], paths[2]]:
            ingest_file(one, path)
            _ingest_as_objects(rows, path)
        times = StageTimes()
        results = list(ingest_mrt_files(many, paths, jobs=2, times=times))
        assert all(isinstance(r, IngestReport) for r in results)
        reports = {Path(r.path).name: r for r in results if isinstance(r, IngestReport)}
        assert len(reports) == 4 and not any(r.already_ingested for r in reports.values())
        # rrc06: the 2014 file first (its tables), then the 2015 one: far apart, so a gap
        assert any(n.startswith("gap: ") for n in reports["ris.rrc06.updates.1427846400.gz"].notes)
        # where the CPU went, as the benchmark prints it: both workers read and reported
        assert times.workers == 2 and times.worker["read (read_mrt)"] > 0 and times.parent["store writes"] > 0
        again = list(ingest_mrt_files(many, paths, jobs=2))
        assert all(isinstance(r, IngestReport) and r.already_ingested for r in again)
    finally:
        one.close()
        rows.close()
        many.close()
    sequential, parallel = _stored(tmp_path / "one.duckdb"), _stored(tmp_path / "many.duckdb")
    objects = _stored(tmp_path / "rows.duckdb")
    assert len(parallel["points"]) > 5_000 and len(parallel["carried"]) == 3
    assert len(parallel["entities"]) > 500
    for table in ("points", "series", "entities", "carried", "files"):
        assert parallel[table] == sequential[table] == objects[table], table


def test_unreadable_file_is_an_error_and_the_rest_is_ingested(shared_data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "rrc99" / "updates.20200101.0000"
    bad.parent.mkdir()
    bad.write_bytes(b"this is not MRT data at all")
    store = open_store(tmp_path / "s.duckdb")
    try:
        results = list(ingest_mrt_files(store, [bad, shared_data / FILES[2]], jobs=2))
    finally:
        store.close()
    errors = [r for r in results if isinstance(r, InputError)]
    assert len(errors) == 1 and "not an MRT file" in str(errors[0])
    assert sum(1 for r in results if isinstance(r, IngestReport) and r.points_written) == 1


def test_columns_as_the_store_makes_them(shared_data: Path) -> None:
    """The workers' fast entity columns equal store.schema.arrow_table's, on real entities (their
    point columns: test_reader_columns_are_its_points)."""
    parsed = read_mrt(shared_data / FILES[3])
    assert len(parsed.entities) > 200
    assert entity_columns(parsed.entities).equals(arrow_table(Entity, parsed.entities))
    assert entity_columns([]).num_rows == 0


def test_reader_columns_are_its_points(shared_data: Path) -> None:
    """read_mrt(columns=True), what the workers send: the same points in the same order as the
    objects, and as Arrow the table store.schema.arrow_table makes of those objects."""
    path = shared_data / FILES[3]
    objects, columns = read_mrt(path).points, read_mrt(path, columns=True)
    assert columns.points == [] and columns.point_columns is not None and len(objects) > 500
    assert columns.point_columns.points() == objects
    assert columns_table(columns.point_columns).equals(arrow_table(SignalPoint, objects))


def test_bounds_on_columns_as_on_points() -> None:
    """drop_bad_columns keeps and reports exactly what drop_bad_points does with the objects."""
    now = int(datetime.now(UTC).timestamp())
    ok = 1_401_488_100
    starts = [ok, ok, 600_000_000, ok, ok, now - 600, now + 3 * 86_400]  # 1989, recent, in 3 days
    columns = PointColumns(
        "rrc06",
        300,
        ["network/AS3333", "country/NL", "network/AS1\x00", "x" * 301],
        np.array([0, 1, 0, 2, 3, 1, 0], dtype=np.int64),
        [SignalKind.BGP_PREFIXES, SignalKind.BGP_SLASH24S],
        np.array([0, 1, 1, 0, 1, 0, 1], dtype=np.int64),
        np.array(starts, dtype=np.int64),
        np.array([5.0, float("nan"), 2.0, 1.0, 7.0, 3.0, 4.0]),
        np.full(7, 2, dtype=np.int64),
    )
    kept, skips = drop_bad_columns(columns, "f.mrt")
    kept_points, point_skips = drop_bad_points(columns.points(), "f.mrt")
    assert kept.points() == kept_points and len(kept_points) == 2 and skips == point_skips
    assert len(skips) == 5 and drop_bad_columns(kept, "f.mrt")[0] is kept


def test_clean_records_screen_as_record_by_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """clean_records' screen of whole columns (bounds._suspects) keeps, cleans and drops exactly
    what the record-by-record path does: for names and ids with a tab, a zero-width space (not
    printable, allowed), a control character, a lone surrogate, too many characters, non-ASCII."""
    from lightsout.model import EntityKind
    from lightsout.sources import bounds

    def network(asn: int, name: str, entity_id: str | None = None) -> Entity:
        ident = entity_id or f"network/AS{asn}"
        return Entity(ident, EntityKind.NETWORK, f"AS{asn}", name, None, None, asn)

    good = [network(1, "Telefônica Brasil"), network(2, "ACME\tNet"), network(3, "Zero\u200bWidth")]
    odd = [network(4, "Bad\x07Bell"), network(5, "Lone \ud800"), network(6, "n" * 201),
           network(7, "ok", "network/AS7\x00"), network(8, "ok", "network/" + "8" * 300)]  # fmt: skip
    for records in [good, *([*good[:1], o] for o in odd), good[:2] + odd]:
        screened = bounds.clean_records(records, "f.mrt")
        with monkeypatch.context() as patched:
            patched.setattr(bounds, "_suspects", lambda records: None)  # every record looked at
            exact = bounds.clean_records(records, "f.mrt")
        assert screened == exact
    printable = good[:1] * 3  # non-ASCII but printable: the screen passes them as they are
    assert bounds.clean_records(printable, "f.mrt")[0] is printable
    assert bounds.clean_records(odd, "f.mrt")[2] == 3 and len(bounds.clean_records(odd, "f.mrt")[1]) == 2


def test_cli_ingest_with_jobs(shared_data: Path, tmp_path: Path) -> None:
    """`lightsout ingest --jobs 2`: a report line per file written, one error line for the broken
    one (exit status 1), and a second run adds nothing."""
    bad = tmp_path / "rrc99" / "updates.20200101.0000.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"\x1f\x8b this is not gzip")
    files = [str(shared_data / f) for f in FILES[2:]] + [str(bad)]
    env = {**os.environ, "LIGHTSOUT_DB": str(tmp_path / "db.duckdb"), "COLUMNS": "300"}
    argv = [sys.executable, "-m", "lightsout.cli", "ingest", "--jobs", "2", *files]
    first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 1
    assert sum("mrt: " in line and "signal points" in line for line in first.stdout.splitlines()) == 2
    errors = [line for line in first.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0]
    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert again.stdout.count("already in the store") == 2


def test_a_worker_that_dies_is_an_error_not_a_hang() -> None:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=os._exit, args=(3,))
    worker.start()
    worker.join()
    with pytest.raises(RuntimeError, match=r"died \(exit codes \[3\]\)"):
        _next(results, [worker])


def test_one_process_continues_the_tables_it_holds(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lightsout ingest` of a collector's next file in the same process continues the tables it
    holds (read_mrt(hand_over=True): the store gives back the same bytes), not rebuilt from the
    stored bytes; a carry that is not the held one is rebuilt; both store the same."""
    from lightsout.sources.mrt import RouteTables

    loads: list[int] = []
    load = RouteTables.load.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(RouteTables, "load", classmethod(lambda cls, p: loads.append(len(p)) or load(cls, p)))
    first, second = shared_data / FILES[3], shared_data / FILES[2]  # rrc06 2014, then 2015
    held, rebuilt = open_store(tmp_path / "held.duckdb"), open_store(tmp_path / "rebuilt.duckdb")
    try:
        ingest_file(held, first)
        ingest_file(held, second)
        assert loads == []
        _ingest_as_objects(rebuilt, first)  # (no hand-over: the tables of `second` stay held)
        _ingest_as_objects(rebuilt, second)
        assert len(loads) == 1
    finally:
        held.close()
        rebuilt.close()
    assert _stored(tmp_path / "held.duckdb") == _stored(tmp_path / "rebuilt.duckdb")
