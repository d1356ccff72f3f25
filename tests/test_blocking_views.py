"""App and website blocking beside the outages: ``GET /api/v1/blocking``, ``lightsout events
--with-blocking`` (json and csv) and the dashboard, on real OONI measurements (fastpath and OONI's
Web Connectivity QA scenarios) ingested into a temporary store."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from lightsout.api.app import create_app
from lightsout.api.blocking import BLOCKING_CSV_COLUMNS, BlockingItem, blocking_csv_row
from lightsout.apps import Method
from lightsout.apps.aggregate import BlockingEvent, blocking_events
from lightsout.cli import cli
from lightsout.detect.run import detect_batch
from lightsout.ingest import ingest_file
from lightsout.report.serialize import EVENT_CSV_COLUMNS
from lightsout.store import open_store

FASTPATH = "ooni/fastpath"
QA = "ooni/wc05_qa"
NOT_MEASUREMENTS = {
    "LICENSE.md",
    "fingerprints_dns.json",
    "fingerprints_http.json",
    "detector_query_ww_BR_2018.json",
}
IRAN_FILE = "web_connectivity_ir_fp.json"
INDONESIA_FILE = "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json"
IRAN_STATEMENT = (
    "https://www.facebook.com/ blocked on AS197207 in IR by DNS tampering on 2022-08-15 19:01 UTC, at the "
    "end of the data (1 blocked of 1 measurement, 0 accessible, on 1 day; OONI fingerprint "
    "ooni.ir_10dot10_ipv4_1)"
)
INDONESIA_STATEMENT = (
    "http://archive.org blocked on AS23693 in ID by a blockpage on 2025-05-27 23:31 UTC, at the end of the "
    "data (1 blocked of 1 measurement, 0 accessible, on 1 day; OONI fingerprint ooni.id_lamanlabuh_kominfo)"
)
TOKEN = "test-token-0123456789abcdef"
ITEM_FIELDS = {
    "country", "asn", "target", "test_name", "method", "start", "last_blocked", "end", "ongoing",
    "measurements", "measurement_ids", "fingerprint", "reason", "statement", "methods", "live",
    "meets_bar", "days", "accessible", "series_measurements", "explorer_urls",
}  # fmt: skip


def _ooni_files(shared_data: Path) -> list[Path]:
    files = [p for p in sorted((shared_data / FASTPATH).iterdir()) if p.name not in NOT_MEASUREMENTS]
    return files + sorted((shared_data / QA).glob("*.json"))


def _ingest(db: Path, files: list[Path]) -> None:
    store = open_store(db)
    try:
        for path in files:
            ingest_file(store, path)
    finally:
        store.close()


@pytest.fixture(scope="module")
def ooni_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("blocking") / "ooni.duckdb"
    _ingest(db, _ooni_files(shared_data))
    return db


@pytest.fixture(scope="module")
def expected(ooni_db: Path) -> list[BlockingEvent]:
    """What ``lightsout.apps.aggregate`` finds, straight from the store."""
    store = open_store(ooni_db, read_only=True)
    try:
        return blocking_events(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def client(ooni_db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ooni_db, None)) as c:  # read-only server, dashboard included
        yield c


def data(client: TestClient, url: str, **params: str) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "meta"}
    return body["data"]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- the API ----------------------------------------------------------------------------------------


def test_api_lists_the_iranian_dns_and_the_indonesian_blockpage(
    client: TestClient, expected: list[BlockingEvent]
) -> None:
    body = client.get("/api/v1/blocking").json()
    items = body["data"]
    assert body["meta"] == {"count": len(expected), "total": len(expected), "limit": 1000, "offset": 0}
    assert all(set(item) == ITEM_FIELDS for item in items)
    # the same events as the aggregation, in its order (oldest first)
    assert [(i["country"], i["asn"], i["target"], i["method"], i["start"], i["end"]) for i in items] == [
        (e.country, e.asn, e.target, e.method.value, _iso(e.start), _iso(e.end)) for e in expected
    ]
    (iran,) = [i for i in items if i["country"] == "IR"]
    assert iran == {
        "country": "IR",
        "asn": 197207,
        "target": "https://www.facebook.com/",
        "test_name": "web_connectivity",
        "method": "dns",
        "start": "2022-08-15T19:01:30Z",
        "last_blocked": "2022-08-15T19:01:30Z",
        "end": None,
        "ongoing": True,
        "live": False,  # 2022 data: "at the end of the data", never "ongoing"
        "meets_bar": True,  # confirmed by OONI's fingerprint
        "methods": {"dns": 1},
        "days": 1,
        "accessible": 0,
        "series_measurements": 1,
        "explorer_urls": iran["explorer_urls"],
        "measurements": 1,
        "measurement_ids": iran["measurement_ids"],
        "fingerprint": "ooni.ir_10dot10_ipv4_1",
        "reason": iran["reason"],
        "statement": IRAN_STATEMENT,
    }
    assert len(iran["measurement_ids"]) == 1 and "10.10.34.36" in iran["reason"]
    (indonesia,) = [i for i in items if i["country"] == "ID"]
    assert (indonesia["asn"], indonesia["target"], indonesia["method"], indonesia["fingerprint"]) == (
        23693,
        "http://archive.org",
        "http_blockpage",
        "ooni.id_lamanlabuh_kominfo",
    )
    assert indonesia["statement"] == INDONESIA_STATEMENT and indonesia["ongoing"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"country": "IR"},
        {"country": "IRN"},
        {"country": "ID"},
        {"country": "IT"},
        {"asn": "23693"},
        {"asn": "137"},
        {"country": "IR", "asn": "23693"},
        {"since": "2024-02-13"},  # the QA scenarios ended on 2024-02-12 drop out; ongoing events stay
        {"until": "2018-01-01"},  # started before: the two 2017 measurements
        {"since": "2022-08-15T19:01:30Z", "until": "2022-08-15T19:01:31Z"},
        {"since": "2024-02-12T20:33:47+00:00", "until": "2025-01-01"},
        {"country": "DE"},
    ],
)
def test_api_filters(client: TestClient, expected: list[BlockingEvent], params: dict[str, str]) -> None:
    """The filters mean what /events' mean: since keeps events still going on at or after it,
    until events that started before it; country and AS select the probes' network."""
    country = {"IRN": "IR"}.get(params.get("country", ""), params.get("country"))
    asn = int(params["asn"]) if "asn" in params else None
    since = datetime.fromisoformat(params["since"]).replace(tzinfo=UTC) if "since" in params else None
    until = datetime.fromisoformat(params["until"]).replace(tzinfo=UTC) if "until" in params else None
    want = [
        e
        for e in expected
        if (country is None or e.country == country)
        and (asn is None or e.asn == asn)
        and (since is None or e.end is None or e.end > since)
        and (until is None or e.start < until)
    ]
    got = data(client, "/api/v1/blocking", **params)
    assert [(i["country"], i["asn"], i["target"], i["method"]) for i in got] == [
        (e.country, e.asn, e.target, e.method.value) for e in want
    ]


def test_api_filters_select_what_they_should(client: TestClient) -> None:
    iran = data(client, "/api/v1/blocking", country="IR")
    assert [i["statement"] for i in iran] == [IRAN_STATEMENT]
    assert data(client, "/api/v1/blocking", country="IRN") == iran
    assert [i["target"] for i in data(client, "/api/v1/blocking", asn="23693")] == ["http://archive.org"]
    assert data(client, "/api/v1/blocking", country="IR", asn="23693") == []
    old = data(client, "/api/v1/blocking", until="2018-01-01")
    assert {i["country"] for i in old} == {"CN", "AU"}
    # An ongoing event began long before `since` and keeps its real start.
    recent = data(client, "/api/v1/blocking", since="2025-01-01")
    assert {i["country"] for i in recent} >= {"IR", "ID"}
    assert next(i for i in recent if i["country"] == "IR")["start"] == "2022-08-15T19:01:30Z"
    assert all(i["end"] is None or i["end"] > "2025-01-01" for i in recent)


def test_api_pages(client: TestClient, expected: list[BlockingEvent]) -> None:
    body = client.get("/api/v1/blocking", params={"limit": "2", "offset": "1"}).json()
    assert body["meta"] == {"count": 2, "total": len(expected), "limit": 2, "offset": 1}
    assert [i["target"] for i in body["data"]] == [e.target for e in expected[1:3]]


def assert_error(response: Any, parameter: str | None, contains: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "message", "parameter"}
    assert body["error"]["status"] == 400
    assert body["error"]["parameter"] == parameter
    assert contains in body["error"]["message"], body


@pytest.mark.parametrize(
    ("query", "parameter", "contains"),
    [
        ("country=QQ", "country", "unknown ISO 3166-1 code 'QQ'"),
        ("country=IRAN", "country", "at most 3 characters"),
        ("asn=AS9198", "asn", "valid integer"),
        ("asn=0", "asn", "greater than or equal to 1"),
        ("asn=4294967296", "asn", "less than or equal to 4294967295"),
        ("asn=-5", "asn", "greater than or equal to 1"),
        ("since=yesterday", "since", "not an ISO 8601 time"),
        ("until=2024-02-30", "until", "not an ISO 8601 time"),
        ("since=2024-03-01&until=2024-02-01", "since", "before until"),
        ("limit=0", "limit", "greater than or equal to 1"),
        ("offset=-1", "offset", "greater than or equal to 0"),
        ("contry=IR", "contry", "unknown parameter 'contry'"),
        ("target=x", "target", "this endpoint takes: asn, country, limit, offset, since, until"),
        ("country=IR&country=ID", "country", "given more than once"),
    ],
)
def test_bad_parameters_are_400_envelopes(
    client: TestClient, query: str, parameter: str, contains: str
) -> None:
    assert_error(client.get(f"/api/v1/blocking?{query}"), parameter, contains)


def test_openapi_documents_the_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/blocking"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "country",
        "asn",
        "since",
        "until",
        "limit",
        "offset",
    }
    assert "400" in operation["responses"] and "422" not in operation["responses"]
    components = schema["components"]["schemas"]
    item = components["BlockingItem"]
    assert set(item["properties"]) == ITEM_FIELDS
    method = item["properties"]["method"]
    enum = components[method["$ref"].rsplit("/", 1)[-1]]["enum"] if "$ref" in method else method["enum"]
    assert set(enum) == {m.value for m in Method}
    response = json.dumps(operation["responses"]["200"])
    assert "BlockingItem" in response and "ListMeta" in response


def test_cache_follows_writes(shared_data: Path, tmp_path: Path) -> None:
    """Judged once per write generation: the same list until an upload, then judged again."""
    db = tmp_path / "grow.duckdb"
    _ingest(db, [shared_data / FASTPATH / INDONESIA_FILE])
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(db, TOKEN)) as c:
        assert [i["country"] for i in data(c, "/api/v1/blocking")] == ["ID"]
        access = c.app.state.lightsout.access  # type: ignore[attr-defined]
        with access.reading() as store:
            assert access.blocking(store) is access.blocking(store)  # kept, not judged again
        body = (shared_data / FASTPATH / IRAN_FILE).read_bytes()
        response = c.post(f"/api/v1/ingest?filename={IRAN_FILE}", content=body, headers=auth)
        assert response.status_code == 200, response.text
        assert [i["country"] for i in data(c, "/api/v1/blocking")] == ["IR", "ID"]
        assert 'href="/entity/country/IR#blocking">1 app/website blocking event' in c.get("/").text
        assert IRAN_STATEMENT in c.get("/entity/country/IR").text


# -- the command line -------------------------------------------------------------------------------


def _events(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["events", "--db", str(db), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_json_with_blocking_has_both_keys(ooni_db: Path, client: TestClient) -> None:
    out = json.loads(_events(ooni_db, "--format", "json", "--with-blocking"))
    assert set(out) == {"outages", "blocking"}
    assert out["outages"] == []  # no connectivity data in this store
    api = data(client, "/api/v1/blocking")
    assert len(out["blocking"]) == len(api)
    for printed, served in zip(out["blocking"], api, strict=True):
        # the same record; times as the outage events beside them print theirs (+00:00)
        assert set(printed) == ITEM_FIELDS
        assert {k: v for k, v in printed.items() if k not in ("start", "last_blocked", "end")} == {
            k: v for k, v in served.items() if k not in ("start", "last_blocked", "end")
        }
        assert _iso(datetime.fromisoformat(printed["start"])) == served["start"]
    iran = json.loads(_events(ooni_db, "--country", "IR", "--format", "json", "--with-blocking"))
    assert [b["statement"] for b in iran["blocking"]] == [IRAN_STATEMENT]
    assert iran["blocking"][0]["start"] == "2022-08-15T19:01:30+00:00"
    # since/until select like the outages: an ongoing event keeps its start
    later = json.loads(
        _events(ooni_db, "--country", "IR", "--since", "2025-01-01", "--format", "json", "--with-blocking")
    )
    assert [b["start"] for b in later["blocking"]] == ["2022-08-15T19:01:30+00:00"]
    national = json.loads(_events(ooni_db, "--scope", "national", "--format", "json", "--with-blocking"))
    assert national == {"outages": [], "blocking": []}  # blocking is measured per network


def test_cli_without_the_flag_is_unchanged(ooni_db: Path) -> None:
    assert json.loads(_events(ooni_db, "--format", "json")) == []
    rows = list(csv.reader(io.StringIO(_events(ooni_db, "--format", "csv"))))
    assert rows == [EVENT_CSV_COLUMNS]
    table = _events(ooni_db, "--country", "IR")
    assert "0 events" in table and "1 blocking events" in table and "AS197207" in table


def test_cli_csv_with_blocking_appends_rows(ooni_db: Path, expected: list[BlockingEvent]) -> None:
    rows = list(csv.DictReader(io.StringIO(_events(ooni_db, "--format", "csv", "--with-blocking"))))
    assert rows and list(rows[0]) == EVENT_CSV_COLUMNS + BLOCKING_CSV_COLUMNS
    assert all(r["kind"] == "blocking" and r["scope"] == "network" and r["event_id"] == "" for r in rows)
    assert len(rows) == len(expected)
    (iran,) = [r for r in rows if r["country_code"] == "IR"]
    assert iran["statement"] == IRAN_STATEMENT
    assert (iran["entity_id"], iran["asn"], iran["method"], iran["target"]) == (
        "network/AS197207",
        "197207",
        "dns",
        "https://www.facebook.com/",
    )
    assert (iran["start"], iran["end"], iran["measurements"], iran["fingerprint"]) == (
        "2022-08-15T19:01:30+00:00",
        "",
        "1",
        "ooni.ir_10dot10_ipv4_1",
    )


def test_cli_outages_and_blocking_side_by_side(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "both.duckdb"
    _ingest(
        db,
        [
            shared_data / "monash-ip-observatory/ven-2019-07-22_gif.csv",
            shared_data / FASTPATH / INDONESIA_FILE,
        ],
    )
    store = open_store(db)
    try:
        detect_batch(store)
    finally:
        store.close()
    out = json.loads(_events(db, "--format", "json", "--with-blocking"))
    assert any(e["scope"] == "national" and e["entity_id"] == "country/VE" for e in out["outages"])
    assert [b["statement"] for b in out["blocking"]] == [INDONESIA_STATEMENT]
    rows = list(csv.DictReader(io.StringIO(_events(db, "--format", "csv", "--with-blocking"))))
    kinds = [r["kind"] for r in rows]
    assert "outage" in kinds and kinds[-1] == "blocking"
    outage = next(r for r in rows if r["kind"] == "outage")
    assert (
        outage["event_id"].startswith(("ev-", "rec-"))
        and outage["statement"] == ""
        and outage["target"] == ""
    )


def test_csv_cells_from_measurements_never_start_a_formula() -> None:
    event = BlockingEvent(
        country="XX",
        asn=64500,
        target='=HYPERLINK("http://evil")',
        test_name="web_connectivity",
        method=Method.DNS,
        start=datetime(2024, 1, 1, tzinfo=UTC),
        last_blocked=datetime(2024, 1, 1, tzinfo=UTC),
        end=None,
        measurement_ids=("m1",),
        reason="r",
        fingerprint="fp",  # above the evidence bar: the statement starts with the target
    )
    row = dict(
        zip(EVENT_CSV_COLUMNS + BLOCKING_CSV_COLUMNS, blocking_csv_row(event, EVENT_CSV_COLUMNS), strict=True)
    )
    assert row["target"] == '\'=HYPERLINK("http://evil")' and row["statement"].startswith("'=HYPERLINK")
    assert BlockingItem.of(event).target == event.target  # JSON carries it as it is


# -- the dashboard ----------------------------------------------------------------------------------


def test_index_counts_ongoing_blocking_per_country(client: TestClient) -> None:
    html = client.get("/").text
    item = re.search(
        r'<li class="country[^"]*">\s*<a href="/entity/country/IR">Iran[^<]*</a>.*?</li>', html, re.S
    )
    assert item, html
    assert (
        '<a href="/entity/country/IR#blocking">1 app/website blocking event open at the end of the data</a>'
        in item.group(0)
    )
    # Italy's OONI QA scenarios are one measurement each, on one day: below the evidence bar, not counted
    italy = re.search(r'<a href="/entity/country/IT">Italy</a>.*?</li>', html, re.S)
    assert italy and "blocking event" not in italy.group(0)
    assert "<script" not in html


def test_country_page_lists_blocking_with_statements(client: TestClient) -> None:
    html = client.get("/entity/country/IR").text
    assert '<h2 id="blocking">App and website blocking</h2>' in html
    assert f'<span class="statement">{IRAN_STATEMENT}</span>' in html
    assert "OONI fingerprint ooni.ir_10dot10_ipv4_1" in html
    assert INDONESIA_STATEMENT not in html  # only Iran's
    indonesia = client.get("/entity/country/ID").text
    assert INDONESIA_STATEMENT in indonesia and IRAN_STATEMENT not in indonesia
    network = client.get("/entity/network/AS197207").text  # a network lists its own
    assert IRAN_STATEMENT in network and 'id="blocking"' in network


def test_blocking_text_from_measurements_is_escaped(shared_data: Path, tmp_path: Path) -> None:
    """A measurement whose URL and network name carry markup: the page shows it as text."""
    record = json.loads((shared_data / FASTPATH / IRAN_FILE).read_text())
    record["input"] = "https://www.facebook.com/<script>alert('x')</script>&\"q\"\u202egnp.exe"
    record["probe_network_name"] = "<b onmouseover=alert(1)>net</b>"
    record["report_id"] = "evil"
    evil = tmp_path / "evil.json"
    evil.write_text(json.dumps(record))
    db = tmp_path / "evil.duckdb"
    _ingest(db, [evil])
    with TestClient(create_app(db, None)) as c:
        (item,) = data(c, "/api/v1/blocking")
        assert item["target"] == record["input"] and item["method"] == "dns"  # JSON: as measured
        html = c.get("/entity/country/IR").text
        network = c.get("/entity/network/AS197207").text
    for page in (html, network):
        assert "<script" not in page and "<b " not in page and "\u202e" not in page
        assert (
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#34;q&#34;\ufffdgnp.exe blocked on AS197207"
            in page
        )
