"""Property-based fuzzing of every reader through the whole ingest (tests/fuzz/strategies.py):
whatever the file, ingesting it works with skips or fails with one line, and what is stored
keeps the bounds. Bounded for CI: LIGHTSOUT_FUZZ_EXAMPLES examples per reader (default 60, MRT
a quarter of it: each MRT file goes through pybgpkit-parser); bench/fuzz_readers.py runs longer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from lightsout.store import Store, open_store

from .harness import ingest_one, stored_points_within_bounds
from .strategies import READERS

EXAMPLES = int(os.environ.get("LIGHTSOUT_FUZZ_EXAMPLES", "60"))
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb")
    yield store
    store.close()


def _fuzz(reader: str, store: Store, examples: int) -> None:
    strategy, name = READERS[reader]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=HEALTH)
    @given(strategy)
    def check(data: bytes) -> None:
        ingest_one(store, reader, name, data)

    check()
    stored_points_within_bounds(store)


@pytest.mark.parametrize("reader", ["monash", "ooni", "ioda"])
def test_reader_survives_hostile_files(reader: str, fuzz_store: Store) -> None:
    _fuzz(reader, fuzz_store, EXAMPLES)


def test_mrt_reader_survives_mutated_files(fuzz_store: Store) -> None:
    _fuzz("mrt", fuzz_store, max(5, EXAMPLES // 4))


def test_seeds_are_readable(fuzz_store: Store) -> None:
    """The unmutated seeds ingest: the fuzzers start from files the readers accept."""
    seeds = Path(__file__).parent / "seeds"
    assert ingest_one(fuzz_store, "ooni", "r.json", (seeds / "ooni-report1.json").read_bytes()) != "refused"
    assert ingest_one(fuzz_store, "ioda", "s.json", (seeds / "ioda-country-bgp.json").read_bytes()) in (
        "ingested", "already")
