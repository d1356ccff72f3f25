"""Running the detector over stored signals: batch (any range) and online (resumable).

Both paths feed the same :class:`SeasonalBank.step` bin by bin, in time order, so they give the
same alerts on the same data: batch starts from an empty state at the beginning of the range
(with ``days`` of earlier data as warm-up), online loads the state the previous run saved in the
store and goes on from the first bin it has not seen.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from lightsout.detect.policy import POLICIES, AlertLevel, Direction, SignalPolicy
from lightsout.detect.seasonal import BaselineParams, SeasonalBank, StepResult
from lightsout.model import Alert, SeriesKey, SignalKind
from lightsout.store import Store


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """Series judged together: same signal, source, bin size and bin phase (one time grid)."""

    signal: SignalKind
    source: str
    bin_s: int
    phase_s: int

    @property
    def group_id(self) -> str:
        return f"{self.signal.value}|{self.source}|{self.bin_s}|{self.phase_s}"


@dataclass(slots=True)
class DetectSummary:
    series: int = 0
    bins: int = 0
    points: int = 0
    alerts: int = 0
    insufficient_history: list[str] = field(default_factory=list)
    late_points: int = 0


def _level(policy: SignalPolicy, ratio: float) -> int:
    critical = ratio <= policy.critical if policy.direction == Direction.DROP else ratio >= policy.critical
    return int(AlertLevel.CRITICAL if critical else AlertLevel.WARNING)


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def group_series(store: Store, entity_ids: set[str] | None = None) -> dict[GroupKey, list[SeriesKey]]:
    groups: dict[GroupKey, list[SeriesKey]] = defaultdict(list)
    for summary in store.series():
        key = summary.key
        if key.signal not in POLICIES or (entity_ids is not None and key.entity_id not in entity_ids):
            continue
        phase = int(summary.first.timestamp()) % key.bin_s
        groups[GroupKey(key.signal, key.source, key.bin_s, phase)].append(key)
    return {g: sorted(keys, key=lambda k: k.entity_id) for g, keys in sorted(groups.items())}


class _GroupRun:
    """Steps one bank through a matrix of values and collects the alerts it raises."""

    def __init__(self, group: GroupKey, keys: list[SeriesKey], bank: SeasonalBank) -> None:
        self.group = group
        self.keys = keys
        self.bank = bank
        self.alerts: list[Alert] = []

    def feed(self, times: np.ndarray, matrix: np.ndarray, emit_from_s: int | None = None) -> None:
        for j, time_s in enumerate(times):
            result = self.bank.step(int(time_s), matrix[:, j])
            if emit_from_s is None or time_s >= emit_from_s:
                self._collect(result, emit_from_s)

    def _collect(self, result: StepResult, emit_from_s: int | None) -> None:
        policy = self.bank.policy
        for i, first_s in result.backdated:
            for t in range(max(first_s, emit_from_s or first_s), result.time_s, self.bank.bin_s):
                value, baseline = self.bank.value_at(i, t)
                if np.isnan(value) or not baseline > 0:
                    continue
                self.alerts.append(self._alert(i, t, value, baseline, _level(policy, value / baseline)))
        for j in np.flatnonzero(result.levels > 0):
            self.alerts.append(
                self._alert(
                    int(j),
                    result.time_s,
                    float(result.values[j]),
                    float(result.baselines[j]),
                    int(result.levels[j]),
                )
            )

    def _alert(self, i: int, time_s: int, value: float, baseline: float, level: int) -> Alert:
        key = self.keys[i]
        return Alert(
            key.entity_id,
            key.signal,
            key.source,
            key.bin_s,
            _dt(time_s),
            value,
            baseline,
            value / baseline,
            level,
        )


def _matrix(
    store: Store, keys: list[SeriesKey], since: datetime | None, until: datetime | None
) -> tuple[np.ndarray, np.ndarray, int]:
    series = [store.points(k, since, until) for k in keys]
    if not any(s.times_s.size for s in series):
        return np.array([], dtype=np.int64), np.zeros((len(keys), 0)), 0
    times = np.unique(np.concatenate([s.times_s for s in series]))
    matrix = np.full((len(keys), times.size), np.nan)
    for i, s in enumerate(series):
        matrix[i, np.searchsorted(times, s.times_s)] = s.values
    return times, matrix, int(sum(s.times_s.size for s in series))


def detect_batch(
    store: Store,
    since: datetime | None = None,
    until: datetime | None = None,
    params: BaselineParams | None = None,
    entity_ids: set[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DetectSummary:
    """Judge every stored series over ``[since, until)`` from an empty state; replace its alerts.

    Every group is judged first and all the alerts replaced in one transaction at the end, so a run
    killed half-way leaves the previous alerts as they were, never half of them judged again.
    ``progress(series judged, series in all)`` is called before the first group and after each."""
    params = params or BaselineParams()
    summary = DetectSummary()
    warmup = since - timedelta(seconds=params.days * params.day_s + 1) if since else None
    judged: list[SeriesKey] = []
    alerts: list[Alert] = []
    groups = group_series(store, entity_ids)
    total = sum(len(keys) for keys in groups.values())
    if progress is not None:
        progress(0, total)
    for group, keys in groups.items():
        bank = SeasonalBank(len(keys), group.bin_s, POLICIES[group.signal], params)
        run = _GroupRun(group, keys, bank)
        times, matrix, points = _matrix(store, keys, warmup, until)
        run.feed(times, matrix, int(since.timestamp()) if since else None)
        judged += keys
        alerts += run.alerts
        summary.series += len(keys)
        summary.bins += int(times.size)
        summary.points += points
        summary.alerts += len(run.alerts)
        summary.insufficient_history += _short(keys, matrix, bank)
        if progress is not None:
            progress(summary.series, total)
    if judged:
        store.replace_alerts(judged, since, until, alerts)
    return summary


def judge_alerts(
    store: Store, entity_ids: set[str] | None = None, params: BaselineParams | None = None
) -> list[Alert]:
    """The alerts ``detect_batch`` would store for these entities, without writing them (to score a
    read-only store)."""
    params = params or BaselineParams()
    alerts: list[Alert] = []
    for group, keys in group_series(store, entity_ids).items():
        run = _GroupRun(group, keys, SeasonalBank(len(keys), group.bin_s, POLICIES[group.signal], params))
        times, matrix, _ = _matrix(store, keys, None, None)
        run.feed(times, matrix)
        alerts += run.alerts
    return alerts


def detect_online(
    store: Store, params: BaselineParams | None = None, stop: Callable[[], bool] | None = None
) -> DetectSummary:
    """Judge the bins that arrived since the last call, from the state saved in the store.

    The round is stored in one transaction at the end (:meth:`Store.save_judgement`): the alerts
    of every group judged with every such group's new state. A round killed before that leaves
    the store as the previous round left it, and the next one judges the same bins from the same
    state, so no alert is lost and none is written twice (nor is a group's state ever ahead of its
    alerts). ``stop``: asked before each series group; once true the groups judged so far are
    saved and the call returns (the next call goes on with the groups left)."""
    params = params or BaselineParams()
    summary = DetectSummary()
    alerts: list[Alert] = []
    states: dict[str, bytes] = {}
    for group, keys in group_series(store).items():
        if stop is not None and stop():
            break
        saved = store.load_detector_state(group.group_id)
        bank, known = _restore(saved, group, params) if saved else (None, [])
        if bank is None or known != keys:
            bank, known = _grow(bank, known, keys, group, params)
        run = _GroupRun(group, keys, bank)
        since = _dt(bank.next_bin * bank.bin_s) if bank.next_bin is not None else None
        times, matrix, points = _matrix(store, keys, since, None)
        run.feed(times, matrix)
        alerts += run.alerts
        states[group.group_id] = _dump(bank, keys)
        summary.series += len(keys)
        summary.bins += int(times.size)
        summary.points += points
        summary.alerts += len(run.alerts)
    store.save_judgement(alerts, states)
    return summary


def _short(keys: list[SeriesKey], matrix: np.ndarray, bank: SeasonalBank) -> list[str]:
    needed = max(3, round(bank.params.fallback_hours * 3600 / bank.bin_s))  # not even a fallback
    return [k.entity_id for i, k in enumerate(keys) if np.count_nonzero(~np.isnan(matrix[i])) <= needed]


# -- state in the store ---------------------------------------------------------------------------

_ARRAYS = ("smooth", "history", "baseline_ring", "young_ring", "value_ring", "cusum", "run_start", "alarmed")


def _dump(bank: SeasonalBank, keys: list[SeriesKey]) -> bytes:
    buffer = io.BytesIO()
    meta = {"keys": [k.entity_id for k in keys], "next_bin": bank.next_bin, "bin_s": bank.bin_s}
    np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), **{a: getattr(bank, a) for a in _ARRAYS})
    return buffer.getvalue()


def _restore(
    payload: bytes, group: GroupKey, params: BaselineParams
) -> tuple[SeasonalBank | None, list[SeriesKey]]:
    data = np.load(io.BytesIO(payload), allow_pickle=False)
    meta = json.loads(str(data["meta"]))
    keys = [SeriesKey(e, group.signal, group.source, group.bin_s) for e in meta["keys"]]
    bank = SeasonalBank(len(keys), group.bin_s, POLICIES[group.signal], params)
    if any(name not in data or data[name].shape != getattr(bank, name).shape for name in _ARRAYS):
        return None, []  # parameters or layout changed: start again
    for name in _ARRAYS:
        setattr(bank, name, data[name].copy())
    bank.next_bin = meta["next_bin"]
    return bank, keys


def _grow(
    bank: SeasonalBank | None,
    known: list[SeriesKey],
    keys: list[SeriesKey],
    group: GroupKey,
    params: BaselineParams,
) -> tuple[SeasonalBank, list[SeriesKey]]:
    """Re-index a bank to ``keys``; series new to it start with an empty history."""
    fresh = SeasonalBank(len(keys), group.bin_s, POLICIES[group.signal], params)
    if bank is not None:
        where = {k: i for i, k in enumerate(known)}
        for j, key in enumerate(keys):
            if key in where:
                for name in _ARRAYS:
                    target, source = getattr(fresh, name), getattr(bank, name)
                    # per-series arrays are 1-D; rings are time-major (bins, series)
                    target[..., j] = source[..., where[key]]
        fresh.next_bin = bank.next_bin
    return fresh, keys
