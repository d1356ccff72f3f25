"""Is Lightsout's own view current? Judged from the stored health of its live sources only.

A source that is failing, rate-limited or late is a gap in *our* data, never an outage of the
country it covers. When every source is failing, Lightsout itself is offline; when none is fresh,
or the service has stopped checking them (no attempt for a while past the time it planned), its
view is stale. Served by ``GET /api/v1/sources`` and shown as a banner on every dashboard page.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lightsout.model import HealthState, SourceHealth

# How long past its planned next attempt a source may go unchecked before we call the service stopped.
GRACE = timedelta(minutes=10)


class ViewState(enum.StrEnum):
    FILES = "files"  # no live source configured: the store holds what was ingested from files
    LIVE = "live"  # every source fresh
    PARTIAL = "partial"  # some sources are a gap (late, failing, rate-limited)
    STALE = "stale"  # no source is fresh, or the service stopped checking them
    OFFLINE = "offline"  # every source is failing: Lightsout itself cannot see


@dataclass(frozen=True, slots=True)
class Freshness:
    state: ViewState
    message: str  # one sentence for people
    newest_data: datetime | None  # the newest data time of any live source
    sources: tuple[SourceHealth, ...]


_FAILED = (HealthState.FAILING, HealthState.RATE_LIMITED)


def freshness(health: list[SourceHealth], now: datetime | None = None) -> Freshness:
    now = now or datetime.now(UTC)
    sources = tuple(health)
    newest = max((h.last_data for h in sources if h.last_data is not None), default=None)
    since = f" since {newest:%Y-%m-%d %H:%M} UTC" if newest is not None else ""
    if not sources:
        return Freshness(ViewState.FILES, "No live source is configured: data comes from ingested files.",
                         None, sources)
    if all(h.state == HealthState.PENDING for h in sources):
        return Freshness(
            ViewState.STALE,
            "Lightsout has not checked its live sources yet (is `lightsout run` running?).",
            newest, sources,
        )
    overdue = [h for h in sources if h.next_attempt is not None and now - h.next_attempt > GRACE]
    if len(overdue) == len(sources):
        last = max((h.checked_at for h in sources if h.checked_at is not None), default=None)
        when = f" since {last:%Y-%m-%d %H:%M} UTC" if last else ""
        return Freshness(
            ViewState.STALE,
            f"Lightsout's view is stale: it has not checked its sources{when} (is `lightsout run` running?). "
            "Missing data is a gap in Lightsout's view, not an outage.",
            newest, sources,
        )
    failed = [h for h in sources if h.state in _FAILED]
    if len(failed) == len(sources):
        return Freshness(
            ViewState.OFFLINE,
            f"Lightsout itself is offline: none of its {len(sources)} source(s) is answering; "
            f"no new data{since}. "
            "This is a gap in Lightsout's data, not an outage.",
            newest, sources,
        )
    fresh = [h for h in sources if h.state == HealthState.OK]
    newest_text = f"newest from {newest:%Y-%m-%d %H:%M} UTC" if newest is not None else "none yet"
    if not fresh:
        return Freshness(
            ViewState.STALE,
            f"Lightsout's view is stale: no source has fresh data ({newest_text}). "
            "Missing data is a gap in Lightsout's view, not an outage.",
            newest, sources,
        )
    gaps = [h for h in sources if h.state != HealthState.OK]
    if gaps:
        names = ", ".join(f"{h.source} ({h.state.value})" for h in gaps)
        return Freshness(
            ViewState.PARTIAL,
            f"Some sources are a gap in Lightsout's view: {names}. Their silence is not an outage.",
            newest, sources,
        )
    return Freshness(ViewState.LIVE, f"Live: every source is current ({newest_text}).", newest, sources)
