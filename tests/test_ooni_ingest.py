"""The OONI measurement reader, on the real measurements in ../shared/data/ooni.

Expected values were read from the files themselves (``probe_cc``, ``probe_asn``,
``measurement_start_time``, ...), not from the reader.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lightsout.errors import InputError
from lightsout.model import EntityKind, OoniMeasurement
from lightsout.sources import Parsed
from lightsout.sources.ooni import measurement_start, probe_asn, probe_cc, read_ooni

# fastpath/ files that are not measurements: OONI's blocking fingerprints, a query result of its
# fastpath table (test_name and probe_cc but no test_keys), and the licence.
FASTPATH_NOT_MEASUREMENTS = {
    "fingerprints_dns.json", "fingerprints_http.json", "detector_query_ww_BR_2018.json", "LICENSE.md",
}
MINIPIPELINE_NOT_MEASUREMENTS = [
    "analysis.json", "analysis_classic.json", "observations.json", "observations_classic.json",
]


def _ooni(shared_data: Path) -> Path:
    return shared_data / "ooni"


def measurement_files(shared_data: Path) -> list[Path]:
    ooni = _ooni(shared_data)
    fastpath = [p for p in sorted((ooni / "fastpath").iterdir()) if p.name not in FASTPATH_NOT_MEASUREMENTS]
    return [*fastpath, *sorted((ooni / "wc05_qa").glob("*.json")), ooni / "minipipeline" / "measurement.json"]


def _only(parsed: Parsed) -> OoniMeasurement:
    assert len(parsed.measurements) == 1
    return parsed.measurements[0]


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _load(path: Path) -> Any:
    return json.loads(path.read_bytes())


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _compact(record: Any) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


# -- every real measurement ------------------------------------------------------------------------


def test_the_data_holds_the_expected_measurement_files(shared_data: Path) -> None:
    files = measurement_files(shared_data)
    assert sum(p.parent.name == "fastpath" for p in files) == 25
    assert sum(p.parent.name == "wc05_qa" for p in files) == 25
    assert len(files) == 51


def test_every_real_measurement_file_gives_one_measurement(shared_data: Path) -> None:
    for path in measurement_files(shared_data):
        parsed = read_ooni(path)
        record = _load(path)
        m = _only(parsed)
        assert parsed.skipped == [], path
        assert parsed.records_read == 1, path
        assert parsed.format == "ooni-json", path
        assert m.test_name == record["test_name"], path
        assert m.probe_cc == record["probe_cc"], path
        assert m.probe_asn == int(record["probe_asn"].removeprefix("AS")), path
        assert m.measurement_start == _utc(record["measurement_start_time"]), path
        assert m.measurement_start is not None and m.measurement_start.utcoffset() is not None
        assert json.loads(m.raw_json) == record, path
        assert m.raw_json == _compact(record), path
        # one country and one network per file, the network placed in the country
        assert {e.entity_id for e in parsed.entities} == {f"country/{m.probe_cc}", f"network/AS{m.probe_asn}"}


# (file, test_name, test_version, probe_cc, probe_asn, measurement_start_time, input)
NAMED = [
    ("fastpath/20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json", "web_connectivity", "0.4.3",
     "ID", 23693, "2025-05-27 23:31:08", "http://archive.org"),
    ("fastpath/web_connectivity_ir_fp.json", "web_connectivity", "0.4.1", "IR", 197207, "2022-08-15 19:01:30",
     "https://www.facebook.com/"),
    ("fastpath/report2.json", "web_connectivity", "0.3.2", "ES", 3352, "2019-07-17 11:55:18",
     "http://www.postmaster.co.uk/"),
    ("fastpath/signal_2627.json", "signal", "0.2.0", "AM", 44395, "2022-10-27 00:03:16", None),
    ("fastpath/telegram_nourl.json", "telegram", "0.0.3", "IT", 30722, "2019-12-03 12:23:13", None),
    ("fastpath/vanilla_tor.json", "vanilla_tor", "0.2.0", "CN", 17623, "2022-08-02 21:55:29", None),
    ("fastpath/torsf_383.json", "torsf", "0.4.0", "TH", 17552, "2023-08-17 17:07:41", None),
    ("fastpath/whatsapp.json", "whatsapp", "0.9.0", "IE", 6830, "2022-12-02 12:58:49", None),
    ("fastpath/web_connectivity_null.json", "web_connectivity", "0.4.1", "TM", 20661, "2022-05-24 01:20:29",
     "https://ajax.aspnetcdn.com/ajax/4.5.2/1/MicrosoftAjax.js"),
    ("minipipeline/measurement.json", "web_connectivity", "0.5.26", "IT", 30722, "2023-11-30 17:33:28",
     "https://nexa.polito.it/"),
    ("wc05_qa/dnsBlockingNXDOMAIN.json", "web_connectivity", "0.5.28", "IT", 137, "2024-02-12 20:33:47",
     "https://www.example.com/"),
    ("wc05_qa/idnaWithoutCensorshipLowercase.json", "web_connectivity", "0.5.28", "IT", 137,
     "2024-02-12 20:33:47", "http://яндекс.рф/"),
]


@pytest.mark.parametrize(("name", "test_name", "version", "cc", "asn", "start", "url"), NAMED)
def test_named_measurements(
    shared_data: Path, name: str, test_name: str, version: str, cc: str, asn: int, start: str, url: str | None
) -> None:
    m = _only(read_ooni(_ooni(shared_data) / name))
    assert (m.test_name, m.test_version, m.probe_cc, m.probe_asn) == (test_name, version, cc, asn)
    assert m.measurement_start == _utc(start)
    assert m.input == url


def test_measurement_uid_is_the_id_when_present(shared_data: Path) -> None:
    m = _only(read_ooni(_ooni(shared_data) / "fastpath" / "web_connectivity_odd_hdr.json"))
    assert m.measurement_id == "01201705167c104b698173927d63aadf48fb2fa1"
    assert (m.probe_cc, m.probe_asn, m.input) == ("CN", 4134, "http://www.efindlove.com")
    assert m.measurement_start == datetime(2017, 5, 16, 13, 11, 40, tzinfo=UTC)


def test_without_uid_the_id_is_the_sha256_of_the_canonical_record(shared_data: Path) -> None:
    path = _ooni(shared_data) / "fastpath" / "signal_022.json"
    record = _load(path)
    assert "measurement_uid" not in record
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    m = _only(read_ooni(path))
    assert m.measurement_id == hashlib.sha256(canonical.encode()).hexdigest()
    assert m.measurement_id == _only(read_ooni(path)).measurement_id


def test_pretty_printed_copy_is_the_same_measurement(shared_data: Path) -> None:
    fastpath = _ooni(shared_data) / "fastpath"
    compact = _only(read_ooni(fastpath / "report1.json"))
    pretty = _only(read_ooni(fastpath / "report1.json.pretty"))
    # the .pretty copy writes test_keys.body_proportion 1.0 as 1: the same JSON number
    assert _load(fastpath / "report1.json")["test_keys"]["body_proportion"] == 1.0
    assert json.loads(pretty.raw_json)["test_keys"]["body_proportion"] == 1
    assert pretty.measurement_id == compact.measurement_id
    assert (pretty.probe_cc, pretty.probe_asn, pretty.measurement_start) == (
        "US", 20115, datetime(2019, 7, 20, 20, 18, 30, tzinfo=UTC),
    )
    # report1blocked.json differs from report1.json in one response header: another measurement
    blocked = _only(read_ooni(fastpath / "report1blocked.json"))
    assert blocked.measurement_id != compact.measurement_id


def test_network_entity_is_named_and_placed_in_its_country(shared_data: Path) -> None:
    parsed = read_ooni(_ooni(shared_data) / "fastpath" / "whatsapp.json")
    by_id = {e.entity_id: e for e in parsed.entities}
    country, network = by_id["country/IE"], by_id["network/AS6830"]
    assert (country.kind, country.code, country.name) == (EntityKind.COUNTRY, "IE", "Ireland")
    assert (network.kind, network.asn) == (EntityKind.NETWORK, 6830)
    assert network.name == "AS6830 (Liberty Global B.V.)"
    assert (network.country_code, network.parent_id) == ("IE", "country/IE")
    # old measurements carry no probe_network_name: the network is named from the packaged AS table
    old = read_ooni(_ooni(shared_data) / "fastpath" / "report2.json")
    old_names = [e.name for e in old.entities if e.kind == EntityKind.NETWORK]
    assert old_names == ["AS3352 (TELEFONICA DE ESPANA S.A.U.)"]


# -- many measurements in one file -----------------------------------------------------------------


def test_jsonl_of_every_real_measurement(shared_data: Path, tmp_path: Path) -> None:
    files = measurement_files(shared_data)
    path = _jsonl(tmp_path / "all.jsonl", [_compact(_load(p)) for p in files])
    calls: list[tuple[int, int]] = []
    parsed = read_ooni(path, lambda done, total: calls.append((done, total)))
    assert parsed.format == "ooni-jsonl"
    assert parsed.records_read == 51
    # report2blocked.json is byte-identical to report2.json; report1.json.pretty is report1.json
    assert len(parsed.measurements) == 49
    duplicates = {"report1.json.pretty", "report2blocked.json"}
    assert sorted(s.position for s in parsed.skipped) == sorted(
        f"line {files.index(p) + 1}" for p in files if p.name in duplicates
    )
    assert {s.reason for s in parsed.skipped} == {"duplicate measurement (same id as an earlier record)"}
    tests = {m.test_name for m in parsed.measurements}
    assert tests == {"web_connectivity", "signal", "telegram", "tor", "torsf", "vanilla_tor", "whatsapp"}
    assert sum(m.probe_asn == 137 for m in parsed.measurements) == 25  # all the wc05_qa scenarios
    countries = {e.code for e in parsed.entities if e.kind == EntityKind.COUNTRY}
    assert countries == {"AM", "AU", "BR", "CN", "ES", "ID", "IE", "IR", "IT", "MY", "TH", "TM", "US"}
    networks = {e.asn: e for e in parsed.entities if e.kind == EntityKind.NETWORK}
    assert set(networks) == {137, 3352, 4134, 4788, 6830, 7922, 8167, 9443, 17552, 17623, 20115, 20661, 23693,
                             30722, 44395, 197207}
    assert (networks[30722].country_code, networks[30722].name) == ("IT", "AS30722 (Vodafone Italia S.p.A.)")
    assert len(parsed.entities) == len({e.entity_id for e in parsed.entities})
    assert "measurements by test: signal 3, telegram 1, tor 2, torsf 3, vanilla_tor 2, " \
        "web_connectivity 37, whatsapp 1" in parsed.notes
    # progress is in bytes of the file, never goes back, and ends at the file size
    size = path.stat().st_size
    assert size > 1 << 18  # the reader reports every 256 KiB
    assert len(calls) >= 2
    assert all(total == size for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (size, size)


def test_jsonl_with_a_corrupt_line_keeps_the_others(shared_data: Path, tmp_path: Path) -> None:
    fastpath = _ooni(shared_data) / "fastpath"
    names = ["signal_022.json", "torsf_383.json", "vanilla_tor_ok.json", "whatsapp.json", "tor.json"]
    records = [_load(fastpath / n) for n in names]
    lines = [_compact(r) for r in records]
    truncated = lines[2][: len(lines[2]) // 2]  # a line cut in the middle, as a broken download leaves it
    path = _jsonl(tmp_path / "mixed.jsonl", [lines[0], lines[1], "", truncated, lines[3], "   ", lines[4]])
    parsed = read_ooni(path)
    assert [m.test_name for m in parsed.measurements] == ["signal", "torsf", "whatsapp", "tor"]
    assert [(m.probe_cc, m.probe_asn) for m in parsed.measurements] == [
        ("IT", 30722), ("TH", 17552), ("IE", 6830), ("IT", 30722),
    ]
    assert parsed.records_read == 5
    assert len(parsed.skipped) == 1
    skip = parsed.skipped[0]
    assert (skip.path, skip.position) == (str(path), "line 4")
    assert skip.reason.startswith("not valid JSON")


def test_jsonl_with_a_corrupt_first_line(shared_data: Path, tmp_path: Path) -> None:
    line = _compact(_load(_ooni(shared_data) / "fastpath" / "vanilla_tor.json"))
    path = _jsonl(tmp_path / "first.jsonl", ['{"test_name": "web_conn', line])
    parsed = read_ooni(path)
    assert [(m.test_name, m.probe_cc) for m in parsed.measurements] == [("vanilla_tor", "CN")]
    assert [s.position for s in parsed.skipped] == ["line 1"]


def test_jsonl_records_that_are_not_measurements_are_skipped(shared_data: Path, tmp_path: Path) -> None:
    ooni = _ooni(shared_data)
    measurement = _compact(_load(ooni / "fastpath" / "torsf_1.json"))
    fingerprint = _compact(_load(ooni / "fastpath" / "fingerprints_dns.json")[0])
    summary_row = _compact(_load(ooni / "fastpath" / "detector_query_ww_BR_2018.json")[0])
    lines = [
        measurement, "42", fingerprint, summary_row, '{"probe_cc": "IT"}',
        '{"test_name": 7, "test_keys": {}}', '{"test_name": "x", "test_keys": {}, "runtime": NaN}',
    ]
    parsed = read_ooni(_jsonl(tmp_path / "odd.jsonl", lines))
    assert len(parsed.measurements) == 1
    reasons = {s.position: s.reason for s in parsed.skipped}
    assert reasons == {
        "line 2": "a JSON number, not an object",
        "line 3": "a blocking fingerprint, not a measurement",
        "line 4": "no test_keys: a summary row (e.g. OONI API or fastpath table), not a raw measurement",
        "line 5": "no test_name: not an OONI measurement",
        "line 6": "test_name is not a non-empty string",
        "line 7": "not valid JSON: NaN is not a JSON value",
    }


def test_json_array_of_measurements(shared_data: Path, tmp_path: Path) -> None:
    wc05 = _ooni(shared_data) / "wc05_qa"
    records = [_load(wc05 / n) for n in ("successWithHTTPS.json", "throttlingWithHTTPS.json")]
    path = tmp_path / "array.json"
    path.write_text(json.dumps([records[0], "not a measurement", records[1]], indent=2), encoding="utf-8")
    parsed = read_ooni(path)
    assert parsed.format == "ooni-json"
    assert [m.input for m in parsed.measurements] == ["https://www.example.com/", "https://largefile.com/"]
    assert [(s.position, s.reason) for s in parsed.skipped] == [("record 2", "a JSON string, not an object")]
    assert parsed.records_read == 3


def test_unknown_test_name_is_kept_raw(shared_data: Path, tmp_path: Path) -> None:
    record = _load(_ooni(shared_data) / "fastpath" / "signal_679.json")
    record["test_name"] = "lightsout_never_heard_of_it"
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    m = _only(read_ooni(path))
    assert m.test_name == "lightsout_never_heard_of_it"
    assert (m.probe_cc, m.probe_asn, m.test_version) == ("US", 7922, "0.2.2")
    assert m.measurement_start == datetime(2023, 5, 30, 18, 8, 35, tzinfo=UTC)
    assert json.loads(m.raw_json) == record


def test_unknown_probe_location_and_odd_fields(shared_data: Path, tmp_path: Path) -> None:
    record = _load(_ooni(shared_data) / "fastpath" / "torsf_2.json")
    record.update(probe_cc="ZZ", probe_asn="AS0", input=["a", "b"], measurement_start_time="yesterday",
                  test_version=3)
    path = tmp_path / "anon.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    parsed = read_ooni(path)
    m = _only(parsed)
    assert (m.probe_cc, m.probe_asn, m.measurement_start) == (None, None, None)
    assert (m.input, m.test_version) == ('["a","b"]', "3")
    assert parsed.entities == []
    assert "1 measurement(s) with no known probe_cc" in parsed.notes
    assert "1 measurement(s) with no readable measurement_start_time" in parsed.notes


def test_network_seen_in_two_countries_belongs_to_neither(shared_data: Path, tmp_path: Path) -> None:
    record = _load(_ooni(shared_data) / "fastpath" / "torsf_1.json")
    moved = dict(record, probe_cc="SM")
    parsed = read_ooni(_jsonl(tmp_path / "two.jsonl", [_compact(record), _compact(moved)]))
    assert len(parsed.measurements) == 2
    network = next(e for e in parsed.entities if e.entity_id == "network/AS30722")
    assert (network.country_code, network.parent_id) == (None, None)
    countries = {e.entity_id for e in parsed.entities if e.kind == EntityKind.COUNTRY}
    assert countries == {"country/IT", "country/SM"}


def test_field_normalisation() -> None:
    assert [probe_cc(v) for v in ("it", " IR ", "ZZ", "zz", "XK", "QQ", "ITA", "", None, 39)] == [
        "IT", "IR", None, None, "XK", None, None, None, None, None,
    ]
    assert [probe_asn(v) for v in ("AS30722", "as137", 137, "AS0", 0, "ASX", True, None, "AS4294967296")] == [
        30722, 137, 137, None, None, None, None, None, None,
    ]
    assert measurement_start("2024-02-12 20:33:47") == datetime(2024, 2, 12, 20, 33, 47, tzinfo=UTC)
    assert measurement_start("2024-02-12T20:33:47Z") == datetime(2024, 2, 12, 20, 33, 47, tzinfo=UTC)
    assert measurement_start("2024-02-12T22:33:47+02:00") == datetime(2024, 2, 12, 20, 33, 47, tzinfo=UTC)
    assert measurement_start("12/02/2024") is None
    assert measurement_start(1707770027) is None


# -- gzip ------------------------------------------------------------------------------------------


def test_gzip_jsonl(shared_data: Path, tmp_path: Path) -> None:
    files = sorted((_ooni(shared_data) / "wc05_qa").glob("*.json"))
    text = "".join(_compact(_load(p)) + "\n" for p in files).encode()
    path = tmp_path / "wc05.jsonl.gz"
    path.write_bytes(gzip.compress(text))
    parsed = read_ooni(path)
    assert parsed.format == "ooni-jsonl-gzip"
    assert len(parsed.measurements) == 25
    assert {(m.probe_cc, m.probe_asn) for m in parsed.measurements} == {("IT", 137)}
    assert parsed.skipped == []


def test_truncated_gzip_keeps_what_came_before(shared_data: Path, tmp_path: Path) -> None:
    files = sorted((_ooni(shared_data) / "wc05_qa").glob("*.json"))
    text = "".join(_compact(_load(p)) + "\n" for p in files).encode()
    whole = gzip.compress(text)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 3 // 4])
    parsed = read_ooni(path)
    assert 0 < len(parsed.measurements) < 25
    last = parsed.skipped[-1]
    assert last.position == f"line {len(parsed.measurements) + 1 + len(parsed.skipped) - 1}"
    assert "damaged gzip stream" in last.reason
    assert last.reason.endswith("the rest of the file is lost")


# -- files read_ooni refuses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "position", "says"),
    [
        ("fastpath/fingerprints_dns.json", "record 1",
         "150 records, none a measurement (150 x a blocking fingerprint"),
        ("fastpath/fingerprints_http.json", "record 1", "1699 records, none a measurement"),
        ("fastpath/detector_query_ww_BR_2018.json", "line 1, record 1", "911 x no test_keys: a summary row"),
        ("minipipeline/analysis.json", "record 1", "minipipeline observations or analysis"),
        ("minipipeline/analysis_classic.json", "record 1", "minipipeline observations or analysis"),
        ("minipipeline/observations.json", "record 1", "minipipeline observations or analysis"),
        ("minipipeline/observations_classic.json", "record 1", "minipipeline observations or analysis"),
    ],
)
def test_files_that_are_not_measurements(shared_data: Path, name: str, position: str, says: str) -> None:
    path = _ooni(shared_data) / name
    with pytest.raises(InputError) as info:
        read_ooni(path)
    assert info.value.path == str(path)
    assert info.value.position == position
    assert info.value.message.startswith("not an OONI measurement: ")
    assert says in info.value.message
    assert "\n" not in str(info.value)


def test_text_that_is_not_json(shared_data: Path) -> None:
    with pytest.raises(InputError) as info:
        read_ooni(_ooni(shared_data) / "fastpath" / "LICENSE.md")
    assert (info.value.position, info.value.message) == ("line 1 column 1", "not valid JSON: Expecting value")


def test_truncated_pretty_json(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "tor.json"
    path.write_bytes((_ooni(shared_data) / "fastpath" / "tor.json").read_bytes()[:2000])
    with pytest.raises(InputError) as info:
        read_ooni(path)
    assert re.fullmatch(r"line \d+ column \d+", info.value.position)
    assert info.value.message.startswith("not valid JSON")


@pytest.mark.parametrize(
    ("content", "position", "message"),
    [
        (b"", "byte 0", "empty file"),
        (b"\n  \n\n", "line 1", "empty file (only blank lines)"),
        (b"[]\n", "record 1", "not an OONI measurement: no records in the file"),
        (b"{}\n", "line 1", "not an OONI measurement: 1 record, none a measurement "
                            "(1 x no test_name: not an OONI measurement)"),
        (b"BZh91AY&SY", "byte 0", "bzip2-compressed; decompress it first (gzip is read)"),
    ],
)
def test_unusable_content(tmp_path: Path, content: bytes, position: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_ooni(path)
    assert (info.value.path, info.value.position, info.value.message) == (str(path), position, message)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        read_ooni(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        read_ooni(tmp_path / "nope.jsonl")
