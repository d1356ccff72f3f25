"""A killed `detect` never leaves half-judged alerts (issue 13): every group is judged before one
transaction replaces the alerts, so a run stopped half-way leaves the previous alerts whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lightsout.detect import run as detect_run
from lightsout.detect.run import detect_batch
from lightsout.store import Store, open_store


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
