"""Scoring detected events against ground truth written from published reports.

A case file (``tests/ground_truth/*.yaml``, schema in its README) names a data file and what the
reports say: events with an onset (a time and a tolerance, or a window), an end or "still open
at the end of the data", a depth bound; recurring schedules; the share of regions affected; and
windows in which nothing happened (false-alarm checks). Every case is run on a fresh store with
the default parameters: the same detector for every case.

A case can also name a CSV of labelled windows (``expect.windows``, or ``lightsout evaluate
--truth FILE.csv`` on any store): each window must be found by the fused events with its onset
within a tolerance, no event of its entity may fall outside the windows, and windows marked
recurring must be occurrences of one recurring event. For those cases every signal of the
labelled entities is also run through each published method (:mod:`lightsout.detect.methods`)
and scored alone: detected / missed / false events and onset errors per signal and method.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from lightsout.attribution.places import fold, region_code
from lightsout.detect.events import make_events
from lightsout.detect.methods import Method, alert_runs, judge
from lightsout.detect.policy import POLICIES
from lightsout.detect.run import detect_batch, judge_alerts
from lightsout.detect.service import data_ends, list_events
from lightsout.detect.truth import Interval, Score, TruthWindow, read_truth_csv, score
from lightsout.errors import UserError
from lightsout.ingest import ingest_file
from lightsout.model import Entity, EntityKind, Event, EventKind, Scope, SeriesKey
from lightsout.store import Store, open_store


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation of a case and how the detector did."""

    case: str
    check: str  # what was checked, e.g. "event country/IR"
    passed: bool
    detected: bool | None = None
    onset_error_h: float | None = None
    end_error_h: float | None = None
    depth_pct: float | None = None  # detected lowest level, % of ordinary
    depth_bound_pct: float | None = None
    false_alarms: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MethodScore:
    """One signal of one labelled entity, judged alone by one method."""

    case: str
    entity_id: str
    series: str  # "<signal>/<source>"
    method: str  # a :class:`Method`, or "fused events" (Lightsout's events from every signal)
    score: Score


@dataclass(slots=True)
class CaseResult:
    case: str
    title: str
    checks: list[Check] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    method_scores: list[MethodScore] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _t(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600.0, 2)


def _entity_id(spec: dict[str, Any], country: str) -> str:
    kind = spec.get("kind")
    if kind == "country":
        return f"country/{spec['code']}"
    if kind == "region":
        return f"region/{spec['code']}"
    if kind == "county":
        region = spec.get("region") or region_code(country, spec["region_name"])[0]
        return f"county/{region}/{fold(spec['name'])}"
    if kind == "network":
        return f"network/{spec['code']}"
    raise UserError(f"ground truth: unknown entity kind {kind!r}")


@dataclass(frozen=True, slots=True)
class _Sighting:
    """An entity seen in an event: as the event's own entity, or as an affected sub-entity."""

    event: Event
    start: datetime
    end: datetime | None  # None: still going on at the end of the data
    min_pct: float


def _sightings(events: list[Event], entity_id: str) -> list[_Sighting]:
    found: list[_Sighting] = []
    for event in events:
        if event.kind != EventKind.OUTAGE:
            continue
        intervals = (
            [(o.start, o.end, 100 * o.min_ratio) for o in event.occurrences]
            if event.occurrences
            else [(event.start, event.end, event.min_level_pct)]
        )
        if event.entity_id == entity_id:
            found += [_Sighting(event, s, e, m) for s, e, m in intervals]
        for affected in event.affected:
            if affected.entity_id == entity_id:
                found.append(_Sighting(event, affected.start, affected.end, 100 * affected.min_ratio))
    return found


NEAR = timedelta(hours=12)


def _overlaps(s: _Sighting, lo: datetime, hi: datetime) -> bool:
    return s.start < hi and (s.end is None or s.end > lo)


def evaluate_case(path: Path, data_dir: Path) -> CaseResult:
    truth = yaml.safe_load(path.read_text(encoding="utf-8"))
    case = str(truth["id"])
    country = str(truth["country"]["iso_3166_1"]) if isinstance(truth.get("country"), dict) else ""
    result = CaseResult(case, str(truth.get("title", case)))
    data_path = data_dir / truth["data_file"]["path"]
    expect = truth.get("expect") or {}
    with tempfile.TemporaryDirectory(prefix="lightsout-eval-") as tmp:
        store = open_store(Path(tmp) / "eval.duckdb")
        try:
            ingest_file(store, data_path)
            detect_batch(store)
            events = list_events(store)
            entities = {e.entity_id: e for e in store.entities()}
            if expect.get("windows"):
                spec = expect["windows"]
                windows = read_truth_csv(path.parent / spec["file"])
                tolerance = float(spec.get("onset_tolerance_minutes", 30))
                windowed = evaluate_windows(case, store, windows, tolerance)
                result.checks += windowed.checks
                result.method_scores += windowed.method_scores
        finally:
            store.close()
    result.events = events
    window = [_t(x) for x in truth["data_file"].get("evaluation_window_utc", [None, None])]
    data_end = window[1]
    for spec in expect.get("events") or []:
        result.checks.append(_check_event(case, spec, country, events, data_end))
    for spec in expect.get("recurring") or []:
        result.checks.append(_check_recurring(case, spec, country, events))
    if expect.get("regions"):
        result.checks.append(_check_regions(case, expect["regions"], country, events, entities))
    scope = expect.get("scope") or {}
    if scope.get("no_national_event"):
        national = [e for e in events if e.scope == Scope.NATIONAL and e.kind == EventKind.OUTAGE]
        result.checks.append(Check(case, "no national event", not national, false_alarms=len(national)))
    for spec in expect.get("no_events") or []:
        result.checks.append(_check_quiet(case, spec, country, events, entities))
    if "max_outage_events" in expect:
        outages = [e for e in events if e.kind == EventKind.OUTAGE]
        limit = int(expect["max_outage_events"])
        result.checks.append(
            Check(
                case,
                f"at most {limit} outage events",
                len(outages) <= limit,
                false_alarms=max(0, len(outages) - limit),
                detail=f"{len(outages)} outage events",
            )
        )
    return result


def _check_event(
    case: str, spec: dict[str, Any], country: str, events: list[Event], data_end: datetime | None
) -> Check:
    entity_id = _entity_id(spec["entity"], country)
    label = f"event {entity_id}" + (f" ({spec['id']})" if spec.get("id") else "")
    required = spec.get("required", True)
    onset = _t(spec.get("onset_utc"))
    tol = timedelta(hours=float(spec.get("onset_tolerance_hours", 0)))
    lo, hi = (
        [_t(x) for x in spec["onset_window_utc"]]
        if spec.get("onset_window_utc")
        else [onset - tol, onset + tol]
        if onset
        else [None, None]
    )
    assert lo is not None and hi is not None, f"{case}: {label} needs onset_utc or onset_window_utc"
    sightings = _sightings(events, entity_id)
    down = spec.get("must_be_down_utc")
    if down:
        d_lo, d_hi = _t(down[0]), _t(down[1])
        assert d_lo is not None and d_hi is not None
        sightings = [s for s in sightings if s.start <= d_lo and (s.end is None or s.end >= d_hi)]
    # The sighting that answers this report: it overlaps the onset window widened by NEAR on each side,
    # and starts nearest to the reported onset. Its onset must then fall inside the window.
    near = [s for s in sightings if _overlaps(s, lo - NEAR, hi + NEAR)]
    target = onset or lo + (hi - lo) / 2
    chosen = min(near, key=lambda s: abs(s.start - target)) if near else None
    if chosen is None:
        nearest = sorted(sightings, key=lambda s: abs(s.start - target))[:1]
        detail = (
            f"nearest onset {nearest[0].start:%Y-%m-%d %H:%M}" if nearest else "entity in no outage event"
        )
        return Check(
            case, label, not required, detected=False, detail=detail + ("" if required else " (optional)")
        )
    in_window = lo <= chosen.start <= hi
    if onset is not None:
        onset_error = _hours(chosen.start - onset)
    else:
        onset_error = 0.0 if in_window else _hours(chosen.start - (lo if chosen.start < lo else hi))
    passed = in_window
    notes = [f"onset {chosen.start:%Y-%m-%d %H:%M}" + ("" if in_window else " outside the reported window")]
    end_error: float | None = None
    if spec.get("open_at_window_end"):
        end_error = 0.0 if chosen.end is None else _hours((data_end or chosen.end) - chosen.end)
        passed &= chosen.end is None
        notes.append("open at data end" if chosen.end is None else f"ended {chosen.end:%Y-%m-%d %H:%M}")
    if spec.get("end_by_utc") and chosen.end is not None:
        end_by = _t(spec["end_by_utc"])
        assert end_by is not None
        end_error = _hours(chosen.end - end_by) if chosen.end > end_by else 0.0
        passed &= chosen.end <= end_by
    if spec.get("recovery_start_window_utc"):
        r_lo, r_hi = (_t(x) for x in spec["recovery_start_window_utc"])
        assert r_lo is not None and r_hi is not None
        ok = chosen.end is not None and r_lo <= chosen.end <= r_hi + timedelta(hours=24)
        end_error = (
            0.0
            if chosen.end is not None and r_lo <= chosen.end <= r_hi
            else (
                _hours(chosen.end - r_hi)
                if chosen.end is not None and chosen.end > r_hi
                else _hours(chosen.end - r_lo)
                if chosen.end is not None
                else None
            )
        )
        passed &= ok
        notes.append(f"recovered {chosen.end:%Y-%m-%d %H:%M}" if chosen.end else "no recovery")
    bound = spec.get("max_depth_fraction_of_baseline")
    bound_pct = 100.0 * float(bound) if bound is not None else None
    if bound_pct is not None:
        passed &= chosen.min_pct <= bound_pct
    return Check(
        case,
        label,
        passed,
        True,
        onset_error,
        end_error,
        round(chosen.min_pct, 1),
        bound_pct,
        detail="; ".join(notes),
    )


def _local(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


def _check_recurring(case: str, spec: dict[str, Any], country: str, events: list[Event]) -> Check:
    entity_id = _entity_id(spec["entity"], country)
    sched = spec["schedule_local"]
    zone = ZoneInfo(sched["timezone"])
    recurring = [e for e in events if e.entity_id == entity_id and e.schedule is not None]
    first, last = (date.fromisoformat(d) for d in spec["nights_local"])
    cover = spec.get("must_cover_local", [sched["start"], sched.get("end_earliest", sched.get("end"))])
    sightings = _sightings(events, entity_id)
    nights = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    covered = 0
    for night in nights:
        lo, hi = _local(night, cover[0], zone), _local(night, cover[1], zone)
        if any(s.start <= lo and (s.end is None or s.end >= hi) for s in sightings):
            covered += 1
    fraction = covered / len(nights)
    needed = float(spec.get("min_fraction_of_nights_detected", 1.0))
    main = max(recurring, key=lambda e: e.schedule.days if e.schedule else 0, default=None)
    passed = main is not None and fraction >= needed
    onset_error = end_error = None
    detail = f"{covered}/{len(nights)} nights covered {cover[0]}-{cover[1]} local"
    if main is not None and main.schedule is not None:
        day = date(2000, 1, 3)
        onset_error = _hours(_local(day, main.schedule.start_local, zone) - _local(day, sched["start"], zone))
        tol = float(spec.get("start_tolerance_hours", 1))
        passed &= abs(onset_error) <= tol
        end = _local(day, main.schedule.end_local, zone)
        end_lo = _local(day, sched.get("end_earliest", sched.get("end")), zone) - timedelta(hours=1)
        end_hi = _local(day, sched.get("end_latest", sched.get("end")), zone) + timedelta(hours=1)
        end_error = 0.0 if end_lo <= end <= end_hi else _hours(end - end_hi if end > end_hi else end - end_lo)
        passed &= end_lo <= end <= end_hi
        detail = (
            f"schedule {main.schedule.start_local}-{main.schedule.end_local} {main.schedule.time_zone} "
            f"x{main.schedule.days}; " + detail
        )
    return Check(
        case,
        f"recurring {entity_id}",
        passed,
        main is not None,
        onset_error,
        end_error,
        round(main.min_level_pct, 1) if main else None,
        None,
        detail=detail,
    )


def _check_regions(
    case: str, spec: dict[str, Any], country: str, events: list[Event], entities: dict[str, Entity]
) -> Check:
    lo, hi = (_t(x) for x in spec["overlap_window_utc"])
    assert lo is not None and hi is not None
    regions = [e for e in entities.values() if e.kind == EntityKind.REGION and e.country_code == country]
    hit = [r for r in regions if any(_overlaps(s, lo, hi) for s in _sightings(events, r.entity_id))]
    fraction = len(hit) / len(regions) if regions else 0.0
    needed = float(spec.get("min_fraction_affected", 1.0))
    return Check(
        case,
        "regions affected",
        fraction >= needed,
        bool(hit),
        detail=f"{len(hit)}/{len(regions)} regions ({fraction:.0%}, need {needed:.0%})",
    )


def _check_quiet(
    case: str, spec: dict[str, Any], country: str, events: list[Event], entities: dict[str, Entity]
) -> Check:
    if spec["entities"] == "all_regions_in_file":
        ids = [e.entity_id for e in entities.values() if e.kind == EntityKind.REGION]
    else:
        ids = [_entity_id(e, country) for e in spec["entities"]]
    alarms: list[str] = []
    if spec.get("window_utc"):
        lo, hi = (_t(x) for x in spec["window_utc"])
        assert lo is not None and hi is not None
        windows = [(lo, hi)]
    else:
        first, last = (date.fromisoformat(d) for d in spec["nights_local"])
        zone = ZoneInfo(_zone_of(country))
        start, end = spec["hours_local"]
        windows = [
            (_local(first + timedelta(days=i), start, zone), _local(first + timedelta(days=i), end, zone))
            for i in range((last - first).days + 1)
        ]
    for entity_id in ids:
        for lo, hi in windows:
            for s in _sightings(events, entity_id):
                if _overlaps(s, lo, hi):
                    alarms.append(f"{entity_id} {s.start:%Y-%m-%d %H:%M}")
    unique = sorted(set(alarms))
    label = "quiet: " + (spec["entities"] if isinstance(spec["entities"], str) else ", ".join(ids))[:60]
    return Check(case, label, not unique, false_alarms=len(unique), detail="; ".join(unique[:4]))


def _zone_of(country: str) -> str:
    from lightsout.attribution.timezones import country_zone

    return country_zone(country)


def _related(entity_ids: set[str], entities: dict[str, Entity]) -> set[str]:
    """The entities, their ancestors and their descendants (what folds into their events)."""
    related = set(entity_ids)
    for entity in entities.values():
        chain = [entity.entity_id]
        parent = entity.parent_id
        while parent is not None and parent in entities and parent not in chain:
            chain.append(parent)
            parent = entities[parent].parent_id
        if entity_ids & set(chain):
            related.update(chain)
    return related & set(entities)


def evaluate_windows(
    case: str, store: Store, windows: list[TruthWindow], onset_tolerance_min: float = 30.0
) -> CaseResult:
    """Score a store against labelled windows: the fused events (checks) and every signal of the
    labelled entities under every method (scores). The store is only read."""
    result = CaseResult(case, case)
    entities = {e.entity_id: e for e in store.entities()}
    wanted = {w.entity_id for w in windows}
    for entity_id in sorted(wanted - set(entities)):
        missing = Check(case, f"windows {entity_id}", False, False, detail="entity not in the store")
        result.checks.append(missing)
    related = _related(wanted & set(entities), entities)
    summaries = [s for s in store.series() if s.key.entity_id in related]

    def count_points(key: SeriesKey, start: datetime, end: datetime) -> int:
        return int(store.points(key, start, end).times_s.size)

    events = make_events(
        judge_alerts(store, related),
        {k: v for k, v in entities.items() if k in related},
        data_ends(summaries),
        None,
        summaries,
        count_points,
    )
    result.events = events
    for entity_id in sorted(wanted & set(entities)):
        own = [w for w in windows if w.entity_id == entity_id]
        sightings = _sightings(events, entity_id)
        fused = score("fused events", own, [Interval(s.start, s.end) for s in sightings])
        result.method_scores.append(MethodScore(case, entity_id, "all signals", "fused events", fused))
        worst = fused.max_abs_onset_error_min
        result.checks.append(
            Check(
                case,
                f"windows {entity_id}",
                fused.missed == 0 and worst is not None and worst <= onset_tolerance_min,
                fused.detected > 0,
                None if worst is None else round(worst / 60.0, 2),
                detail=f"{fused.detected}/{fused.windows} found, onset errors (min) "
                f"{', '.join(f'{e:+g}' for e in fused.onset_errors_min) or '-'}; tolerance "
                f"{onset_tolerance_min:g} min"
                + (f"; missed {', '.join(fused.missed_windows)}" if fused.missed_windows else ""),
            )
        )
        result.checks.append(
            Check(
                case,
                f"no event outside the windows {entity_id}",
                fused.false_events == 0,
                false_alarms=fused.false_events,
                detail="; ".join(fused.false_starts[:4]),
            )
        )
        recurring = [w for w in own if w.recurring]
        if recurring:
            result.checks.append(_check_recurring_windows(case, entity_id, recurring, events))
        result.method_scores += _method_scores(case, store, entity_id, own)
    return result


def _check_recurring_windows(
    case: str, entity_id: str, windows: list[TruthWindow], events: list[Event]
) -> Check:
    best, covered = None, 0
    for event in events:
        if event.entity_id != entity_id or event.schedule is None:
            continue
        hits = sum(
            any(o.start < w.end and o.end > w.start for o in event.occurrences) for w in windows
        )
        if hits > covered:
            best, covered = event, hits
    detail = f"{covered}/{len(windows)} labelled windows are occurrences of one recurring event"
    if best is not None and best.schedule is not None:
        s = best.schedule
        detail += f" ({s.start_local}-{s.end_local} {s.time_zone} x{s.days})"
    return Check(case, f"recurring {entity_id}", covered == len(windows), best is not None, detail=detail)


def _method_scores(case: str, store: Store, entity_id: str, windows: list[TruthWindow]) -> list[MethodScore]:
    scores: list[MethodScore] = []
    for summary in store.series(entity_id):
        key = summary.key
        if key.signal not in POLICIES or summary.points < 2:
            continue
        series = store.points(key)
        for method in Method:
            levels, _, ratios, bin_s = judge(method, key.signal, series.times_s, series.values, key.bin_s)
            runs = alert_runs(levels, ratios, int(series.times_s[0]), bin_s)
            intervals = [
                Interval(datetime.fromtimestamp(r.start_s, UTC), datetime.fromtimestamp(r.end_s, UTC))
                for r in runs
            ]
            label = f"{key.signal.value}/{key.source}"
            scores.append(MethodScore(case, entity_id, label, method.value, score(label, windows, intervals)))
    return scores


def evaluate_truth_file(path: Path, store: Store, onset_tolerance_min: float = 30.0) -> CaseResult:
    """``lightsout evaluate --truth FILE.csv``: a user's labelled windows against a store."""
    result = evaluate_windows(path.name, store, read_truth_csv(path), onset_tolerance_min)
    result.title = f"labelled windows of {path}"
    return result


def evaluate_all(truth_dir: Path, data_dir: Path) -> list[CaseResult]:
    files = sorted(truth_dir.glob("*.yaml"))
    if not files:
        raise UserError(f"{truth_dir}: no ground-truth *.yaml files")
    return [evaluate_case(path, data_dir) for path in files]
