"""The HTTP API's write side: bearer token, uploads through POST /api/v1/ingest, and reads that go
on while a write runs in the same process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from lightsout.api.access import StoreAccess
from lightsout.api.app import create_app
from lightsout.cli.serve import serve
from lightsout.errors import UserError
from lightsout.ingest import ingest_file
from lightsout.store import open_store

VENEZUELA = "monash-ip-observatory/ven-2019-07-22_gif.csv"
IRAN = "monash-ip-observatory/irn-2019-11-11_gif.csv"
TOKEN = "write-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path / "api.duckdb", TOKEN)) as test_client:
        yield test_client


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    message: str = body["error"]["message"]
    return message


def test_upload_ingests_then_detects(client: TestClient, shared_data: Path) -> None:
    body = (shared_data / VENEZUELA).read_bytes()
    response = client.post("/api/v1/ingest?filename=ven.csv&detect=true", content=body, headers=AUTH)
    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert result["filename"] == "ven.csv" and result["format"] == "monash-regional"
    assert (result["records_read"], result["points_written"], result["entities_written"]) == (1469, 1581, 14)
    # Táchira's -1 at 18:00 local is outside the 0..100 index: a skip, counted.
    assert not result["already_ingested"] and result["skipped"] == [
        {"reason": "connectivity -1 is below 0", "count": 1, "first_position": "line 1311"}
    ]
    assert result["detected"]["series"] == 14 and result["detected"]["alerts"] > 0
    assert response.json()["meta"]["elapsed_s"] > 0
    # The write is visible to the next read, events included (the event cache follows writes).
    assert client.get("/api/v1/entities").json()["meta"]["total"] == 14
    [event] = client.get("/api/v1/events?scope=national").json()["data"]
    assert event["entity_id"] == "country/VE" and event["start"] == "2019-07-22T19:00:00Z"
    again = client.post("/api/v1/ingest?filename=renamed.csv", content=body, headers=AUTH).json()["data"]
    assert again["already_ingested"] and again["points_written"] == 0 and again["detected"] is None


def test_a_retried_upload_still_detects(client: TestClient, shared_data: Path, tmp_path: Path) -> None:
    """An upload killed after the ingest committed but before detection ran: the client retries,
    the file is already stored, and detection must still run (issue 13)."""
    body = (shared_data / VENEZUELA).read_bytes()
    first = client.post("/api/v1/ingest?filename=ven.csv", content=body, headers=AUTH).json()["data"]
    assert first["detected"] is None and client.get("/api/v1/events").json()["data"] == []
    retried = client.post("/api/v1/ingest?filename=ven.csv&detect=true", content=body, headers=AUTH)
    result = retried.json()["data"]
    assert result["already_ingested"] and result["points_written"] == 0
    assert result["detected"]["alerts"] > 0
    [event] = client.get("/api/v1/events?scope=national").json()["data"]
    assert event["entity_id"] == "country/VE"


def test_ingest_without_detect_leaves_events_alone(client: TestClient, shared_data: Path) -> None:
    body = (shared_data / VENEZUELA).read_bytes()
    result = client.post("/api/v1/ingest?filename=ven.csv", content=body, headers=AUTH).json()["data"]
    assert result["points_written"] == 1581 and result["detected"] is None
    assert client.get("/api/v1/events").json()["data"] == []


def test_missing_token_is_401(client: TestClient) -> None:
    response = client.post("/api/v1/ingest?filename=ven.csv", content=b"x")
    assert "missing bearer token" in error_of(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    other_scheme = client.post(
        "/api/v1/ingest?filename=ven.csv", content=b"x", headers={"Authorization": TOKEN}
    )
    error_of(other_scheme, 401)


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}x".encode(),
        b"Bearer x",
        f"Bearer {TOKEN[:-1]}".encode(),
        "Bearer é".encode(),
        b"Bearer \xff",
    ],
)
def test_wrong_token_is_403(client: TestClient, header: bytes) -> None:
    response = client.post(
        "/api/v1/ingest?filename=ven.csv", content=b"x", headers={b"Authorization": header}
    )
    assert error_of(response, 403) == "wrong token"


def test_token_is_checked_before_anything_else(client: TestClient) -> None:
    error_of(client.post("/api/v1/ingest?filename=../../x", content=b""), 401)
    error_of(client.post("/api/v1/ingest", headers={"Authorization": "Bearer nope"}), 403)


def test_without_a_configured_token_writes_are_disabled(tmp_path: Path) -> None:
    db = tmp_path / "ro.duckdb"
    open_store(db).close()
    with TestClient(create_app(db, None)) as client:
        for headers in [{}, AUTH]:
            response = client.post("/api/v1/ingest?filename=ven.csv", content=b"x", headers=headers)
            assert "writes are disabled" in error_of(response, 403)
        assert client.get("/api/v1/entities").status_code == 200


def test_a_read_only_server_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no store here yet"):
        create_app(tmp_path / "missing.duckdb", None)


def test_short_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="at least 16 characters"):
        create_app(tmp_path / "db.duckdb", "secret")


@pytest.mark.parametrize(
    ("query", "body", "parameter", "message"),
    [
        ("filename=ven.csv", b"", "body", "ven.csv: byte 0: empty file"),
        ("filename=bad.csv", b"a,b,c\n1,2,3\n", "body", "bad.csv: line 1: unknown columns"),
        ("filename=blob.bin", b"\x00\x01\x02", "body", "cannot tell the format"),
        ("filename=../../etc/passwd", b"x", "filename", "filename: String should match pattern"),
        ("filename=.hidden.csv", b"x", "filename", "filename: String should match pattern"),
        ("", b"x", "filename", "filename: required"),
        ("filename=ven.csv&format=excel", b"x", "format", "'ioda', 'monash', 'mrt' or 'ooni'"),
        ("filename=ven.csv&detect=perhaps", b"x", "detect", "valid boolean"),
    ],
)
def test_bad_upload_is_a_400(
    client: TestClient, query: str, body: bytes, parameter: str, message: str
) -> None:
    response = client.post(f"/api/v1/ingest?{query}", content=body, headers=AUTH)
    assert message in error_of(response, 400)
    assert response.json()["error"]["parameter"] == parameter
    assert client.get("/api/v1/entities").json()["meta"]["total"] == 0  # nothing written


def test_upload_too_large_is_a_413(tmp_path: Path, shared_data: Path) -> None:
    with TestClient(create_app(tmp_path / "db.duckdb", TOKEN, max_upload_bytes=1000)) as client:
        body = (shared_data / VENEZUELA).read_bytes()
        response = client.post("/api/v1/ingest?filename=ven.csv", content=body, headers=AUTH)
        assert "at most 1,000" in error_of(response, 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
            yield body[:800]
            yield body[800:1600]

        streamed = client.post("/api/v1/ingest?filename=ven.csv", content=chunks(), headers=AUTH)
        assert "larger than 1,000" in error_of(streamed, 413)
        assert client.get("/api/v1/entities").json()["meta"]["total"] == 0


def test_reads_go_on_during_a_write_and_never_see_half_of_it(tmp_path: Path, shared_data: Path) -> None:
    """One ingest (Iran: 23,192 points) on the write connection while another thread keeps
    reading: each query sees the store before or after the ingest's transaction, never inside it.
    (Two queries of one request may fall on either side of the commit: see docs/api.md.)"""
    access = StoreAccess(tmp_path / "db.duckdb", writable=True, readers=2)
    try:
        access.write(lambda store: ingest_file(store, shared_data / VENEZUELA))
        seen: set[tuple[int, int]] = set()
        done = threading.Event()

        def ingest_iran() -> None:
            try:
                access.write(lambda store: ingest_file(store, shared_data / IRAN))
            finally:
                done.set()

        def look() -> tuple[int, int]:
            with access.reading() as store:
                series = store.series()  # one query: points joined with entities
            return len({s.key.entity_id for s in series}), sum(s.points for s in series)

        writer = threading.Thread(target=ingest_iran)
        writer.start()
        while not done.is_set():
            seen.add(look())
        writer.join()
        after = look()
        assert after[1] == 1581 + 23192
        assert seen | {after} == {(14, 1581), after}
    finally:
        access.close()


def test_serve_command_help() -> None:
    result = CliRunner().invoke(serve, ["--help"])
    assert result.exit_code == 0
    for option in ["--host", "--port", "--db", "--token", "LIGHTSOUT_TOKEN", "127.0.0.1", "8000"]:
        assert option in result.output


def test_a_bug_is_a_500_envelope_without_internals(tmp_path: Path) -> None:
    app = create_app(tmp_path / "db.duckdb", TOKEN)

    def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/api/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/broken")
    assert error_of(response, 500) == "internal error; the server log has the details"
    assert "secret" not in response.text
