"""The connector contract's shared parts: HTTP failures mapped to typed errors (against the loopback
replay server with injected faults), bounded jittered backoff, checkpoints stored with their data."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from lightsout.model import Checkpoint, HealthState, OoniMeasurement, SourceFile, SourceHealth
from lightsout.sources.connector import (
    Backoff,
    BadPayload,
    RateLimited,
    SourceUnavailable,
    http_get,
    new_client,
)
from lightsout.store import IngestBatch, Store
from replay.ooni import OoniReplay
from replay.server import Fault, ReplayServer

META = "/api/v1/measurement_meta"
UID = "20201029043459.005820_RU_webconnectivity_604f1cb2579d144d"


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer([OoniReplay()]) as srv:
        yield srv


def _get(server: ReplayServer, client: httpx.Client | None = None) -> httpx.Response:
    with client or new_client(timeout_s=5) as c:
        return http_get(c, server.url + META, [("measurement_uid", UID), ("full", "true")])


def test_recorded_answer_is_served_unchanged(server: ReplayServer, shared_data: Path) -> None:
    name = f"measurement_meta__measurement_uid-{UID}_full-true.body.json"
    recorded = shared_data / "api-samples/ooni/bodies" / name
    assert _get(server).content == recorded.read_bytes()


def test_http_500_is_a_retryable_unavailability(server: ReplayServer) -> None:
    server.inject(Fault.status_code(500, path=META))
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        _get(server)
    assert _get(server).status_code == 200  # the fault hit one request only


def test_429_carries_the_sources_retry_after(server: ReplayServer) -> None:
    server.inject(Fault.rate_limit("7", path=META))
    with pytest.raises(RateLimited) as caught:
        _get(server)
    assert caught.value.retry_after_s == 7.0


def test_retry_after_date_is_read_against_the_sources_own_clock(server: ReplayServer) -> None:
    # The source's clock runs an hour ahead; its Retry-After date is 30 s after its own Date.
    server.clock_skew_s = 3600.0
    when = email.utils.formatdate(time.time() + 3600.0 + 30.0, usegmt=True)
    server.inject(Fault.rate_limit(when, path=META))
    with pytest.raises(RateLimited) as caught:
        _get(server)
    assert caught.value.retry_after_s is not None
    assert 25.0 <= caught.value.retry_after_s <= 31.0  # not 3630 s


def test_truncated_body_is_never_returned(server: ReplayServer) -> None:
    server.inject(Fault.truncated(path=META))
    with pytest.raises(SourceUnavailable):
        _get(server)


def test_slow_body_within_the_timeout_arrives_whole(server: ReplayServer) -> None:
    server.inject(Fault.slow(0.05, path=META))
    assert b'"measurement_uid"' in _get(server).content


def test_body_slower_than_the_read_timeout_fails(server: ReplayServer) -> None:
    server.inject(Fault.slow(0.6, path=META))
    with pytest.raises(SourceUnavailable, match="timed out"):
        _get(server, new_client(timeout_s=0.3))


def test_other_4xx_is_not_retried(server: ReplayServer) -> None:
    with new_client(timeout_s=5) as client, pytest.raises(BadPayload, match="HTTP 400"):
        http_get(client, server.url + META)  # neither uid nor report_id: 400, as recorded


def test_backoff_is_jittered_bounded_and_honours_retry_after() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0.0 <= d <= 30.0 for d in delays)
    assert len(set(delays)) == len(delays)  # jittered
    assert max(delays[:3]) <= 4.0  # 1, 2, 4 s ceilings first
    assert backoff.next_delay(retry_after_s=120.0) >= 120.0  # the source's wait beats the cap
    assert Backoff(max_retry_after_s=600.0).next_delay(retry_after_s=86400.0) <= 600.0
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def _batch(key: str, cursor: str, fail: bool = False) -> IngestBatch:
    now = datetime(2026, 7, 11, tzinfo=UTC)
    source = SourceFile(key, f"https://api.ooni.org/x#{key}", "ooni-api", now, 1, 0, 0)
    measurement = OoniMeasurement(key, "web_connectivity", "0.4", "RU", 51604, now, "http://a/", "{}")
    checkpoint = Checkpoint("ooni", "follow", cursor, now, now)
    batch = IngestBatch(source, measurements=[measurement], checkpoint=checkpoint)
    if fail:
        batch.entities = [None]  # type: ignore[list-item]  # makes the write fail half-way
    return batch


def test_checkpoint_is_stored_with_its_data_or_not_at_all(store: Store) -> None:
    store.write_batch(_batch("a", '{"n": 1}'))
    assert store.load_checkpoint("ooni", "follow") == Checkpoint(
        "ooni", "follow", '{"n": 1}', datetime(2026, 7, 11, tzinfo=UTC), datetime(2026, 7, 11, tzinfo=UTC)
    )
    with pytest.raises(Exception):  # noqa: B017 - any failure inside the transaction
        store.write_batch(_batch("b", '{"n": 2}', fail=True))
    checkpoint = store.load_checkpoint("ooni", "follow")
    assert checkpoint is not None and checkpoint.cursor == '{"n": 1}'
    assert not store.has_source("b")
    assert store.load_checkpoint("ooni", "backfill/x") is None


def test_health_round_trip(store: Store) -> None:
    now = datetime(2026, 7, 11, 12, tzinfo=UTC)
    health = SourceHealth("ooni", HealthState.RATE_LIMITED, now, None, None, "HTTP 429", now, 2, -3.5)
    store.save_health(health)
    store.save_health(health)
    assert store.source_health() == [health]
