"""Verdicts judged once at ingest and stored (lightsout.apps.stored), and the streamed OONI reader
(lightsout.sources.ooni.OoniStream), on the real measurements in ../shared/data/ooni."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

from lightsout.apps.aggregate import blocking_events, make_events
from lightsout.apps.observations import SUPPORTED_TESTS
from lightsout.apps.stored import analysis_version, from_stored, rederive, stored_verdicts, to_stored
from lightsout.apps.verdict import Verdict, analyse
from lightsout.errors import InputError
from lightsout.ingest import ingest_file
from lightsout.sources import ooni
from lightsout.store import MeasurementFilter, Store
from test_ooni_ingest import measurement_files

ALL = MeasurementFilter(limit=1_000_000)


def _recomputed(store: Store) -> dict[str, Verdict]:
    return {m.measurement_id: analyse(m) for m in store.measurements(ALL)}


def _day_file(shared_data: Path, path: Path, copies: int = 1, only_small: bool = False) -> Path:
    """A JSONL.gz day file of the real measurements, each copy with its own measurement_uid."""
    records = [json.loads(p.read_bytes()) for p in measurement_files(shared_data)]
    if only_small:
        records = [r for r in records if len(json.dumps(r)) < 8000]
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for copy in range(copies):
            for index, record in enumerate(records):
                out.write(json.dumps({**record, "measurement_uid": f"copy{copy}-{index}"}) + "\n")
    return path


def _samples(shared_data: Path, path: Path, files: int | None = None) -> Path:
    """The real measurements as they are, one per line of a JSONL file (one ingest, not 51)."""
    chosen = measurement_files(shared_data)[:files]
    path.write_text("".join(json.dumps(json.loads(p.read_bytes())) + "\n" for p in chosen))
    return path


def test_stored_verdicts_equal_verdicts_recomputed_from_the_stored_measurements(
    shared_data: Path, store: Store, tmp_path: Path
) -> None:
    ingest_file(store, _samples(shared_data, tmp_path / "samples.jsonl"))
    ingest_file(store, shared_data / "ooni" / "fastpath" / "report1.json.pretty")  # one document
    analysis = analysis_version()
    stored = {v.measurement_id: from_stored(v) for v in store.verdicts(ALL, analysis)}
    recomputed = _recomputed(store)
    # 51 files: report2blocked.json has report2.json's bytes, report1.json.pretty is report1.json
    assert len(recomputed) == 49 and len(store.sources()) == 2
    assert stored == recomputed
    assert store.unjudged(ALL, analysis) == []
    # Every status the analysis gives occurs, so the round trip covers them all.
    assert {v.status.value for v in stored.values()} == {"accessible", "blocked", "down", "inconclusive"}
    assert blocking_events(store) == make_events(recomputed.values())


def test_a_day_file_is_streamed_in_chunks_into_one_write_with_its_verdicts(
    shared_data: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ooni, "CHUNK_MEASUREMENTS", 7)
    day = _day_file(shared_data, tmp_path / "2024-03-01.jsonl.gz", copies=2)
    report = ingest_file(store, day)
    assert (report.format, report.records_read, report.measurements_written) == ("ooni-jsonl-gzip", 102, 102)
    assert report.skipped == [] and len(store.sources()) == 1
    stored = {v.measurement_id: from_stored(v) for v in store.verdicts(ALL, analysis_version())}
    assert len(stored) == 102 and stored == _recomputed(store)
    assert ingest_file(store, day).already_ingested


def test_bad_lines_are_skipped_with_their_line_and_counted(
    shared_data: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ooni, "CHUNK_MEASUREMENTS", 5)
    monkeypatch.setattr(ooni, "MAX_LISTED_SKIPS", 2)
    good = (shared_data / "ooni" / "fastpath" / "report1.json").read_text().strip()
    lines = [good, "{not json", good.replace('"report_id"', '"rep"', 1), "[1]", "null", good]
    path = tmp_path / "day.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = ingest_file(store, path)
    # report1's id is the hash of its content: line 6 repeats line 1.
    assert [(s.position, s.reason[:22]) for s in report.skipped] == [
        ("line 2", "not valid JSON: Expect"), ("line 4, record 1", "a JSON number, not an "),
    ]
    assert report.records_read == 6 and report.measurements_written == 2
    assert store.sources()[0].records_skipped == 4  # two listed, two counted past the bound
    assert any("2 more record(s) skipped" in note for note in report.notes)


def test_a_file_that_fails_half_way_leaves_nothing(
    shared_data: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ooni, "CHUNK_MEASUREMENTS", 5)
    day = tmp_path / "day.jsonl"
    with gzip.open(_day_file(shared_data, tmp_path / "day.jsonl.gz", copies=2)) as packed:
        day.write_bytes(packed.read())
    monkeypatch.setenv("LIGHTSOUT_MAX_DECOMPRESSED_BYTES", str(day.stat().st_size // 2))
    with pytest.raises(InputError, match="expands past"):
        ingest_file(store, day)
    assert store.sources() == [] and store.measurements(ALL) == [] and store.verdicts(ALL, "") == []


def test_verdicts_of_another_analysis_are_judged_on_read_then_rederived(
    shared_data: Path, store: Store, tmp_path: Path
) -> None:
    ingest_file(store, _samples(shared_data, tmp_path / "samples.jsonl", 12))
    right = _recomputed(store)
    # Verdicts stored by another (older) analysis, all saying "blocked by DNS": never shown.
    wrong = [replace(to_stored(v, "0-older"), status="blocked", method="dns") for v in right.values()]
    store.save_verdicts(wrong)
    assert len(store.unjudged(ALL, analysis_version())) == len(right)
    assert {v.measurement_id: v for v in stored_verdicts(store)} == {
        k: v for k, v in right.items() if v.start is not None and v.test_name in SUPPORTED_TESTS
    }
    assert rederive(store, batch=5) == len(right)
    assert rederive(store) == 0
    assert {v.measurement_id: from_stored(v) for v in store.verdicts(ALL, analysis_version())} == right


def _peak_while_streaming(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        stream = ooni.OoniStream(path)
        count = sum(len(chunk) for chunk in stream)
        stream.finish()
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_whatever_the_size_of_the_day_file(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ooni, "CHUNK_MEASUREMENTS", 10)
    small = _day_file(shared_data, tmp_path / "small.jsonl.gz", copies=2, only_small=True)
    large = _day_file(shared_data, tmp_path / "large.jsonl.gz", copies=8, only_small=True)
    n_small, peak_small = _peak_while_streaming(small)
    n_large, peak_large = _peak_while_streaming(large)
    assert n_large == 4 * n_small > 150
    # Four times the measurements, about the same peak (the ids' digests are all that grows),
    # and far less than the file holds.
    assert peak_large < peak_small * 1.25 + 100 * n_large, (peak_small, peak_large)
    with gzip.open(large) as unpacked:
        assert peak_large < len(unpacked.read()) / 4


def test_a_killed_streamed_write_shows_nothing_and_the_next_run_writes_it_whole(
    shared_data: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ooni, "CHUNK_MEASUREMENTS", 5)
    day = _samples(shared_data, tmp_path / "samples.jsonl", 30)
    # Killed after some chunks were committed: the failure's clean-up never runs.
    monkeypatch.setattr(type(store), "_discard_pending", lambda self, sha: None)
    monkeypatch.setenv("LIGHTSOUT_MAX_DECOMPRESSED_BYTES", str(day.stat().st_size * 2 // 3))
    with pytest.raises(InputError):
        ingest_file(store, day)
    assert store.measurements(ALL) == [] and store.verdicts(ALL, analysis_version()) == []
    assert store.unjudged(ALL, analysis_version()) == [] and store.sources() == []

    monkeypatch.delenv("LIGHTSOUT_MAX_DECOMPRESSED_BYTES")
    written = ingest_file(store, day).measurements_written  # 30 lines, two of them repeats
    stored = {v.measurement_id: from_stored(v) for v in store.verdicts(ALL, analysis_version())}
    assert len(stored) == written == 28 and stored == _recomputed(store)


def test_lightsout_blocking_reanalyse_stores_the_verdicts_of_the_running_analysis(
    shared_data: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from lightsout.cli.blocking import blocking
    from lightsout.store import open_store

    db = tmp_path / "store.duckdb"
    store = open_store(db)
    try:
        ingest_file(store, _samples(shared_data, tmp_path / "samples.jsonl", 8))
        right = _recomputed(store)
        store.save_verdicts([replace(to_stored(v, "0-older"), status="down") for v in right.values()])
    finally:
        store.close()
    result = CliRunner().invoke(blocking, ["--db", str(db), "--reanalyse", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert f"{len(right)} measurement(s) judged again and stored" in result.output
    store = open_store(db, read_only=True)
    try:
        assert {v.measurement_id: from_stored(v) for v in store.verdicts(ALL, analysis_version())} == right
    finally:
        store.close()
