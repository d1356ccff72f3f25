"""Is Lightsout's own view current? Judged from the stored health of its live sources only.

A source that is failing, rate-limited or late is a gap in *our* data, never an outage of the
country it covers. When every source is failing, Lightsout itself is offline; when none is fresh,
or the service has stopped checking them (no attempt for a while past the time it planned), its
view is stale. Served by ``GET /api/v1/sources`` and shown as a banner on every dashboard page.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lightsout.model import Checkpoint, HealthState, SourceHealth

if TYPE_CHECKING:
    from lightsout.store import Store

# How long past its planned next attempt a source may go unchecked before we call the service stopped.
GRACE = timedelta(minutes=10)


class ViewState(enum.StrEnum):
    FILES = "files"  # no live source configured: the store holds what was ingested from files
    LIVE = "live"  # every source fresh
    PARTIAL = "partial"  # some sources are a gap (late, failing, rate-limited)
    STALE = "stale"  # no source is fresh, or the service stopped checking them
    OFFLINE = "offline"  # every source is failing: Lightsout itself cannot see


@dataclass(frozen=True, slots=True)
class Gap:
    """A span a source's archive did not serve (e.g. MRT update files missing): data we lack, never
    an outage. ``where``: the part of the source it concerns (a collector), if any."""

    start: datetime
    end: datetime
    missing: int | None  # files (or items) missing, when the source counts them
    where: str | None


@dataclass(frozen=True, slots=True)
class SourceGaps:
    count: int  # every gap the source's follow stream has recorded
    latest: Gap | None  # the one that ends last

    def describe(self) -> str:
        if self.latest is None:
            return f"{self.count} gap(s)"
        g = self.latest
        where = f"{g.where} " if g.where else ""
        missing = f", {g.missing} file(s) missing" if g.missing is not None else ""
        span = f"{g.start:%Y-%m-%d %H:%M}..{g.end:%Y-%m-%d %H:%M} UTC"
        return f"{self.count} gap(s), latest {where}{span}{missing}"


def gaps_of(checkpoint: Checkpoint | None) -> SourceGaps | None:
    """The gaps a stream's checkpoint records, None when it records none.

    The connector contract's convention (:mod:`lightsout.sources.connector`): a cursor that is a
    JSON object may list ``"gaps": [{"from", "to", "missing"?, "collector"?}]`` (the most recent
    ones) and count them all in ``"gaps_total"``. Cursors of other shapes have no gaps."""
    if checkpoint is None:
        return None
    try:
        body = json.loads(checkpoint.cursor)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("gaps"), list) or not body["gaps"]:
        return None
    kept: list[Gap] = []
    for entry in body["gaps"]:
        try:
            missing = entry.get("missing")
            kept.append(Gap(_utc(entry["from"]), _utc(entry["to"]),
                            int(missing) if missing is not None else None,
                            str(entry["collector"]) if entry.get("collector") else None))  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # an entry of another shape: counted, not described
    total = body.get("gaps_total")
    count = total if isinstance(total, int) and total >= len(body["gaps"]) else len(body["gaps"])
    return SourceGaps(count, max(kept, key=lambda g: (g.end, g.start), default=None))


def source_gaps(store: Store, sources: list[str]) -> dict[str, SourceGaps]:
    """Per source, the gaps its follow stream recorded (sources without any are left out)."""
    found = {name: gaps_of(store.load_checkpoint(name, "follow")) for name in sources}
    return {name: gaps for name, gaps in found.items() if gaps is not None}


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Freshness:
    state: ViewState
    message: str  # one sentence for people
    newest_data: datetime | None  # the newest data time of any live source
    sources: tuple[SourceHealth, ...]
    gaps: Mapping[str, SourceGaps] = field(default_factory=dict)  # per source, the archive gaps recorded


_FAILED = (HealthState.FAILING, HealthState.RATE_LIMITED)


def freshness(
    health: list[SourceHealth], now: datetime | None = None, gaps: Mapping[str, SourceGaps] | None = None
) -> Freshness:
    """Lightsout's own view from its sources' health; ``gaps`` (:func:`source_gaps`) are carried
    along for display: a gap is missing data, it changes neither the view's state nor any event."""
    view = _freshness(health, now or datetime.now(UTC))
    return Freshness(view.state, view.message, view.newest_data, view.sources, dict(gaps or {}))


def _freshness(health: list[SourceHealth], now: datetime) -> Freshness:
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
