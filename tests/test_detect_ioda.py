"""Detection on IODA's signals, through the real path: ingest of a saved IODA signals/raw response
-> store -> detect -> events, scored against the labelled windows recomputed here independently.

Iraq, August 2023 (../shared/data/ioda/iraq-2023-08-exams, README there): 8 exam mornings,
01:00-05:00 UTC. The data begin one day before the first morning: that morning is judged on a
short (one-day) history.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lightsout.detect.run import detect_batch
from lightsout.detect.service import list_events
from lightsout.ingest import ingest_file
from lightsout.model import FusionPattern, SignalKind
from lightsout.store import Store, open_store

IRAQ = Path("ioda") / "iraq-2023-08-exams"
SIGNALS = IRAQ / "signals-raw-country-IQ-2023-08-20_2023-08-30.json"


def _labels(shared_data: Path) -> list[tuple[datetime, datetime]]:
    with (shared_data / IRAQ / "labels.csv").open(encoding="utf-8") as handle:
        return [
            (datetime.fromisoformat(r["start_utc"]), datetime.fromisoformat(r["end_utc"]))
            for r in csv.DictReader(handle)
        ]


@pytest.fixture(scope="module")
def iraq(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("iraq") / "iraq.duckdb"
    store = open_store(db)
    try:
        ingest_file(store, shared_data / SIGNALS)
        detect_batch(store)
    finally:
        store.close()
    return db


def test_iraq_exam_mornings_are_one_recurring_outage(iraq: Path, shared_data: Path) -> None:
    labels = _labels(shared_data)
    assert len(labels) == 8
    store = open_store(iraq, read_only=True)
    try:
        events = [e for e in list_events(store) if e.entity_id == "country/IQ"]
    finally:
        store.close()
    # one recurring event, not learnt as the new normal: every morning is an occurrence
    (event,) = events
    assert event.schedule is not None and event.schedule.time_zone == "Asia/Baghdad"
    assert event.schedule.start_local == "04:00"  # 01:00 UTC
    assert len(event.occurrences) == event.schedule.days == 8
    for (start, end), occurrence in zip(labels, event.occurrences, strict=True):
        assert abs(occurrence.start - start) <= timedelta(minutes=15), (start, occurrence)
        assert occurrence.start < end and occurrence.end > start
        # the detected cut ends when active probing has recovered: within an hour of the label
        assert end <= occurrence.end <= end + timedelta(hours=1)
    # routes were withdrawn as probing fell: both saw it, and the event says so
    seen = {e.signal for e in event.evidence}
    assert {SignalKind.BGP_SLASH24S, SignalKind.PROBING_UP_SLASH24S} <= seen
    assert event.pattern == FusionPattern.ROUTES_WITHDRAWN
    # the first morning had one day of history: lower confidence, and said
    assert event.history_days is not None and event.history_days <= 1.0
    assert any("short history" in reason for reason in event.confidence_reasons)


def test_iraq_no_event_outside_the_mornings(iraq: Path, shared_data: Path) -> None:
    labels = _labels(shared_data)
    store = open_store(iraq, read_only=True)
    try:
        events = list_events(store)
    finally:
        store.close()
    intervals = [
        (o.start, o.end) for e in events for o in (e.occurrences or ())
    ] + [(e.start, e.end or e.start) for e in events if not e.occurrences]
    outside = [i for i in intervals if not any(i[0] < end and i[1] > start for start, end in labels)]
    assert outside == []


def test_short_history_truncated_iraq(shared_data: Path, store: Store, tmp_path: Path) -> None:
    """The same data cut to start four hours before the first morning (21 August): that morning is
    judged on a trailing median of four hours, the next on one day, both at CRITICAL depth only
    (short history). Every morning is still found, onsets within the issue's 30 minutes, and the
    early ones carry a lower confidence that says why."""
    from lightsout.model import SignalPoint, SourceFile
    from lightsout.store import IngestBatch

    scratch = open_store(tmp_path / "full.duckdb")
    try:
        ingest_file(scratch, shared_data / SIGNALS)
        keys = [s.key for s in scratch.series()]
        points = {k: scratch.points(k) for k in keys}
        entities = scratch.entities()
    finally:
        scratch.close()
    cut = int(datetime(2023, 8, 20, 21, tzinfo=UTC).timestamp())
    kept = [
        SignalPoint(k.entity_id, k.signal, k.source, datetime.fromtimestamp(int(t), UTC), k.bin_s, float(v))
        for k, series in points.items()
        for t, v in zip(series.times_s, series.values, strict=True)
        if t >= cut
    ]
    source = SourceFile("trunc", "trunc", "test", datetime.now(UTC), len(kept), 0, len(kept))
    store.write_batch(IngestBatch(source, entities, kept))
    detect_batch(store)
    events = [e for e in list_events(store) if e.entity_id == "country/IQ"]
    starts = sorted(o.start for e in events for o in e.occurrences) + [
        e.start for e in events if not e.occurrences
    ]
    starts.sort()
    labels = [start for start, _ in _labels(shared_data)]
    assert len(starts) == len(labels) == 8
    for start, label in zip(starts, labels, strict=True):
        assert abs(start - label) <= timedelta(minutes=30), (start, label)
    first_event = min(events, key=lambda e: e.start)
    assert first_event.history_days is not None and first_event.history_days < 0.2
    assert any("short history" in reason for reason in first_event.confidence_reasons)
