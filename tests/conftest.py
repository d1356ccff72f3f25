"""Shared test fixtures: the real data in ../shared/data and a fresh store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lightsout.probe.config import Endpoint
from lightsout.store import Store, open_store
from netlab.loopback import serve_loopback

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data not found at {SHARED_DATA}: clone the repository beside ../shared")
    return SHARED_DATA


@pytest.fixture(scope="session")
def iran_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store file holding Iran's November 2019 data, judged by the detector: built once for the
    whole run (nine modules read it; building it took 5-8 s each). Read it only (``read_only=True``
    or read-only commands); a test that writes copies it first. The file's digest is checked at the
    end, so a test that wrote to it fails the run."""
    from lightsout.detect.run import detect_batch
    from lightsout.ingest import ingest_file, sha256_of

    db = tmp_path_factory.mktemp("iran") / "iran.duckdb"
    store = open_store(db)
    try:
        ingest_file(store, shared_data / "monash-ip-observatory" / "irn-2019-11-11_gif.csv")
        detect_batch(store)
    finally:
        store.close()
    digest = sha256_of(db)
    yield db
    assert sha256_of(db) == digest, f"a test wrote to the shared {db}: copy it before writing"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "test.duckdb")
    yield s
    s.close()


@pytest.fixture
def loopback_site(tmp_path: Path) -> Iterator[tuple[Endpoint, int]]:
    """A resolver and a web server on 127.0.0.1 (ephemeral ports): ``site.test`` -> 127.0.0.1, a
    page titled "Loopback site". Yields (resolver endpoint, web port)."""
    zone = {"site.test": {"A": ["127.0.0.1"]}}
    with serve_loopback(tmp_path, zone, {"site.test": {"title": "Loopback site", "size": 2000}}) as site:
        yield site
