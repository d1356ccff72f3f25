"""A killed `detect` never leaves half-judged alerts (issue 13): every group is judged before one
transaction replaces the alerts, so a run stopped half-way leaves the previous alerts whole; an
online round (`watch`, the service's judge) stores its alerts and detector state together."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from lightsout.detect import run as detect_run
from lightsout.detect.run import detect_batch, detect_online
from lightsout.model import Alert
from lightsout.store import Store, open_store
from lightsout.store.duckdb_store import DuckDBStore


def test_a_run_stopped_half_way_leaves_the_previous_alerts(
    iran_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "iran.duckdb"
    shutil.copy(iran_db, db)
    store = open_store(db)
    try:
        before = sorted(store.alerts(), key=lambda a: (a.entity_id, a.signal.value, a.bin_start))
        assert before
        writes: list[int] = []
        real_replace = Store.replace_alerts

        def counting_replace(self: Store, *args: object, **kwargs: object) -> None:
            writes.append(1)
            real_replace(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(type(store), "replace_alerts", counting_replace)
        real_feed = detect_run._GroupRun.feed
        fed: list[int] = []
        groups = len(detect_run.group_series(store))  # the last group's judging is interrupted

        def feed_then_die(self: detect_run._GroupRun, *args: object, **kwargs: object) -> None:
            fed.append(1)
            if len(fed) == groups:
                raise KeyboardInterrupt  # the process is stopped while judging the last group
            real_feed(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(detect_run._GroupRun, "feed", feed_then_die)
        with pytest.raises(KeyboardInterrupt):
            detect_batch(store)
        after = sorted(store.alerts(), key=lambda a: (a.entity_id, a.signal.value, a.bin_start))
        assert writes == [] and after == before
        monkeypatch.setattr(detect_run._GroupRun, "feed", real_feed)
        summary = detect_batch(store)  # run again to the end: one write, same judgement
        assert writes == [1] and summary.alerts == len(before)
        again = sorted(store.alerts(), key=lambda a: (a.entity_id, a.signal.value, a.bin_start))
        assert again == before
    finally:
        store.close()


def _key(alert: Alert) -> tuple[str, str, str, int, datetime]:
    return (alert.entity_id, alert.signal.value, alert.source, alert.bin_s, alert.bin_start)


def _fresh_copy(iran_db: Path, path: Path) -> tuple[Store, list[Alert]]:
    """Iran's data with no alerts and no detector state (what `watch` finds on its first round),
    and the alerts the batch run had stored (an uninterrupted online round writes the same:
    tests/test_detect.py::test_batch_and_online_agree_on_real_data)."""
    shutil.copy(iran_db, path)
    store = open_store(path)
    judged = store.alerts()
    store.replace_alerts([s.key for s in store.series()], None, None, [])
    return store, judged


def test_an_online_round_killed_between_alerts_and_state_is_judged_again_whole(
    iran_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`watch` / the service's judge: a round writes its alerts, then the detector state. A kill
    between the two must not leave the alerts without the state (the next round would judge the
    same bins again) nor the state without the alerts (they would be lost)."""
    store, expected = _fresh_copy(iran_db, tmp_path / "killed.duckdb")
    assert expected and len({_key(a) for a in expected}) == len(expected)
    try:
        groups = [g.group_id for g in detect_run.group_series(store)]
        written: list[int] = []
        real_insert = DuckDBStore._insert_alerts

        def insert_then_count(self: DuckDBStore, alerts: list[Alert]) -> None:
            real_insert(self, alerts)
            written.append(len(alerts))

        def killed(self: DuckDBStore, group_id: str, payload: bytes) -> None:
            raise KeyboardInterrupt  # the process dies after the alerts, before the state

        monkeypatch.setattr(DuckDBStore, "_insert_alerts", insert_then_count)
        monkeypatch.setattr(DuckDBStore, "_upsert_detector_state", killed)
        with pytest.raises(KeyboardInterrupt):
            detect_online(store)
        assert written == [len(expected)]  # the alerts were written before the kill...
        assert store.alerts() == []  # ...and are not there: the round is undone whole
        assert all(store.load_detector_state(g) is None for g in groups)

        monkeypatch.undo()
        resumed = detect_online(store)  # the restart judges the same bins from the same state
        assert resumed.alerts == len(expected)
        assert store.alerts() == expected  # none lost, none doubled
        assert all(store.load_detector_state(g) is not None for g in groups)
        again = detect_online(store)  # and the round after has nothing new to judge
        assert (again.bins, again.alerts) == (0, 0) and store.alerts() == expected
    finally:
        store.close()
