"""The regression corpus (tests/fuzz/corpus, written by make_corpus.py from issue 13): every file
that crashed a reader, hung it or was accepted silently is now ingested through the whole
pipeline (reader, bounds, store) with each bad record a skip at its position, or refused with a
one-line error; nothing good around it is lost."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from lightsout.errors import InputError
from lightsout.ingest import ingest_file
from lightsout.model import IngestReport
from lightsout.store import Store

CORPUS = Path(__file__).parent / "corpus"

# file -> (position, words in the skip reason) for each bad record, and the good records kept
MONASH: dict[str, tuple[list[tuple[str, str]], int]] = {
    "time_e_1e20.csv": ([("line 3", "time_e 1e+20 is in the future")], 3),
    "time_e_past_9999.csv": ([("line 3", "is in the future")], 3),
    "time_e_before_1990.csv": ([("line 3", "before 1990")], 3),
    "time_e_future.csv": ([("line 3", "in the future")], 3),
    # two counties at 1e308 in one hour: their region's mean overflowed
    "connectivity_1e308.csv": ([("line 4", "above 100"), ("line 5", "above 100")], 4),
    "connectivity_negative.csv": ([("line 3", "connectivity -5 is below 0")], 3),
    "connectivity_above_100.csv": ([("line 3", "connectivity 250 is above 100")], 3),
    "connectivity_inf.csv": ([("line 3", "not a finite number"), ("line 4", "not a finite number")], 3),
    "name_nul.csv": ([("line 3", "name_1 has control character U+0000")], 2),
    "name_1000_chars.csv": ([("line 3", "name_1 has 1,000 characters (at most 200)")], 2),
    "time_e_utc_negative.csv": ([("line 3", "before 1990"), ("line 4", "before 1990")], 2),
    "timezone_offset_1e10.csv": (
        [("line 3", "timezone_offset 1e+10 is above 14"), ("line 4", "timezone_offset -1e+10 is below -14"),
         ("line 5", "latency_indx -4 is below 0")],
        2,
    ),
    "bago_far_dated.csv": (
        [("line 4", "in the future"), ("line 5", "more than 183 days from the file's median hour"),
         ("line 6", "rtt -3 is below 0")],
        3,
    ),
}

OONI: dict[str, tuple[str, str, int]] = {
    "nested_500.jsonl": ("line 2", "nested more than 64 levels deep", 1),
    "nested_980.jsonl": ("line 2", "nested too deeply", 1),
    "surrogate_test_name.jsonl": ("line 2", "test_name has a lone surrogate", 1),
    "surrogate_input.jsonl": ("line 2", "input has a lone surrogate", 1),
    "start_year_1.jsonl": ("line 2", "measurement_start_time 1-01-01 00:00 is before 1990", 1),
    "start_year_9999.jsonl": ("line 2", "measurement_start_time 9999-12-31 23:59 is in the future", 1),
    "test_name_nul.jsonl": ("line 2", "test_name has control character U+0000", 1),
}


def _ingest(store: Store, path: Path) -> IngestReport:
    return ingest_file(store, path)


@pytest.mark.parametrize("name", sorted(MONASH))
def test_monash_crashers_are_skips_at_their_line(store: Store, name: str) -> None:
    expected, kept_rows = MONASH[name]
    report = _ingest(store, CORPUS / "monash" / name)
    got = [(s.position, s.reason) for s in report.skipped]
    assert len(got) == len(expected), got
    for (position, words), (got_position, reason) in zip(expected, sorted(got), strict=True):
        assert got_position == position and words in reason, (position, words, got_position, reason)
    assert report.records_read == kept_rows + len(expected)
    assert report.points_written > 0
    for series in store.series():
        assert series.first.year >= 1990 and series.last.year <= 2030


def test_far_dated_row_does_not_fill_hours_to_year_9999(store: Store) -> None:
    report = _ingest(store, CORPUS / "monash" / "bago_far_dated.csv")
    # Three good rows in hours 10, 11 and 12 local: three hourly bins per place, nothing more.
    spans = {(s.key.entity_id, s.key.signal): (s.first, s.last, s.points) for s in store.series()}
    assert all(points <= 3 for _, _, points in spans.values()), spans
    assert report.points_written < 30


@pytest.mark.parametrize("name", sorted(OONI))
def test_ooni_crashers_are_skips_at_their_line(store: Store, name: str) -> None:
    position, words, kept = OONI[name]
    report = _ingest(store, CORPUS / "ooni" / name)
    assert [(s.position, words in s.reason) for s in report.skipped] == [(position, True)], report.skipped
    assert report.measurements_written == kept


@pytest.mark.parametrize("name", ["surrogate_network_name.jsonl", "network_name_1000_chars.jsonl"])
def test_unusable_network_names_are_dropped_and_counted(store: Store, name: str) -> None:
    report = _ingest(store, CORPUS / "ooni" / name)
    assert report.measurements_written == 2 and not report.skipped
    assert any("probe_network_name left out" in note for note in report.notes), report.notes
    names = {e.name for e in store.entities()}
    assert not any("\ud800" in n or len(n) > 200 for n in names)


@pytest.mark.parametrize(
    ("folder", "name"),
    [("ooni", "gzip_bomb.jsonl.gz"), ("mrt", "updates.bomb.bz2"), ("mrt", "updates.bomb.gz")],
)
def test_decompression_bombs_stop_at_the_limit(store: Store, folder: str, name: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the streaming MRT reader may stop earlier: the bomb's first bytes are no MRT header
    with pytest.raises(InputError, match=r"expands past 268,435,456 bytes|not an MRT file"):
        _ingest(store, CORPUS / folder / name)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 700, f"peak memory grew {grown_mib:.0f} MiB"
    assert store.sources() == []


def test_every_stored_entity_can_be_fetched_from_the_api(tmp_path: Path) -> None:
    """Names that used to become ids the API could not serve (1,000 characters, NUL, '..') are
    skips; whatever the corpus stores, GET /api/v1/entities/{id} answers it."""
    from urllib.parse import quote

    from fastapi.testclient import TestClient

    from lightsout.api.app import create_app
    from lightsout.store import open_store

    db = tmp_path / "all.duckdb"
    store = open_store(db)
    try:
        for path in sorted((CORPUS / "monash").iterdir()) + sorted((CORPUS / "ooni").glob("*.jsonl")):
            _ingest(store, path)
        dots = (CORPUS / "monash" / "name_nul.csv").read_text(encoding="utf-8").replace("Anzo\x00tegui", "..")
        (tmp_path / "dots.csv").write_text(dots, encoding="utf-8")
        report = _ingest(store, tmp_path / "dots.csv")
        assert [s.reason for s in report.skipped] == ["name_1 '..' is only dots and slashes"]
        ids = [e.entity_id for e in store.entities()]
    finally:
        store.close()
    with TestClient(create_app(db, None)) as client:
        for entity_id in ids:
            response = client.get("/api/v1/entities/" + quote(entity_id, safe="/"))
            assert response.status_code == 200, (entity_id, response.text)
