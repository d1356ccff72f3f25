"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against uvicorn on 127.0.0.1.

Opens Iran's entity page after ingesting and detecting the Monash data, checks that the national
event is listed, and that the chart is drawn: the image has loaded with a nonzero size, and a
screenshot of its box holds the series' colour, the event's shading and many non-background pixels.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

from lightsout.detect.service import list_events

if TYPE_CHECKING:
    from playwright.sync_api import Page
from lightsout.model import Scope
from lightsout.store import open_store
from lightsout.web import make_router

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (scripts/ci-system-deps.sh installs it)",
)


@pytest.fixture(scope="module")
def server(iran_db: Path) -> Iterator[str]:
    """uvicorn serving a tiny app with the dashboard router, on a free port of 127.0.0.1."""
    app = FastAPI()
    app.include_router(make_router(lambda: open_store(iran_db, read_only=True)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if uv.started:
            break
        threading.Event().wait(0.05)
    assert uv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_entity_page_lists_the_event_and_draws_the_chart(server: str, iran_db: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    store = open_store(iran_db, read_only=True)
    try:
        events = list_events(store)
        national = next(e for e in events if e.scope == Scope.NATIONAL)
    finally:
        store.close()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            response = page.goto(f"{server}/entity/country/IR", wait_until="networkidle", timeout=60_000)
            assert response is not None and response.status == 200
            assert page.title().startswith("Iran")
            # the event is listed, open at the end of the (2019) data - not "ongoing" - with a link
            link = page.locator(f"table.events a.event-link[href='/event/{national.event_id}']")
            assert link.count() == 1
            row = page.locator("table.events tr", has=page.locator(f"a[href='/event/{national.event_id}']"))
            assert "end of data" in row.inner_text() and "national" in row.inner_text()
            assert "ongoing" not in row.inner_text()
            # the chart has loaded and has a size
            chart = page.locator("img#entity-chart")
            page.wait_for_function(
                "() => { const i = document.getElementById('entity-chart'); "
                "return i.complete && i.naturalWidth > 0; }",
                timeout=60_000,
            )
            natural = chart.evaluate("i => [i.naturalWidth, i.naturalHeight]")
            assert natural[0] > 500 and natural[1] > 300
            box = chart.bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 300
            page.screenshot(path=str(tmp_path / "entity-page.png"), full_page=True)
            shot = np.asarray(Image.open(io.BytesIO(chart.screenshot())).convert("RGB")).astype(int)
            background = shot[2, 2]  # the image's own white margin
            differs = np.any(np.abs(shot - background) > 24, axis=2).mean()
            series_colour = np.all(np.abs(shot - [0x1F, 0x4E, 0x79]) < 40, axis=2).sum()
            shading = np.all(np.abs(shot - [240, 199, 199]) < 16, axis=2).mean()
            assert differs > 0.05, f"only {differs:.1%} of the chart differs from its background"
            assert series_colour > 200, "the series line is not drawn"
            assert shading > 0.05, "the event is not shaded"
            # the event page from the link: its statement and chart
            link.click()
            page.wait_for_load_state("networkidle")
            assert (
                page.locator("h1.headline")
                .inner_text()
                .startswith(
                    "Metrics show a nationwide internet shutdown in Iran since 17:30 UTC on 16 November 2019"
                )
            )
            page.wait_for_function(
                "() => { const i = document.getElementById('event-chart'); "
                "return i.complete && i.naturalWidth > 0; }",
                timeout=60_000,
            )
            _check_event_page(page, tmp_path)
            # an event seen only in one county that stayed within its own ordinary swing: not an outage
            esfahan = next(
                e for e in events if e.entity_id == "region/IR-10" and e.start.day == 13
            )
            page.goto(f"{server}/event/{esfahan.event_id}", wait_until="networkidle", timeout=60_000)
            assert page.title().startswith("Esfahan: dip within ordinary variation from 2019-11-13")
            assert page.locator("h1.headline").inner_text().startswith(
                "Metrics show no fall beyond ordinary variation in Esfahan, Iran"
            )
            assert page.locator("table.affected").count() == 0  # no county named affected
            page.screenshot(path=str(_shots(tmp_path) / "event-page-esfahan.png"), full_page=True)
        finally:
            browser.close()


def _check_event_page(page: Page, tmp_path: Path) -> None:
    """Iran's national event page, as a reader sees it: the whole headline in view above the chart,
    the chart loaded at its size with the event shaded, and open ends said as the data allow."""
    assert page.title().startswith("Iran: outage from 2019-11-16 17:30")
    headline = page.locator("h1.headline").bounding_box()
    chart = page.locator("img#event-chart")
    box = chart.bounding_box()
    assert headline is not None and box is not None
    assert headline["y"] >= 0 and headline["y"] + headline["height"] <= box["y"], "headline on the chart"
    natural = chart.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert natural[0] > 1000 and box["width"] > 1000
    assert abs(box["width"] / box["height"] - natural[0] / natural[1]) < 0.02, "the chart is distorted"
    shot = np.asarray(Image.open(io.BytesIO(chart.screenshot())).convert("RGB")).astype(int)
    assert np.all(np.abs(shot - [240, 199, 199]) < 16, axis=2).mean() > 0.05, "the event is not shaded"
    # the data end in 2019: an open end is "end of data", never "ongoing"
    ends = page.locator("table.affected td:nth-child(4)").all_inner_texts()
    assert len(ends) == 103 and ends.count("end of data") >= 100 and "ongoing" not in ends, set(ends)
    assert "ongoing" not in page.locator("main").inner_text().lower()
    page.screenshot(path=str(_shots(tmp_path) / "event-page.png"), full_page=True)


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: the test's folder, or $LIGHTSOUT_SHOTS to look at them."""
    import os

    folder = Path(os.environ.get("LIGHTSOUT_SHOTS", str(tmp_path)))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_home_page_map_coloured_by_status(server: str, tmp_path: Path) -> None:
    """The home page leads with Iran (open at the end of its 2019 data: not "ongoing") and a world map
    where Iran is red and the rest blank."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            response = page.goto(f"{server}/", wait_until="networkidle", timeout=60_000)
            assert response is not None and response.status == 200
            first = page.locator("ul.countries li").first
            assert first.inner_text().startswith("Iran") and "open at end of data" in first.inner_text()
            assert "ongoing" not in first.inner_text()
            iran = page.locator("figure.worldmap path.map.ongoing")
            assert iran.count() == 1 and iran.locator("title").text_content() == "Iran: open at end of data"
            assert page.locator("figure.worldmap path.map.blank").count() > 150
            figure = page.locator("figure.worldmap svg")
            page.screenshot(path=str(_shots(tmp_path) / "home.png"), full_page=True)
            shot = np.asarray(Image.open(io.BytesIO(figure.screenshot())).convert("RGB")).astype(int)
            red = np.all(np.abs(shot - [0xC0, 0x00, 0x00]) < 30, axis=2).sum()
            assert red > 100, "Iran is not drawn red on the map"
            page.goto(f"{server}/entity/country/IR", wait_until="networkidle", timeout=60_000)
            assert page.locator("h2#inside").count() == 1  # Iran's regional events listed on its page
            page.wait_for_function(
                "() => { const i = document.getElementById('entity-chart'); "
                "return i.complete && i.naturalWidth > 0; }",
                timeout=60_000,
            )
            page.screenshot(path=str(_shots(tmp_path) / "country-IR.png"), full_page=True)
        finally:
            browser.close()
