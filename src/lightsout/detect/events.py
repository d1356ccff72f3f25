"""Alerts -> events: merged over time and signals, folded along the place hierarchy, and
recurring cuts recognised as one event with a local-time schedule.

1. **Spans** — an entity's alerted bins, of every signal, become spans; alerts less than
   ``merge_gap_bins`` bins apart belong to the same span (ioda-api merges per-signal alerts of an
   entity into events the same way, keeping each signal's evidence).
2. **Folding** — a span of a country absorbs the overlapping spans of its regions, counties and
   networks; a region's span absorbs its counties'. They are listed as *affected* rather than
   repeated (prometheus/alertmanager's inhibit rules: an alert that is logically part of a bigger
   one is muted by it). County spans that no region span absorbs are clustered per region, so
   a storm that takes out a dozen counties is one regional event listing them.
3. **Recurrence** — an entity's events shorter than a day that start and end at about the same
   local time on at least ``min_occurrences`` different days, no more than ``max_gap_days``
   apart, become one recurring event whose schedule is the median local start and end.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from lightsout.attribution.timezones import country_zone
from lightsout.detect.policy import POLICIES, AlertLevel
from lightsout.model import (
    Affected,
    Alert,
    Entity,
    EntityKind,
    Event,
    EventKind,
    FusionPattern,
    Occurrence,
    QuietSignal,
    Schedule,
    Scope,
    SeriesKey,
    SeriesSummary,
    SignalEvidence,
    SignalKind,
)

PointCounter = Callable[[SeriesKey, datetime, datetime], int]
"""How many bins of a series hold data in ``[start, end)`` (the store's answer)."""

ROUTING_SIGNALS = frozenset({SignalKind.BGP_PREFIXES, SignalKind.BGP_SLASH24S})


@dataclass(frozen=True, slots=True)
class EventParams:
    merge_gap_bins: int = 2  # alerts at most this many bins apart are one span
    min_occurrences: int = 3  # daily cuts needed to call a pattern recurring
    time_of_day_tolerance_min: int = 90  # how far an occurrence may start/end from the pattern
    max_gap_days: int = 7  # longest pause between two occurrences of one pattern
    min_warning_bins: int = 6  # an event that never reached CRITICAL must last this many bins
    # Cuts of one entity separated by restorations shorter than this are one intermittent event
    # (Kazakhstan, January 2022: cut, restored for a few hours, cut again); 0 turns it off.
    intermittent_gap_s: int = 6 * 3600


@dataclass(slots=True)
class _Span:
    entity: Entity
    start: datetime
    end: datetime  # end of the last alerted bin
    bin_s: int
    alerts: list[Alert] = field(default_factory=list)
    affected: list[Affected] = field(default_factory=list)
    absorbed: bool = False
    ongoing: bool = False  # reaches the end of the entity's data

    def as_affected(self) -> Affected:
        return Affected(
            self.entity.entity_id,
            self.entity.name,
            self.start,
            None if self.ongoing else self.end,
            _min_ratio(self),
        )

    def overlaps(self, other: _Span) -> bool:
        return self.start < other.end and other.start < self.end


def _spans_of(entity: Entity, alerts: list[Alert], params: EventParams) -> list[_Span]:
    alerts = sorted(alerts, key=_BIN_START)
    spans: list[_Span] = []
    steps: dict[int, tuple[timedelta, timedelta]] = {}  # per bin length: one bin, the merge gap
    last: _Span | None = None
    for alert in alerts:
        bin_s = alert.bin_s
        step = steps.get(bin_s)
        if step is None:
            step = steps[bin_s] = (timedelta(seconds=bin_s), timedelta(seconds=bin_s * params.merge_gap_bins))
        bin_end = alert.bin_start + step[0]
        if last is not None and alert.bin_start <= last.end + step[1]:
            if bin_end > last.end:
                last.end = bin_end
            if bin_s > last.bin_s:
                last.bin_s = bin_s
        else:
            last = _Span(entity, alert.bin_start, bin_end, bin_s)
            spans.append(last)
        last.alerts.append(alert)
    return spans


_BIN_START = operator.attrgetter("bin_start")


def _significant(span: _Span, params: EventParams) -> bool:
    """CRITICAL at least once, or WARNING for ``min_warning_bins`` distinct bins, from a signal that
    may raise an event on its own (a noisy signal such as the telescope only corroborates)."""
    alerts = [a for a in span.alerts if POLICIES[a.signal].alone]
    if not alerts:
        return False
    span = _Span(span.entity, span.start, span.end, span.bin_s, alerts)
    if any(a.level >= AlertLevel.CRITICAL for a in span.alerts):
        return True
    return len({a.bin_start for a in span.alerts}) >= params.min_warning_bins


def _ancestors(entity: Entity, entities: dict[str, Entity]) -> list[str]:
    chain = []
    parent = entity.parent_id
    while parent is not None and parent in entities and parent not in chain:
        chain.append(parent)
        parent = entities[parent].parent_id
    return chain


def _min_ratio(span: _Span) -> float:
    outage = [a.ratio for a in span.alerts if POLICIES[a.signal].outage]
    return min(outage or [a.ratio for a in span.alerts])


def make_events(
    alerts: list[Alert],
    entities: dict[str, Entity],
    data_end: dict[str, datetime] | None = None,
    params: EventParams | None = None,
    series: Iterable[SeriesSummary] = (),
    count_points: PointCounter | None = None,
) -> list[Event]:
    """Fuse alerts into events. ``data_end``: per entity, the end of its last stored bin (to tell
    an event still going on at the end of the data from one that ended). ``series``: what the
    store holds, to say which signals had data during an event and did not see it, and how much
    history the baseline had; ``count_points`` checks that such a signal really had data then
    (without it, a series spanning the event is taken to have had data throughout)."""
    params = params or EventParams()
    by_series: dict[str, list[SeriesSummary]] = defaultdict(list)
    for summary in series:
        by_series[summary.key.entity_id].append(summary)
    by_entity: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        if alert.entity_id in entities:
            by_entity[alert.entity_id].append(alert)
    spans = [s for eid, group in by_entity.items() for s in _spans_of(entities[eid], group, params)]
    ends = data_end or {}
    for span in spans:
        span.ongoing = span.entity.entity_id in ends and span.end >= ends[span.entity.entity_id]
    _fold(spans, entities)
    _cluster_counties(spans, entities)
    children = _place_children(entities)
    events = [
        _fuse(_event(s, entities, children), s, by_series.get(s.entity.entity_id, []), count_points)
        for s in spans
        if not s.absorbed and _significant(s, params)
    ]
    events = _recurring(events, params)
    events = _intermittent(events, params)
    return sorted(events, key=lambda e: (e.start, e.entity_id))


_RANK = {EntityKind.COUNTRY: 0, EntityKind.REGION: 1, EntityKind.NETWORK: 2, EntityKind.COUNTY: 2}


def _fold(spans: list[_Span], entities: dict[str, Entity]) -> None:
    by_entity: dict[str, list[_Span]] = defaultdict(list)
    for span in spans:
        by_entity[span.entity.entity_id].append(span)
    for span in sorted(spans, key=lambda s: -_RANK[s.entity.kind]):
        for ancestor in _ancestors(span.entity, entities):
            host = next((h for h in by_entity.get(ancestor, []) if h.overlaps(span)), None)
            if host is not None:
                span.absorbed = True
                host.affected.extend(span.affected)
                host.affected.append(span.as_affected())
                span.affected = []
                break


def _cluster_counties(spans: list[_Span], entities: dict[str, Entity]) -> None:
    """Overlapping county spans of one region, that no region span took, become one regional span."""
    by_region: dict[str, list[_Span]] = defaultdict(list)
    for span in spans:
        if not span.absorbed and span.entity.kind == EntityKind.COUNTY and span.entity.parent_id in entities:
            by_region[str(span.entity.parent_id)].append(span)
    for region_id, county_spans in by_region.items():
        county_spans.sort(key=lambda s: s.start)
        cluster: _Span | None = None
        for span in county_spans:
            if cluster is None or span.start >= cluster.end:
                cluster = _Span(entities[region_id], span.start, span.end, span.bin_s)
                spans.append(cluster)
            cluster.end = max(cluster.end, span.end)
            cluster.ongoing = cluster.ongoing or span.ongoing
            cluster.alerts.extend(span.alerts)
            cluster.affected.append(span.as_affected())
            span.absorbed = True


def _place_children(entities: dict[str, Entity]) -> dict[str, int]:
    """How many regions a country has, and counties a region, in the store. Networks are listed
    as affected but not counted: they are another axis than places, not a share of a country."""
    counts: dict[str, int] = defaultdict(int)
    for entity in entities.values():
        if entity.parent_id is not None and entity.kind != EntityKind.NETWORK:
            counts[entity.parent_id] += 1
    return counts


_SCOPE = {
    EntityKind.COUNTRY: Scope.NATIONAL,
    EntityKind.REGION: Scope.REGIONAL,
    EntityKind.COUNTY: Scope.REGIONAL,
    EntityKind.NETWORK: Scope.NETWORK,
}


def _evidence(span: _Span) -> tuple[SignalEvidence, ...]:
    groups: dict[tuple[SignalKind, str, int], list[Alert]] = defaultdict(list)
    for alert in span.alerts:
        groups[(alert.signal, alert.source, alert.bin_s)].append(alert)
    evidence = []
    for group in groups.values():
        ratios = [a.ratio for a in group]
        times = [a.bin_start for a in group]
        evidence.append(
            SignalEvidence(
                group[0].signal,
                group[0].source,
                group[0].bin_s,
                len(group),
                _fmean(ratios),
                min(ratios),
                min(times),
                max(times),
            )
        )
    return tuple(sorted(evidence, key=lambda e: e.signal.value))


def _fmean(values: list[float]) -> float:
    """``statistics.fmean`` of a non-empty list (the same float: fsum over the count), without its
    generic iterator handling."""
    return math.fsum(values) / len(values)


def confidence(evidence: tuple[SignalEvidence, ...], affected: int, affected_of: int) -> float:
    """A score in [0, 1], not a probability (docs/detection.md):
    depth x persistence x breadth, where depth = 1 - mean level of the strongest outage signal,
    persistence = min(1, alerted bins / 6), breadth = 0.5 + 0.5 x (share of sub-entities affected)
    when the entity has sub-entities with data, else 1."""
    outage = [e for e in evidence if POLICIES[e.signal].outage] or list(evidence)
    best = min(outage, key=lambda e: e.mean_ratio)
    ratio = best.mean_ratio if POLICIES[best.signal].outage else 1.0 / max(best.mean_ratio, 1e-9)
    depth = max(0.0, min(1.0, 1.0 - ratio))
    persistence = min(1.0, best.alerted_bins / 6.0)
    breadth = 0.5 + 0.5 * min(1.0, affected / affected_of) if affected_of else 1.0
    return round(depth * persistence * breadth, 3)


def merge_affected(rows: Iterable[Affected]) -> tuple[Affected, ...]:
    """One row per sub-entity: a region with several alert runs inside one event is affected from
    its first run's start to its last run's end, at the lowest level of any run (not the last run's)."""
    merged: dict[str, Affected] = {}
    for row in rows:
        seen = merged.get(row.entity_id)
        if seen is None:
            merged[row.entity_id] = row
            continue
        end = None if seen.end is None or row.end is None else max(seen.end, row.end)
        merged[row.entity_id] = Affected(
            row.entity_id, row.name, min(seen.start, row.start), end, min(seen.min_ratio, row.min_ratio)
        )
    return tuple(sorted(merged.values(), key=lambda a: (a.start, a.entity_id)))


def _event(span: _Span, entities: dict[str, Entity], children: dict[str, int]) -> Event:
    evidence = _evidence(span)
    outage = [a for a in span.alerts if POLICIES[a.signal].outage]
    kind = EventKind.OUTAGE if outage else EventKind.DEGRADATION
    primary = outage or span.alerts
    # Depth from the entity's own strongest signal (or its affected sub-entities when clustered).
    ratios = [a.ratio for a in primary]
    mean_pct = 100.0 * _fmean(ratios)
    min_pct = 100.0 * min(ratios)
    if kind == EventKind.DEGRADATION:
        mean_pct, min_pct = 100.0 * _fmean(ratios), 100.0 * max(ratios)
    entity = span.entity
    affected = merge_affected(span.affected)
    ongoing = span.ongoing
    digest = hashlib.sha256(f"{entity.entity_id}|{span.start.isoformat()}|{kind}".encode()).hexdigest()[:12]
    affected_of = children.get(entity.entity_id, 0)
    affected_direct = len(
        {
            a.entity_id
            for a in affected
            if (child := entities.get(a.entity_id)) is not None
            and child.parent_id == entity.entity_id
            and child.kind != EntityKind.NETWORK
        }
    )
    return Event(
        event_id=f"ev-{digest}",
        kind=kind,
        entity_id=entity.entity_id,
        entity_name=entity.name,
        country_code=entity.country_code,
        scope=_SCOPE[entity.kind],
        start=span.start,
        start_uncertainty_s=span.bin_s,
        end=None if ongoing else span.end,
        end_uncertainty_s=span.bin_s,
        mean_level_pct=round(mean_pct, 1),
        min_level_pct=round(min_pct, 1),
        confidence=confidence(evidence, affected_direct, affected_of),
        evidence=evidence,
        affected=affected,
        affected_children=affected_direct,
        affected_of=affected_of,
    )


HISTORY_FULL_DAYS = 7.0  # days of history at which the baseline is complete (BaselineParams.days)


def _fuse(event: Event, span: _Span, series: list[SeriesSummary], count_points: PointCounter | None) -> Event:
    """Which of the entity's signals saw the event and which did not, what that agreement means,
    and the confidence with its factors in words (docs/detection.md, "Fusion")."""
    own = {(a.signal, a.source, a.bin_s) for a in span.alerts if a.entity_id == span.entity.entity_id}
    end = span.end
    quiet: list[QuietSignal] = []
    for summary in sorted(series, key=lambda s: (s.key.signal.value, s.key.source, s.key.bin_s)):
        key = summary.key
        if key.signal not in POLICIES or (key.signal, key.source, key.bin_s) in own:
            continue
        if summary.first >= end or summary.end <= span.start:
            continue
        lo, hi = max(summary.first, span.start), min(summary.end, end)
        bins = max(1, int((hi - lo).total_seconds() // key.bin_s))
        points = count_points(key, span.start, end) if count_points is not None else bins
        # "did not see it" only for a signal the detector could judge then: data in at least half
        # of the event's bins (a series with one value every 30 minutes on 5-minute bins is not)
        if points * 2 >= bins:
            quiet.append(QuietSignal(key.signal, key.source, key.bin_s, points))
    seen = {(e.signal, e.source) for e in event.evidence if POLICIES[e.signal].outage}
    quiet_outage = [q for q in quiet if POLICIES[q.signal].outage]
    pattern: FusionPattern | None = None
    if event.kind == EventKind.OUTAGE:
        if any(signal in ROUTING_SIGNALS for signal, _ in seen):
            pattern = FusionPattern.ROUTES_WITHDRAWN
        elif any(q.signal in ROUTING_SIGNALS for q in quiet_outage):
            pattern = FusionPattern.ROUTES_UP_HOSTS_DOWN
        else:
            pattern = FusionPattern.NO_ROUTING_DATA
    # Agreement among reachability signals: routing cannot see traffic blocked with the routes
    # still announced, so a quiet BGP signal is reported (pattern) but not counted against.
    reach_seen = [k for k in seen if k[0] not in ROUTING_SIGNALS]
    reach_quiet = [q for q in quiet_outage if q.signal not in ROUTING_SIGNALS]
    voters = len(reach_seen) + len(reach_quiet)
    agreement = len(reach_seen) / voters if voters and reach_seen else 1.0
    agreement_factor = 0.5 + 0.5 * agreement
    firsts = [
        s.first
        for s in series
        if (s.key.signal, s.key.source, s.key.bin_s) in own and POLICIES[s.key.signal].outage
    ]
    history_days = (
        round(max(0.0, (span.start - min(firsts)).total_seconds() / 86_400), 2) if firsts else None
    )
    history_factor = (
        1.0 if history_days is None else min(1.0, 0.5 + 0.5 * history_days / HISTORY_FULL_DAYS)
    )
    reasons = [f"depth x persistence x breadth = {event.confidence:.2f}"]
    if voters > 1 or reach_quiet:
        reasons.append(
            f"{len(reach_seen)} of {voters} reachability signals saw it (x{agreement_factor:.2f})"
        )
    if pattern == FusionPattern.ROUTES_UP_HOSTS_DOWN:
        reasons.append(
            "routes stayed announced while hosts stopped answering: traffic blocked or dropped with "
            "the routing table intact (the Kazakhstan January 2022 pattern); BGP not counted against"
        )
    elif pattern == FusionPattern.ROUTES_WITHDRAWN:
        reasons.append("routes withdrawn: BGP saw it")
    if history_days is not None and history_factor < 1.0:
        reasons.append(
            f"short history: {history_days:g} days of data before the event, "
            f"baseline from those days (x{history_factor:.2f})"
        )
    return replace(
        event,
        confidence=round(event.confidence * agreement_factor * history_factor, 3),
        fusion_factor=agreement_factor * history_factor,
        signals_not_seen=tuple(quiet),
        pattern=pattern,
        confidence_reasons=tuple(reasons),
        history_days=history_days,
    )


@functools.cache
def _zone(name: str) -> ZoneInfo:
    """``ZoneInfo(name)``, kept: ZoneInfo's own cache holds only the 8 latest zones strongly, and the
    events of 250 countries reloaded their zone files for every list of events."""
    return ZoneInfo(name)


def _local_minutes(moment: datetime, zone: ZoneInfo) -> int:
    local = moment.astimezone(zone)
    return local.hour * 60 + local.minute


def _circular_gap(a: int, b: int) -> int:
    d = abs(a - b) % 1440
    return min(d, 1440 - d)


def _recurring(events: list[Event], params: EventParams) -> list[Event]:
    by_entity: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_entity[event.entity_id].append(event)
    result: list[Event] = []
    for entity_events in by_entity.values():
        short = [e for e in entity_events if e.end is not None and e.end - e.start < timedelta(days=1)]
        rest = [e for e in entity_events if e not in short]
        zone_name = country_zone(entity_events[0].country_code)
        zone = _zone(zone_name)
        for pattern in _patterns(sorted(short, key=lambda e: e.start), zone, params):
            if len({p.start.astimezone(zone).date() for p in pattern}) >= params.min_occurrences:
                result.append(_merge_pattern(pattern, zone_name, zone))
            else:
                rest.extend(pattern)
        result.extend(rest)
    return result


def _overlap_minutes(start_a: int, end_a: int, start_b: int, end_b: int) -> int:
    """Minutes two times of day ``[start, end)`` overlap (each may wrap past midnight)."""
    da, db = (end_a - start_a) % 1440, (end_b - start_b) % 1440
    total = 0
    for shift in (-1440, 0, 1440):
        lo, hi = max(start_a, start_b + shift), min(start_a + da, start_b + shift + db)
        total += max(0, hi - lo)
    return total


def _patterns(events: list[Event], zone: ZoneInfo, params: EventParams) -> list[list[Event]]:
    """Greedy clustering of events by local time of day. An event joins the pattern it fits best:
    its start and end both within the tolerance of the pattern's median start and end, or one of
    them within it while it covers at least half of the pattern's usual hours (a curfew cut that
    one night begins two hours early, or ends late, is still that curfew's cut)."""
    patterns: list[list[Event]] = []
    tol = params.time_of_day_tolerance_min
    for event in events:
        start, end = _local_minutes(event.start, zone), _local_minutes(event.end or event.start, zone)
        best: tuple[int, list[Event]] | None = None
        for pattern in patterns:
            last = pattern[-1]
            if event.start - (last.end or last.start) > timedelta(days=params.max_gap_days):
                continue
            ref_start = int(statistics.median(_local_minutes(p.start, zone) for p in pattern))
            ref_end = int(statistics.median(_local_minutes(p.end or p.start, zone) for p in pattern))
            start_gap, end_gap = _circular_gap(start, ref_start), _circular_gap(end, ref_end)
            usual = (ref_end - ref_start) % 1440
            fits = (start_gap <= tol and end_gap <= tol) or (
                min(start_gap, end_gap) <= tol
                and _overlap_minutes(start, end, ref_start, ref_end) * 2 >= usual
            )
            if fits and (best is None or start_gap + end_gap < best[0]):
                best = (start_gap + end_gap, pattern)
        if best is not None:
            best[1].append(event)
        else:
            patterns.append([event])
    return patterns


def _merge_pattern(pattern: list[Event], zone_name: str, zone: ZoneInfo) -> Event:
    first, last = pattern[0], pattern[-1]
    start_min = int(statistics.median(_local_minutes(p.start, zone) for p in pattern))
    end_min = int(statistics.median(_local_minutes(p.end or p.start, zone) for p in pattern))
    affected = merge_affected(a for p in pattern for a in p.affected)
    occurrences = tuple(Occurrence(p.start, p.end or p.start, p.min_level_pct / 100.0) for p in pattern)
    weights = [(p.end or p.start) - p.start for p in pattern]
    total = sum(w.total_seconds() for w in weights) or 1.0
    mean_pct = (
        sum(p.mean_level_pct * w.total_seconds() for p, w in zip(pattern, weights, strict=True)) / total
    )
    return replace(
        first,
        event_id=first.event_id.replace("ev-", "rec-"),
        end=last.end,
        mean_level_pct=round(mean_pct, 1),
        min_level_pct=min(p.min_level_pct for p in pattern),
        confidence=round(statistics.fmean(p.confidence for p in pattern), 3),
        affected=tuple(sorted(affected, key=lambda a: a.entity_id)),
        affected_children=max(p.affected_children for p in pattern),
        occurrences=occurrences,
        schedule=Schedule(
            zone_name,
            f"{start_min // 60:02d}:{start_min % 60:02d}",
            f"{end_min // 60:02d}:{end_min % 60:02d}",
            len(pattern),
        ),
    )


def _intermittent(events: list[Event], params: EventParams) -> list[Event]:
    """Outages of one entity, none recurring, each starting less than ``intermittent_gap_s`` after
    the previous one ended, become one event with its occurrences (and no schedule): a
    restoration of a few hours between two cuts is part of one shutdown, reported as such. As for a
    recurring event, the evidence is the first occurrence's; each occurrence keeps its own span."""
    if params.intermittent_gap_s <= 0:
        return events
    gap = timedelta(seconds=params.intermittent_gap_s)
    by_entity: dict[str, list[Event]] = defaultdict(list)
    result: list[Event] = []
    for event in events:
        if event.occurrences or event.kind != EventKind.OUTAGE:
            result.append(event)
        else:
            by_entity[event.entity_id].append(event)
    for entity_events in by_entity.values():
        entity_events.sort(key=lambda e: e.start)
        run: list[Event] = [entity_events[0]]
        for event in entity_events[1:]:
            last = run[-1]
            if last.end is not None and event.start - last.end <= gap:
                run.append(event)
            else:
                result.append(_merge_run(run))
                run = [event]
        result.append(_merge_run(run))
    return result


def _merge_run(run: list[Event]) -> Event:
    if len(run) == 1:
        return run[0]
    first, last = run[0], run[-1]
    weights = [((e.end or e.start) - e.start).total_seconds() for e in run]
    total = sum(weights) or 1.0
    affected: dict[str, Affected] = {}
    for event in run:
        for a in event.affected:
            affected.setdefault(a.entity_id, a)
    return replace(
        first,
        event_id=first.event_id.replace("ev-", "int-"),
        end=last.end,
        end_uncertainty_s=last.end_uncertainty_s,
        mean_level_pct=round(sum(e.mean_level_pct * w for e, w in zip(run, weights, strict=True)) / total, 1),
        min_level_pct=min(e.min_level_pct for e in run),
        confidence=max(e.confidence for e in run),
        affected=tuple(sorted(affected.values(), key=lambda a: (a.start, a.entity_id))),
        affected_children=max(e.affected_children for e in run),
        occurrences=tuple(Occurrence(e.start, e.end or e.start, e.min_level_pct / 100.0) for e in run),
    )
