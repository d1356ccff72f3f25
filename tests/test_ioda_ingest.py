"""IODA's signals/raw responses and dashboard CSV exports, on real data: Iraq's August 2023 exam
shutdowns (../shared/data/ioda) and the recorded API samples (../shared/data/api-samples/ioda).

No real dashboard CSV export is in the shared data, so the CSV tests write one from the real Iraq
response exactly the way IODA's dashboard does (ioda-ui ``handleCSVDownload``: Highcharts
``getCSV``, quoted header, ``YYYY-MM-DD HH:MM:SS`` times, empty cells for missing points, values
``100 * v / max`` in normalized mode) and check that it reads back to the response's values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lightsout.errors import InputError
from lightsout.ingest import InputFormat, guess_format, ingest_file
from lightsout.model import EntityKind, SeriesKey, SignalKind
from lightsout.sources.ioda import read_ioda
from lightsout.sources.ioda_csv import SOURCE_NORMALIZED
from lightsout.store import Store

IRAQ = "ioda/iraq-2023-08-exams/signals-raw-country-IQ-2023-08-20_2023-08-30.json"
SAMPLES = "api-samples/ioda/recorded"
FIVE_MIN = 300


def _iraq(shared_data: Path) -> dict[str, Any]:
    with (shared_data / IRAQ).open() as handle:
        document: dict[str, Any] = json.load(handle)
    return document


def test_iraq_response_all_five_signals(shared_data: Path, store: Store) -> None:
    path = shared_data / IRAQ
    assert guess_format(path) == InputFormat.IODA
    report = ingest_file(store, path)
    assert report.format == "ioda-signals"
    assert report.records_read == 5 and report.skipped == []
    raw = {s["datasource"]: s["values"] for s in _iraq(shared_data)["data"][0]}
    kinds = {
        "bgp": SignalKind.BGP_SLASH24S,
        "ping-slash24": SignalKind.PROBING_UP_SLASH24S,
        "merit-nt": SignalKind.TELESCOPE_UNIQUE_SOURCES,
        "gtr": SignalKind.GOOGLE_TRAFFIC,
        "gtr-norm": SignalKind.GOOGLE_TRAFFIC_NORMALISED,
    }
    start = datetime(2023, 8, 20, 1, tzinfo=UTC).timestamp()
    for datasource, kind in kinds.items():
        series = store.points(SeriesKey("country/IQ", kind, "ioda", FIVE_MIN))
        values = raw[datasource]
        present = [i for i, v in enumerate(values) if v is not None]
        assert series.times_s.size == len(present), datasource
        assert np.array_equal(series.times_s, start + FIVE_MIN * np.array(present))
        assert np.array_equal(series.values, np.array([values[i] for i in present], dtype=float))
    # Google's raw series has 2,440 nulls of 2,928 bins: gaps, never zeros.
    gtr = store.points(SeriesKey("country/IQ", SignalKind.GOOGLE_TRAFFIC, "ioda", FIVE_MIN))
    assert gtr.times_s.size == 2928 - 2440
    assert any("2,440 null values" in note for note in report.notes)
    # The exam shutdown of 21 August, 01:00-05:00 UTC, is in the probing series as stored.
    probing = store.points(SeriesKey("country/IQ", SignalKind.PROBING_UP_SLASH24S, "ioda", FIVE_MIN))
    t = probing.times_s
    cut = probing.values[
        (t >= datetime(2023, 8, 21, 2, tzinfo=UTC).timestamp())
        & (t < datetime(2023, 8, 21, 4, tzinfo=UTC).timestamp())
    ]
    before = probing.values[
        (t >= datetime(2023, 8, 20, 20, tzinfo=UTC).timestamp())
        & (t < datetime(2023, 8, 21, tzinfo=UTC).timestamp())
    ]
    assert cut.mean() < 0.5 * before.mean()
    entity = store.entity("country/IQ")
    assert entity is not None and entity.name == "Iraq"
    # Re-ingesting adds nothing.
    again = ingest_file(store, path)
    assert again.already_ingested and len(store.sources()) == 1


def test_recorded_samples_countries_regions_asn(shared_data: Path, store: Store) -> None:
    for name in (
        "country-bgp",
        "country-ping-slash24",
        "country-merit-nt",
        "nz-gtr-norm",
        "asn-bgp",
        "region-bgp",
    ):
        report = ingest_file(store, shared_data / SAMPLES / f"{name}.json")
        assert report.skipped == [], name
    # step 1800 > nativeStep 300: six native bins averaged into each stored one.
    et = store.points(SeriesKey("country/ET", SignalKind.BGP_SLASH24S, "ioda", 1800))
    assert et.values.tolist() == [4648, 4562.666666666667, 4605.333333333333, 4648]
    assert datetime.fromtimestamp(int(et.times_s[0]), UTC) == datetime.fromtimestamp(1791374400, UTC)
    nz = store.points(SeriesKey("country/NZ", SignalKind.GOOGLE_TRAFFIC_NORMALISED, "ioda", 1800))
    assert nz.values.tolist() == [1, 0.27939953250038435]
    asn = store.entity("network/AS9500")
    assert asn is not None and asn.asn == 9500 and asn.name == "AS9500 (VODAFONE-TRANSIT-AS)"
    assert (
        store.points(SeriesKey("network/AS9500", SignalKind.BGP_SLASH24S, "ioda", 1800)).values.tolist()
        == [3349] * 4
    )
    # IODA region 3046 "Manawatu-Wanganui" is ISO 3166-2 NZ-MWT (Manawatū-Whanganui); 3047
    # "Gisborne District" is NZ-GIS.
    regions = {e.code: e for e in store.entities(EntityKind.REGION, "NZ")}
    assert set(regions) == {"NZ-MWT", "NZ-GIS"}
    assert regions["NZ-MWT"].parent_id == "country/NZ"
    assert (
        store.points(SeriesKey("region/NZ-GIS", SignalKind.BGP_SLASH24S, "ioda", 1800)).values.tolist()
        == [307] * 4
    )


def test_damaged_series_skipped_with_position_rest_kept(shared_data: Path, tmp_path: Path) -> None:
    document = json.loads((shared_data / SAMPLES / "country-bgp.json").read_text())
    document["data"][1][0]["values"][2] = "n/a"
    document["data"][2][0]["datasource"] = "ucsd-nt-future"
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(document))
    parsed = read_ioda(path)
    assert sorted((s.position, s.reason) for s in parsed.skipped) == [
        ("data[1][0].values[2]", "not a number: 'n/a'"),
        ("data[2][0]", "unknown datasource 'ucsd-nt-future'"),
    ]
    assert len(parsed.points) == 4 + 3  # Ethiopia whole, New Zealand without its bad value


def test_truncated_and_error_responses_are_one_line_errors(shared_data: Path, tmp_path: Path) -> None:
    text = (shared_data / SAMPLES / "country-bgp.json").read_text()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[:500])
    with pytest.raises(InputError, match=r"truncated\.json: line \d+ column \d+: not valid JSON"):
        read_ioda(truncated)
    failed = tmp_path / "error.json"
    failed.write_text(json.dumps({"type": "signals", "error": "Invalid parameter: from", "data": None}))
    with pytest.raises(InputError, match="IODA answered with an error: Invalid parameter"):
        read_ioda(failed)


# -- dashboard CSV export --------------------------------------------------------------------------


def _export_csv(document: dict[str, Any], path: Path, normalized: bool) -> None:
    """Write the series the way ioda-ui's "Download CSV" does (see the module docstring)."""
    columns = {
        "gtr": "Google (Search)",
        "merit-nt": "Telescope (# Unique Source IPs)",
        "bgp": "BGP (#Visible /24s)",
        "ping-slash24": "Active Probing (#/24s Up)",
    }
    series = {s["datasource"]: s for s in document["data"][0]}
    titles = ["Time (UTC)", *columns.values(), "Mozilla (City Count)"]
    lines = [",".join(f'"{t}"' for t in titles)]
    first = series["bgp"]
    for i in range(len(first["values"])):
        when = datetime.fromtimestamp(first["from"] + i * first["step"], UTC)
        cells = [f'"{when:%Y-%m-%d %H:%M:%S}"']
        for datasource in columns:
            values = series[datasource]["values"]
            value = values[i]
            if value is None:
                cells.append("")
            elif normalized:
                cells.append(repr(value / max(v for v in values if v is not None) * 100))
            else:
                cells.append(repr(value))
        cells.append("")  # no Mozilla data for Iraq
        lines.append(",".join(cells))
    path.write_text("\n".join(lines))


@pytest.mark.parametrize("normalized", [False, True])
def test_dashboard_export_reads_back_to_the_response(
    shared_data: Path, store: Store, tmp_path: Path, normalized: bool
) -> None:
    document = _iraq(shared_data)
    mode = "normalized" if normalized else "raw"
    path = tmp_path / f"ioda-iraq-23-08-20-01-00-{mode}.csv"
    _export_csv(document, path, normalized)
    assert guess_format(path) == InputFormat.IODA
    report = ingest_file(store, path)
    assert report.format == f"ioda-csv-{mode}" and report.skipped == []
    assert report.records_read == 2928
    source = SOURCE_NORMALIZED if normalized else "ioda"
    bgp_raw = next(s for s in document["data"][0] if s["datasource"] == "bgp")["values"]
    bgp = store.points(SeriesKey("country/IQ", SignalKind.BGP_SLASH24S, source, FIVE_MIN))
    expected = np.array(bgp_raw, dtype=float)
    if normalized:
        expected = expected / expected.max() * 100
    assert np.allclose(bgp.values, expected)
    # Google's values come every 30 minutes (every sixth 5-minute row; the others are empty cells,
    # gaps): the column's own spacing is its bin size.
    gtr = store.points(SeriesKey("country/IQ", SignalKind.GOOGLE_TRAFFIC, source, 1800))
    assert gtr.times_s.size == 2928 - 2440
    assert not [s for s in store.series() if s.key.signal == SignalKind.MOZILLA_CITIES]


def test_export_entity_from_name_or_option(shared_data: Path, tmp_path: Path) -> None:
    document = _iraq(shared_data)
    iran = tmp_path / "ioda-iran-(islamic-republic-of)-26-01-01-00-00-normalized.csv"
    _export_csv(document, iran, normalized=True)
    assert {p.entity_id for p in read_ioda(iran).points} == {"country/IR"}
    asn = tmp_path / "ioda-as9500-(vodafone-transit-as)-26-01-01-00-00-raw (1).csv"
    _export_csv(document, asn, normalized=False)
    assert {p.entity_id for p in read_ioda(asn).points} == {"network/AS9500"}
    renamed = tmp_path / "export.csv"
    _export_csv(document, renamed, normalized=False)
    with pytest.raises(InputError, match=r"export\.csv: file name: cannot tell the entity.*--entity"):
        read_ioda(renamed)
    parsed = read_ioda(renamed, entity="IQ-BG")
    assert {p.entity_id for p in parsed.points} == {"region/IQ-BG"}
    assert {e.entity_id for e in parsed.entities} == {"region/IQ-BG", "country/IQ"}
    assert parsed.format == "ioda-csv-raw"  # told from values above 100


def test_export_bad_rows_skipped_with_line(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "ioda-iraq-23-08-20-01-00-raw.csv"
    _export_csv(_iraq(shared_data), path, normalized=False)
    lines = path.read_text().split("\n")
    lines[3] = lines[3].replace('"2023', '"yesterday')
    lines[5] = lines[5].rsplit(",", 3)[0] + ",abc,1,"  # BGP cell not a number, probing kept
    lines[7] = lines[7] + ",extra"
    path.write_text("\n".join(lines))
    parsed = read_ioda(path)
    where = {(s.position, s.reason.split(":")[0]) for s in parsed.skipped}
    assert where == {
        ("line 4", "Time (UTC) is not a time"),
        ("line 6 column 4", "BGP (#Visible /24s) is not a number"),
        ("line 8", "7 fields, header has 6"),
    }
    bgp = [p for p in parsed.points if p.signal == SignalKind.BGP_SLASH24S]
    assert len(bgp) == 2928 - 3


def test_one_google_series_per_entity_web_search_preferred(shared_data: Path, tmp_path: Path) -> None:
    """IODA answers Google's traffic per product (subtype); the raw series kept is web search (the
    dashboard's "Google (Search)"), whatever the order, and the other is a named skip."""
    document = _iraq(shared_data)
    gtr = next(s for s in document["data"][0] if s["datasource"] == "gtr")
    blended = dict(gtr, subtype="BLENDED", values=[None if v is None else v * 2 for v in gtr["values"]])
    search = dict(gtr, subtype="WEB_SEARCH")
    document["data"][0] = [blended, search]
    path = tmp_path / "gtr.json"
    path.write_text(json.dumps(document))
    parsed = read_ioda(path)
    values = [p.value for p in parsed.points]
    assert values == [float(v) for v in gtr["values"] if v is not None]
    assert [(s.position, s.reason) for s in parsed.skipped] == [
        ("data[0][0]", "another google_traffic series of the entity (subtype BLENDED; kept WEB_SEARCH)")
    ]


def test_answer_saved_with_sorted_keys_is_still_told_apart(shared_data: Path, tmp_path: Path) -> None:
    document = json.loads((shared_data / SAMPLES / "country-bgp.json").read_text())
    path = tmp_path / "sorted.json"
    path.write_text(json.dumps(document, sort_keys=True, indent=2))  # as `jq -S .` saves it
    assert guess_format(path) == InputFormat.IODA
    assert len(read_ioda(path).points) == 12


def test_hostile_numbers_and_names_are_skips_not_crashes(shared_data: Path, tmp_path: Path) -> None:
    document = json.loads((shared_data / SAMPLES / "region-bgp.json").read_text())
    document["data"].append(json.loads(json.dumps(document["data"][1])))
    document["data"][0][0]["from"] = 10**20  # no date can hold it
    document["data"][1][0]["entityName"] = "Gisborne\x00District"
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(document))
    parsed = read_ioda(path)
    reasons = sorted(s.reason for s in parsed.skipped)
    assert len(reasons) == 2 and "in the future" in reasons[0] and "control character U+0000" in reasons[1]
    assert {p.entity_id for p in parsed.points} == {"region/NZ-GIS"}  # the good copy is kept
    export = tmp_path / "ioda-iraq-23-08-20-01-00-raw.csv"
    export.write_text(
        '"Time (UTC)","BGP (#Visible /24s)"\n99999999999999,5\n'
        '"2023-08-20 01:00:00",7\n"2023-08-20 01:05:00",8\n'
    )
    parsed = read_ioda(export)
    assert [s.position for s in parsed.skipped] == ["line 2"] and [p.value for p in parsed.points] == [7, 8]
