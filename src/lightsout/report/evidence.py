"""The evidence lines of a statement: behind every number, the signal, its source and bins, the
baseline method, the timing, the affected sub-entities, the noise, and the data files in the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from lightsout.detect.noise import NOISE_DAYS, NOISE_FACTOR, judge
from lightsout.detect.policy import POLICIES, Direction
from lightsout.detect.seasonal import BaselineParams
from lightsout.model import Affected, Entity, Event, EventKind, SignalEvidence, SourceFile
from lightsout.report.places import sub_units
from lightsout.report.words import bin_text, duration_text, moment_text, pct, source_name


def outage_evidence(event: Event) -> list[SignalEvidence]:
    outage = [e for e in event.evidence if POLICIES[e.signal].outage] if event.evidence else []
    return outage if event.kind == EventKind.OUTAGE and outage else list(event.evidence)


def _file_line(source: SourceFile) -> str:
    name = source.path.rsplit("/", 1)[-1]
    return (
        f"Data file: {name} (format {source.format}, sha256 {source.sha256}, {source.records_read:,} records "
        f"read, {source.records_skipped:,} skipped, ingested {source.ingested_at:%Y-%m-%d %H:%M} UTC)"
    )


def file_lines(files: list[SourceFile]) -> list[str]:
    """One line per ingested file; our probing stores one record per round, so its rounds are
    summed up in one line per vantage point instead of one line per 11-minute round."""
    rounds: dict[str, list[SourceFile]] = {}
    lines = []
    for f in files:
        if f.format == "probing" and f.path.startswith("probing://"):
            rounds.setdefault(f.path.split("/")[2], []).append(f)
        else:
            lines.append(_file_line(f))
    for source, group in sorted(rounds.items()):
        names = sorted(f.path.rsplit("/", 1)[-1] for f in group)
        lines.append(
            f"Probing rounds: {len(group):,} rounds of {source_name(source)} (source '{source}') from "
            f"{names[0]} to {names[-1]}, {sum(f.records_read for f in group):,} block-rounds probed, "
            f"{sum(f.points_written for f in group):,} values stored"
        )
    return lines


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def _kind_word(event: Event) -> str:
    return "degradation" if event.kind == EventKind.DEGRADATION else "outage"


def evidence_lines(
    event: Event,
    sources: Sequence[SourceFile],
    params: BaselineParams,
    data_end: datetime | None,
    from_subs: bool = False,
    entities: Mapping[str, Entity] | None = None,
) -> list[str]:
    lines: list[str] = []
    bins = sorted({e.bin_s for e in event.evidence}) or [event.start_uncertainty_s]
    primary = outage_evidence(event)
    whose = f" of the {sub_units(event, entities or {})}" if from_subs else ""
    lines.append(
        f"Level {pct(event.mean_level_pct)} (mean) and {pct(event.min_level_pct)} "
        f"({'highest' if event.kind == EventKind.DEGRADATION else 'lowest'}): 100 x value / baseline over "
        f"the alerted bins of {', '.join(e.signal.value for e in primary)}{whose}."
    )
    if from_subs:
        lines.append(
            f"Only sub-entities alerted: {event.entity_name}'s own series did not alert during the event, so "
            "the event is its affected sub-entities' alerts clustered into one, and every level is theirs."
        )
    if event.occurrences:
        levels = [100 * o.min_ratio for o in event.occurrences]
        first, last = event.occurrences[0], event.occurrences[-1]
        low, high = pct(min(levels)), pct(max(levels))
        spread = f"is {low} in every one" if low == high else f"lies between {low} and {high}"
        lines.append(
            f"Occurrences: {len(event.occurrences)}, the first from {moment_text(first.start)}, the last "
            f"ending {moment_text(last.end)}; the lowest level of each {spread}; the mean level is weighted "
            "by each occurrence's duration. The signal lines below describe the first occurrence."
        )
    for e in event.evidence:
        policy = POLICIES[e.signal]
        rise = policy.direction == Direction.RISE
        extreme = "" if rise else f", lowest {pct(100 * e.min_ratio)}"
        lines.append(
            f"Signal {e.signal.value} from {source_name(e.source)} (source '{e.source}'), "
            f"{bin_text(e.bin_s)} bins: "
            f"{e.alerted_bins} alerted bins from {moment_text(e.first_alert)} to {moment_text(e.last_alert)} "
            f"(bin starts), at {pct(100 * e.mean_ratio)} of the baseline on average{extreme}; alerts at "
            f"{'above' if rise else 'below'} {policy.warning:g}x (warning) and {policy.critical:g}x "
            "(critical) the baseline"
            + ("" if policy.outage else "; a latency signal: evidence of degradation, not of an outage")
            + "."
        )
    lines.append(
        f"Baseline: the detector's seasonal moving median of the same time of day (±{params.neighbours} bin) "
        f"over the previous {params.days} days, outage bins inpainted with their baseline; a series is "
        f"judged only after {params.min_days} days of data; alarm by a restarted CUSUM "
        f"(k={params.k:g}, h={params.h:g}); see docs/detection.md."
    )
    width = bin_text(bins[0])
    lines.append(
        f"Start: {moment_text(event.start)}, the start of the first alerted bin; the {_kind_word(event)} "
        f"began within {duration_text(timedelta(seconds=event.start_uncertainty_s))} before it "
        f"({width} bins)."
    )
    if event.end is None:
        lines.append(
            "End: none yet: the last alerted bin reaches the end of the entity's data"
            + (f" ({moment_text(data_end)})." if data_end is not None else ".")
        )
    else:
        lines.append(
            f"End: {moment_text(event.end)}, the end of the last alerted bin, within "
            f"{duration_text(timedelta(seconds=event.end_uncertainty_s))}."
        )
    if event.schedule is not None:
        s = event.schedule
        lines.append(
            f"Schedule: {s.days} occurrences shorter than a day, each starting and ending within 90 "
            f"minutes of the same local time in {s.time_zone}; {s.start_local}-{s.end_local} is the median "
            "local start and end."
        )
    if event.affected_of:
        anywhere = _count(len(event.affected), "sub-entity", "sub-entities")
        lines.append(
            f"Affected: {event.affected_children} of the {event.affected_of} direct sub-entities in the "
            f"store had their own alerts overlapping the event ({anywhere} at any depth)."
        )
    elif event.affected:
        lines.append(
            f"Affected: {_count(len(event.affected), 'sub-entity', 'sub-entities')} had their own alerts "
            "during the event."
        )
    lines.append(
        f"Confidence {event.confidence:.2f}: depth x persistence x breadth, a score in [0, 1], "
        "not a probability (docs/detection.md)."
    )
    files = {f.sha256: f for f in sources}
    lines += file_lines(list(files.values()))
    lines.append(f"Event id: {event.event_id}.")
    return lines


def noise_filtered(
    event: Event, noise: Mapping[str, float], entities: Mapping[str, Entity]
) -> tuple[Event, bool, list[Affected]]:
    """The event with only the affected sub-entities whose fall is beyond their ordinary swing,
    whether the event's own fall stays within its entity's, and the sub-entities left out: the
    judgement of :func:`lightsout.detect.noise.judge` (taking the entity's own series as alerted)."""
    judged = judge(event, True, noise, None, entities)
    return judged, judged.within_noise, list(judged.not_counted)


def noise_lines(
    event: Event,
    noise: Mapping[str, float],
    within_noise: bool,
    dropped: list[Affected],
    own_alerts: bool = True,
) -> list[str]:
    if event.kind != EventKind.OUTAGE or not noise:
        return []
    lines = []
    own = noise.get(event.entity_id)
    if own is not None and own_alerts:
        verdict = "within it: the words say degraded, not outage" if within_noise else "beyond it"
        lines.append(
            f"Noise: {event.entity_name}'s series ordinarily swings down to {pct(own)} of its median "
            f"(5th percentile over the {NOISE_DAYS} days before the event); a fall counts beyond noise below "
            f"{NOISE_FACTOR:g} x that ({pct(NOISE_FACTOR * own)}); the lowest level, "
            f"{pct(event.min_level_pct)}, is {verdict}."
        )
    if dropped:
        names = ", ".join(_dropped_text(a, noise) for a in dropped[:8])
        more = f" and {len(dropped) - 8} more" if len(dropped) > 8 else ""
        lines.append(
            f"Not counted as affected: {len(dropped)} sub-entit{'y' if len(dropped) == 1 else 'ies'} whose "
            f"lowest level stayed within their own ordinary swing (5th percentile of the {NOISE_DAYS} days "
            f"before, as % of the median; beyond noise below {NOISE_FACTOR:g} x that): {names}{more}."
        )
    return lines


def _dropped_text(affected: Affected, noise: Mapping[str, float]) -> str:
    floor = noise.get(affected.entity_id)
    low = pct(100 * affected.min_ratio)
    if floor is None:
        return f"{affected.name} ({low})"
    return f"{affected.name} ({low}, ordinarily down to {pct(floor)})"
