"""How low a series ordinarily swings, so that words match depth *beyond noise* (docs/reporting.md).

A county whose connectivity index swings between 50 and 100 all week is not "affected" when it
touches 55% of its baseline during a hurricane: it does that every day. For each series the
**ordinary low** is ``100 x p5 / median`` of its values over the ``NOISE_DAYS`` before the event
(the whole series outside the event when there are fewer than ``MIN_BINS`` such bins). A level
is *beyond noise* when it is below ``NOISE_FACTOR`` x the ordinary low; a series that ordinarily
swings down to 67% must fall below 53% to count.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np

from lightsout.model import Event, SignalKind
from lightsout.store import Store

NOISE_DAYS = 7
MIN_BINS = 24
NOISE_FACTOR = 0.8
LOW_PERCENTILE = 5.0


def ordinary_low_pct(values: np.ndarray) -> float | None:
    """100 x (5th percentile / median) of ``values``; None when there is no positive median."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return None
    median = float(np.median(finite))
    if median <= 0:
        return None
    return 100.0 * float(np.percentile(finite, LOW_PERCENTILE)) / median


def beyond_noise(level_pct: float, low_pct: float | None) -> bool:
    """Whether ``level_pct`` is a fall beyond the series' ordinary swing (True when unknown)."""
    return low_pct is None or level_pct < NOISE_FACTOR * low_pct


def noise_floors(
    store: Store,
    entity_ids: Iterable[str],
    signals: set[SignalKind],
    start: datetime,
    end: datetime | None,
) -> dict[str, float]:
    """The ordinary low (% of median) per entity, of its first stored series of one of ``signals``,
    measured before ``start`` (see the module docstring); entities without one are left out."""
    floors: dict[str, float] = {}
    for entity_id in entity_ids:
        summaries = [s for s in store.series(entity_id) if s.key.signal in signals]
        if not summaries:
            continue
        key = min(summaries, key=lambda s: (s.key.signal.value, s.key.source, s.key.bin_s)).key
        before = store.points(key, since=start - timedelta(days=NOISE_DAYS), until=start).values
        if before.size < MIN_BINS:
            whole = store.points(key)
            start_s = start.timestamp()
            end_s = end.timestamp() if end is not None else float("inf")
            outside = (whole.times_s < start_s) | (whole.times_s >= end_s)
            before = whole.values[outside]
        low = ordinary_low_pct(before)
        if low is not None:
            floors[entity_id] = low
    return floors


def event_noise(store: Store, event: Event) -> dict[str, float]:
    """Ordinary lows of the event's entity and of every affected sub-entity, for its signals."""
    signals = {e.signal for e in event.evidence} or {SignalKind.CONNECTIVITY_INDEX}
    ids = [event.entity_id, *(a.entity_id for a in event.affected)]
    return noise_floors(store, ids, signals, event.start, event.end)
