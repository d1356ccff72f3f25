"""`lightsout serve` is one process: the JSON API and the dashboard over the same store."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from lightsout.api.app import create_app
from lightsout.detect.run import detect_batch
from lightsout.ingest import ingest_file
from lightsout.store import open_store


def test_api_and_dashboard_share_one_app(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    store = open_store(db)
    ingest_file(store, shared_data / "monash-ip-observatory" / "ven-2019-07-22_gif.csv")
    detect_batch(store)
    store.close()
    with TestClient(create_app(db, None)) as client:
        events = client.get("/api/v1/events", params={"country": "VE", "scope": "national"}).json()["data"]
        assert len(events) == 1
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Venezuela" in page.text
        event_page = client.get(f"/event/{events[0]['event_id']}")
        assert event_page.status_code == 200 and "Venezuela" in event_page.text
        assert client.get("/feed.atom").text.count("<entry>") >= 1
