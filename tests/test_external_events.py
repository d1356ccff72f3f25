"""Other observatories' outages (IODA outages/events, Cloudflare Radar outage annotations) stored as
external events, apart from Lightsout's own, from the recorded answers in ../shared/data/api-samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lightsout.errors import InputError
from lightsout.ingest import InputFormat, guess_format, ingest_file
from lightsout.model import Scope
from lightsout.sources.cloudflare_radar import read_cloudflare_radar
from lightsout.sources.ioda import read_ioda
from lightsout.store import Store

IODA = "api-samples/ioda"
RADAR = "api-samples/cloudflare-radar/docs-quoted/annotations-outages-limit=5-dateRange=7d-2022-11.json"


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_ioda_events_both_formats_agree(shared_data: Path, store: Store, tmp_path: Path) -> None:
    path = shared_data / IODA / "recorded/country-events.json"
    assert guess_format(path) == InputFormat.IODA
    report = ingest_file(store, path)
    assert report.format == "ioda-events" and report.external_events_written == 3
    events = store.external_events()
    assert [(e.entity_id, e.datasource, e.start_time, e.end_time) for e in events] == [
        ("country/TN", "ping-slash24", _utc(1790724000), _utc(1791381600)),
        ("country/TN", "bgp", _utc(1791310500), _utc(1791312900)),
        ("country/ET", "bgp", _utc(1791377400), _utc(1791378300)),
    ]
    first = events[0]
    assert first.source == "ioda" and first.scope == Scope.NATIONAL and first.country_code == "TN"
    assert first.score == pytest.approx(235515.1662809112)
    assert first.link == "https://ioda.inetintel.cc.gatech.edu/country/TN?from=1790724000&until=1791381600"
    # The same events in the API's default codf format (derived from the recording) get the same ids:
    # ingesting them adds nothing new.
    codf = json.loads(
        (shared_data / IODA / "derived-or-synthetic/outages-events-format=codf.DERIVED.json").read_text()
    )
    del codf["_derivation"]
    copy = tmp_path / "codf.json"
    copy.write_text(json.dumps(codf))
    assert {e.event_id for e in read_ioda(copy).external_events} == {e.event_id for e in events}
    ingest_file(store, copy)
    assert len(store.external_events()) == 3
    # Filters: a country, and a window that overlaps only the long Tunisian probing event.
    assert len(store.external_events(country="ET")) == 1
    window = store.external_events(since=_utc(1791000000), until=_utc(1791300000))
    assert [e.datasource for e in window] == ["ping-slash24"]
    # Lightsout's own events never see them: they live in their own table.
    assert store.alerts() == []


def test_ioda_empty_events_answer(shared_data: Path, store: Store) -> None:
    report = ingest_file(store, shared_data / IODA / "recorded/asn-events.json")
    assert report.external_events_written == 0 and report.skipped == []
    assert any("no outage events" in note for note in report.notes)


def test_ioda_bad_event_skipped_with_position(shared_data: Path, tmp_path: Path) -> None:
    document = json.loads((shared_data / IODA / "recorded/country-events.json").read_text())
    document["data"][1]["until"] = document["data"][1]["from"] - 60
    path = tmp_path / "events.json"
    path.write_text(json.dumps(document))
    parsed = read_ioda(path)
    assert [(s.position, s.reason.split(" (")[0]) for s in parsed.skipped] == [("data[1]", "ends")]
    assert len(parsed.external_events) == 2


def test_radar_annotations(shared_data: Path, store: Store) -> None:
    path = shared_data / RADAR
    assert guess_format(path) == InputFormat.CLOUDFLARE_RADAR
    ingest_file(store, path)
    events = store.external_events()
    assert [(e.entity_id, e.cause, e.scope, e.end_time) for e in events] == [
        ("country/US", "WEATHER", Scope.REGIONAL, datetime(2022, 11, 2, tzinfo=UTC)),
        ("country/UA", "POWER_OUTAGE", Scope.REGIONAL, None),  # endDate null: ongoing
    ]
    ukraine = events[1]
    assert ukraine.source == "cloudflare-radar" and ukraine.description == "Multiple regions/cities"
    assert (
        ukraine.link == "https://www.npr.org/2022/10/22/1130742768/ukraine-power-grid-outages-record-damage"
    )
    # An ongoing outage overlaps any later window.
    assert [e.entity_id for e in store.external_events(since=datetime(2026, 1, 1, tzinfo=UTC))] == [
        "country/UA"
    ]


def test_radar_ended_outage_updates_the_same_event(shared_data: Path, store: Store, tmp_path: Path) -> None:
    ingest_file(store, shared_data / RADAR)
    document = json.loads((shared_data / RADAR).read_text())
    document["result"]["annotations"][0]["endDate"] = "2022-11-20T00:00:00Z"
    later = tmp_path / "later.json"
    later.write_text(json.dumps(document))
    ingest_file(store, later)
    ukraine = store.external_events(country="UA")
    assert len(ukraine) == 1 and ukraine[0].end_time == datetime(2022, 11, 20, tzinfo=UTC)


def test_radar_error_answer_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "error.json"
    path.write_text(
        json.dumps(
            {"success": False, "errors": [{"code": 1015, "message": "Too many requests"}], "result": None}
        )
    )
    with pytest.raises(InputError, match="success=false: 1015 Too many requests"):
        read_cloudflare_radar(path)


def test_api_lists_external_events_apart(shared_data: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from lightsout.api.app import create_app
    from lightsout.store import open_store

    db = tmp_path / "external.duckdb"
    store = open_store(db)
    try:
        ingest_file(store, shared_data / IODA / "recorded/country-events.json")
        ingest_file(store, shared_data / RADAR)
    finally:
        store.close()
    with TestClient(create_app(db, None)) as client:
        body = client.get("/api/v1/external-events", params={"country": "TUN"}).json()
        assert body["meta"]["total"] == 2
        assert [e["datasource"] for e in body["data"]] == ["ping-slash24", "bgp"]
        assert body["data"][0]["start_time"] == "2026-09-29T23:20:00Z"
        ongoing = client.get(
            "/api/v1/external-events", params={"source": "cloudflare-radar", "since": "2025-01-01"}
        )
        assert [e["entity_id"] for e in ongoing.json()["data"]] == ["country/UA"]
        assert ongoing.json()["data"][0]["end_time"] is None
        bad = client.get("/api/v1/external-events", params={"since": "2026-02-01", "until": "2026-01-01"})
        assert bad.status_code == 400
        # Lightsout's own events stay Lightsout's: none were measured here.
        assert client.get("/api/v1/events").json()["data"] == []


def test_country_page_shows_them_in_their_own_section(shared_data: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from lightsout.api.app import create_app
    from lightsout.store import open_store

    db = tmp_path / "page.duckdb"
    store = open_store(db)
    try:
        ingest_file(
            store, shared_data / "ioda/iraq-2023-08-exams/signals-raw-country-IQ-2023-08-20_2023-08-30.json"
        )
        document = json.loads((shared_data / IODA / "recorded/country-events.json").read_text())
        for item in document["data"]:  # the recorded events, as if IODA had reported them for Iraq
            item["entity"] = {
                "code": "IQ",
                "name": "Iraq",
                "type": "country",
                "attrs": {"fqid": "geo.netacuity.AS.IQ"},
            }
        events = tmp_path / "iq-events.json"
        events.write_text(json.dumps(document))
        ingest_file(store, events)
    finally:
        store.close()
    with TestClient(create_app(db, None)) as client:
        page = client.get("/entity/country/IQ")
    assert page.status_code == 200
    html = page.text
    section = html[html.index('id="external"') :]
    assert "Reported by other observatories" in section
    assert section.count("<td>IODA</td>") == 3
    assert (
        'href="https://ioda.inetintel.cc.gatech.edu/country/IQ?from=1790724000&amp;until=1791381600"'
        in section
    )


def test_event_page_shows_what_others_reported_during_it(shared_data: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from lightsout.api.app import create_app
    from lightsout.detect.run import detect_batch
    from lightsout.store import open_store

    db = tmp_path / "event.duckdb"
    store = open_store(db)
    try:
        ingest_file(
            store, shared_data / "ioda/iraq-2023-08-exams/signals-raw-country-IQ-2023-08-20_2023-08-30.json"
        )
        document = json.loads((shared_data / IODA / "recorded/country-events.json").read_text())
        iraq = {"code": "IQ", "name": "Iraq", "type": "country", "attrs": {"fqid": "geo.netacuity.AS.IQ"}}
        during = dict(
            document["data"][1], entity=iraq, **{"from": 1692579600, "until": 1692594000}
        )  # 21 Aug 01-05
        long_before = dict(document["data"][2], entity=iraq, **{"from": 1600000000, "until": 1600003600})
        document["data"] = [during, long_before]
        events = tmp_path / "iq-events.json"
        events.write_text(json.dumps(document))
        ingest_file(store, events)
        detect_batch(store)
    finally:
        store.close()
    with TestClient(create_app(db, None)) as client:
        ours = client.get("/api/v1/events", params={"country": "IQ", "until": "2023-08-22"}).json()["data"]
        assert ours, "the detector finds Iraq's exam shutdown of 21 August"
        html = client.get(f"/event/{ours[0]['event_id']}").text
    section = html[html.index('id="external"') :]
    assert "Iraq during this event" in section
    assert section.count("<td>IODA</td>") == 1  # the 21 August report; not the one of 2020
    assert "2023-08-21 01:00" in section


def test_command_line_lists_them_apart(shared_data: Path, tmp_path: Path) -> None:
    import csv
    import io
    import os
    import subprocess
    import sys

    db = tmp_path / "cli.duckdb"
    env = {**os.environ, "LIGHTSOUT_DB": str(db), "COLUMNS": "250"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lightsout.cli", *args], capture_output=True, text=True,
                              env=env, timeout=120, check=False)  # fmt: skip

    ingested = run(
        "ingest", str(shared_data / IODA / "recorded/country-events.json"), str(shared_data / RADAR)
    )
    assert ingested.returncode == 0, ingested.stderr
    assert "3 external events" in ingested.stdout and "2 external events" in ingested.stdout
    table = run("events")
    assert table.returncode == 0, table.stderr
    assert "0 events" in table.stdout  # Lightsout's own: none measured
    section = table.stdout[table.stdout.index("Reported by other observatories") :]
    assert "5 external events" in section
    assert "Radar: power outage in Ukraine (country/UA), since 2022-10-25 00:00 UTC, ongoing" in section
    assert "IODA: bgp outage in Ethiopia (country/ET), 2026-10-07 12:50 - 13:05 UTC" in section
    rows = list(
        csv.DictReader(io.StringIO(run("events", "--external", "--format", "csv", "--country", "TN").stdout))
    )
    assert [(r["source"], r["datasource"], r["end"]) for r in rows] == [
        ("ioda", "ping-slash24", "2026-10-07T14:00:00+00:00"),
        ("ioda", "bgp", "2026-10-06T18:55:00+00:00"),
    ]


def test_radar_text_is_bounded(shared_data: Path, tmp_path: Path) -> None:
    document = json.loads((shared_data / RADAR).read_text())
    document["result"]["annotations"][0]["description"] = "ok\x1b[31m"
    document["result"]["annotations"][1]["startDate"] = "9999-12-31T00:00:00Z"
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(document))
    parsed = read_cloudflare_radar(path)
    assert parsed.external_events == []
    assert sorted(s.reason.split(" ")[0] for s in parsed.skipped) == ["description", "not"]
