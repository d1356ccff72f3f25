"""Lightsout's own freshness from its sources' health: gaps are never outages; every source failing
is Lightsout offline; a service that stopped checking is stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lightsout.model import HealthState, SourceHealth
from lightsout.service.freshness import ViewState, freshness

NOW = datetime(2026, 7, 11, 12, tzinfo=UTC)


def _h(name: str, state: HealthState, next_in: timedelta = timedelta(minutes=5)) -> SourceHealth:
    data = NOW - timedelta(minutes=20)
    return SourceHealth(name, state, NOW, NOW, data, None if state == HealthState.OK else "HTTP 503",
                        NOW + next_in)


def test_states() -> None:
    assert freshness([], NOW).state == ViewState.FILES
    assert freshness([_h("a", HealthState.OK), _h("b", HealthState.OK)], NOW).state == ViewState.LIVE
    partial = freshness([_h("a", HealthState.OK), _h("b", HealthState.RATE_LIMITED)], NOW)
    assert partial.state == ViewState.PARTIAL and "b (rate-limited)" in partial.message
    assert "not an outage" in partial.message
    stale = freshness([_h("a", HealthState.LATE), _h("b", HealthState.FAILING)], NOW)
    assert stale.state == ViewState.STALE
    offline = freshness([_h("a", HealthState.FAILING), _h("b", HealthState.RATE_LIMITED)], NOW)
    assert offline.state == ViewState.OFFLINE and "Lightsout itself is offline" in offline.message
    assert "2026-07-11 11:40" in offline.message  # the newest data we have


def test_a_service_that_stopped_checking_is_stale_even_if_its_last_word_was_ok() -> None:
    rows = [_h("a", HealthState.OK, next_in=-timedelta(minutes=11))]
    view = freshness(rows, NOW)
    assert view.state == ViewState.STALE and "is `lightsout run` running?" in view.message
    assert freshness([_h("a", HealthState.OK, next_in=-timedelta(minutes=9))], NOW).state == ViewState.LIVE


def test_never_checked() -> None:
    pending = SourceHealth("a", HealthState.PENDING, None, None, None, None, None)
    assert freshness([pending], NOW).state == ViewState.STALE
