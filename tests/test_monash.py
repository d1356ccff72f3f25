"""The Monash IP Observatory reader and the ingest pipeline, on the real files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from lightsout.errors import InputError
from lightsout.ingest import ingest_file
from lightsout.model import EntityKind, SeriesKey, SignalKind
from lightsout.sources.monash import read_monash
from lightsout.store import Store

MONASH = "monash-ip-observatory"


def _key(entity_id: str, signal: SignalKind = SignalKind.CONNECTIVITY_INDEX, bin_s: int = 3600) -> SeriesKey:
    return SeriesKey(entity_id, signal, "monash", bin_s)


def test_iran_provinces_counties_and_local_time(shared_data: Path, store: Store) -> None:
    report = ingest_file(store, shared_data / MONASH / "irn-2019-11-11_gif.csv")
    assert report.records_read == 16_279  # the README's record count
    assert report.skipped == []
    regions = store.entities(EntityKind.REGION, "IR")
    assert len(regions) == 30
    assert all(not r.code.startswith("IR-x-") for r in regions)  # every province has its ISO 3166-2 code
    assert len(store.entities(EntityKind.COUNTY, "IR")) == 73
    tehran = store.points(_key("region/IR-23"))
    assert tehran.times_s.size == 223  # 11 Nov 00:00 .. 20 Nov 06:00 local, hourly
    # "11-Nov-2019 00:00:00" Tehran time (UTC+03:30 in November 2019) is 10 Nov 20:30 UTC.
    assert datetime.fromtimestamp(int(tehran.times_s[0]), UTC) == datetime(2019, 11, 10, 20, 30, tzinfo=UTC)
    # Province = mean of its counties: Ardebil has one county, so it equals the file's value.
    ardebil = store.points(_key("region/IR-24"))
    assert ardebil.values[0] == 100.0
    national = store.points(_key("country/IR"))
    before = national.values[national.times_s < datetime(2019, 11, 16, 12, tzinfo=UTC).timestamp()]
    after = national.values[national.times_s >= datetime(2019, 11, 17, tzinfo=UTC).timestamp()]
    assert before.mean() > 90
    assert after.max() < 25
    # The :30 phase is right. Oracle saw ~75% of its traceroute targets stop responding within
    # minutes of 16:45 UTC on 16 Nov (tests/ground_truth/iran-2019-11.yaml). Read as Tehran time,
    # the national index first falls in the hour 16:30-17:30 UTC that holds 16:45 (the file's
    # "20:00"), then collapses; read as UTC, the fall would begin 3.5 hours after Oracle's collapse.
    at = {
        datetime.fromtimestamp(int(t), UTC).strftime("%d %H:%M"): v
        for t, v in zip(national.times_s, national.values, strict=True)
    }
    assert at["16 15:30"] > 97 > at["16 16:30"] > 90 > at["16 17:30"] > 50 > 15 > at["16 18:30"]


def test_reingest_adds_nothing(shared_data: Path, store: Store, tmp_path: Path) -> None:
    path = shared_data / MONASH / "ven-2019-07-22_gif.csv"
    first = ingest_file(store, path)
    count = len(store.series())
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())
    again = ingest_file(store, copy)
    assert first.points_written > 0
    assert again.already_ingested and again.points_written == 0
    assert len(store.series()) == count
    assert len(store.sources()) == 1


def test_venezuela_regions_and_national_coverage(shared_data: Path) -> None:
    parsed = read_monash(shared_data / MONASH / "ven-2019-07-22_gif.csv")
    regions = {e.code for e in parsed.entities if e.kind == EntityKind.REGION}
    assert len(regions) == 13 and "VE-A" in regions  # Distrito Capital
    # 13 of Venezuela's 25 ISO subdivisions: enough for a national mean.
    assert any(p.entity_id == "country/VE" for p in parsed.points)


def test_laura_counties_rescaled_and_no_national_series(shared_data: Path) -> None:
    parsed = read_monash(shared_data / MONASH / "usa-2020-08-31_HurrLaura.csv")
    assert parsed.records_read == 35_856
    counties = {p.entity_id for p in parsed.points if p.entity_id.startswith("county/")}
    # The README counts 200 county names; 16 names (Jefferson, ...) recur in several states.
    assert len(counties) == 216
    assert parsed.skipped == []
    assert max(p.value for p in parsed.points) == 100.0  # the 0..10 index rescaled to 0..100
    assert not any(p.entity_id == "country/US" for p in parsed.points)
    assert any("4 of its 57" in note for note in parsed.notes)


def test_latency_index_offset_per_row(shared_data: Path) -> None:
    parsed = read_monash(shared_data / MONASH / "ukr-2022-01-18_border-regions.csv")
    kursk = sorted(p.bin_start for p in parsed.points if p.entity_id == "region/RU-KRS")
    # "01-Dec-2021 06:00:00" local with timezone_offset 3 -> 03:00 UTC
    assert kursk[0] == datetime(2021, 12, 1, 3, tzinfo=UTC)
    assert {p.bin_s for p in parsed.points} == {10800}
    assert {p.signal for p in parsed.points} == {SignalKind.LATENCY_INDEX}


def test_bago_raw_replies_become_hourly_counts(shared_data: Path, store: Store) -> None:
    report = ingest_file(store, shared_data / MONASH / "mmr-2021-04-09_Bago.csv")
    assert report.records_read == 12_239
    counts = store.points(_key("region/MM-02", SignalKind.RESPONSIVE_ADDRESSES))
    # Every hour of the span is present; silent hours are measured zeros.
    assert np.all(np.diff(counts.times_s) == 3600)
    assert (counts.values == 0).sum() > 100
    # Replies in the hour 2021-02-19 10:00-11:00 local (04:30 UTC): recount from the CSV.
    import csv

    with (shared_data / MONASH / "mmr-2021-04-09_Bago.csv").open() as handle:
        expected = {
            r["ip_hash"]
            for r in csv.DictReader(handle)
            if r["time_local_str"].startswith("2021-02-19 10:") and r["name_1"] == "Bago"
        }
    at = datetime(2021, 2, 19, 3, 30, tzinfo=UTC).timestamp()
    assert counts.values[counts.times_s == at][0] == len(expected)
    networks = store.entities(EntityKind.NETWORK, "MM")
    assert any("Frontiir" in n.name for n in networks)


def test_bad_rows_are_skipped_with_line_numbers(shared_data: Path, tmp_path: Path) -> None:
    lines = (shared_data / MONASH / "ven-2019-07-22_gif.csv").read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace("VEN", "XXX", 1)
    lines[9] = lines[9].rsplit(",", 1)[0] + ",high"
    lines[12] = "VEN,2"
    bad = tmp_path / "ven.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = read_monash(bad)
    reasons = {(s.position, s.reason) for s in parsed.skipped}
    assert reasons == {
        ("line 6", "unknown country code 'XXX'"),
        ("line 10", "connectivity is not a number: 'high'"),
        ("line 13", "2 fields, header has 8"),
        # In the real file: Táchira at 2019-07-22 18:00 local is -1, outside the 0..100 index.
        ("line 1311", "connectivity -1 is below 0"),
    }
    assert parsed.records_read == 1469
    leaf = [p for p in parsed.points if p.entity_id.startswith("region/")]
    assert len(leaf) == 1469 - 4  # every good row kept


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("a,b,c\n1,2,3\n", "not a Monash IP Observatory layout"),
        ("iso,id_1,name_1,time_e,time_e_str,lat,lon,connectivity\n", "no data rows"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        read_monash(path) if content else ingest_file_error(path)
    assert str(path) in str(info.value)


def ingest_file_error(path: Path) -> None:
    from lightsout.ingest import check_input_file

    check_input_file(path)
