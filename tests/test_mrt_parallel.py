"""Many MRT files at once: one worker process per collector gives the same store as one process."""

from __future__ import annotations

from pathlib import Path

from lightsout.errors import InputError
from lightsout.ingest import ingest_file, ingest_mrt_files
from lightsout.model import IngestReport
from lightsout.store import Store, open_store

COLLECTORS = Path("mrt") / "collectors"
FILES = [
    Path("mrt") / "ripe-ris" / "rrc15" / "2010.02" / "updates.20100227.1600.gz",
    COLLECTORS / "route-views.jinx" / "routeviews.route-views.jinx.updates.1427846400.bz2",
    COLLECTORS / "rrc06" / "ris.rrc06.updates.1427846400.gz",
    COLLECTORS / "rrc06" / "ris.rrc06.updates.1401488100.gz",  # given out of time order on purpose
]


def _everything(store: Store) -> set[tuple[str, str, str, int, float]]:
    rows = set()
    for summary in store.series():
        series = store.points(summary.key)
        for t, v in zip(series.times_s, series.values, strict=True):
            rows.add((summary.key.entity_id, summary.key.signal.value, summary.key.source, int(t), float(v)))
    return rows


def test_parallel_ingest_equals_one_process(shared_data: Path, tmp_path: Path) -> None:
    paths = [shared_data / f for f in FILES]
    one = open_store(tmp_path / "one.duckdb")
    many = open_store(tmp_path / "many.duckdb")
    try:
        # one process, in time order per collector (what the workers do)
        for path in [paths[0], paths[1], paths[3], paths[2]]:
            ingest_file(one, path)
        results = list(ingest_mrt_files(many, paths, jobs=2))
        assert all(isinstance(r, IngestReport) for r in results)
        reports = {Path(r.path).name: r for r in results if isinstance(r, IngestReport)}
        assert len(reports) == 4 and not any(r.already_ingested for r in reports.values())
        # rrc06: the 2014 file first (its tables), then the 2015 one: far apart, so a gap
        assert any(n.startswith("gap: ") for n in reports["ris.rrc06.updates.1427846400.gz"].notes)
        assert _everything(one) == _everything(many)
        assert len(_everything(many)) > 5_000
        again = list(ingest_mrt_files(many, paths, jobs=2))
        assert all(isinstance(r, IngestReport) and r.already_ingested for r in again)
    finally:
        one.close()
        many.close()


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
