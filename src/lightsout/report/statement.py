"""A plain-language statement of an event, in the manner of NetBlocks, with the evidence behind it.

    Metrics show a nationwide internet shutdown in Iran since 17:30 UTC on 16 November 2019;
    connectivity at 7% of ordinary levels. All 30 provinces are affected.

Every word comes from the event (scope, kind, depth, affected sub-entities, ongoing or not,
schedule) and every number has an evidence line: the signal, its source and bins, the baseline
method, and the data files in the store. The wording rules are in ``docs/reporting.md``. Pure
function of its inputs: no store, no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from lightsout.attribution.asnames import as_label
from lightsout.attribution.timezones import country_zone, country_zone_count
from lightsout.detect.policy import POLICIES, Direction
from lightsout.detect.seasonal import BaselineParams
from lightsout.model import (
    Affected,
    Entity,
    EntityKind,
    Event,
    EventKind,
    Scope,
    SignalEvidence,
    SignalKind,
    SourceFile,
)
from lightsout.report.noise import NOISE_DAYS, NOISE_FACTOR, KeptLevels, beyond_noise

# The scale of words (docs/reporting.md), by the event's mean level as % of ordinary:
SHUTDOWN_LEVEL_PCT = 25.0  # at most this: nationwide "shutdown"; elsewhere "near-total outage"
MAJOR_LEVEL_PCT = 50.0  # at most this: "major"
PARTIAL_LEVEL_PCT = 75.0  # at most this, and its lowest level beyond noise: "partial"; else "degraded"
NIGHT_START_HOURS = {*range(18, 24), *range(0, 6)}  # a recurring cut starting then is "nightly"

SIGNAL_NOUNS: dict[SignalKind, str] = {
    SignalKind.CONNECTIVITY_INDEX: "connectivity",
    SignalKind.RESPONSIVE_ADDRESSES: "reachable addresses",
    SignalKind.BGP_PREFIXES: "announced prefixes",
    SignalKind.BGP_SLASH24S: "routed address space",
    SignalKind.PROBING_UP_SLASH24S: "address blocks answering our probes",
    SignalKind.LATENCY_INDEX: "latency",
    SignalKind.MEDIAN_RTT_MS: "round-trip time",
}

SOURCE_NAMES = {
    "monash": "Monash IP Observatory",
    "ooni": "OONI",
    "probing": "Lightsout active probing",
    "ioda": "IODA",
    "ioda-normalized": "IODA (dashboard export, % of its window's maximum)",
    "cloudflare-radar": "Cloudflare Radar",
}


@dataclass(frozen=True, slots=True)
class Statement:
    """What to publish about an event: a one-sentence headline, more sentences, and the evidence."""

    event_id: str
    headline: str
    body: str
    evidence: tuple[str, ...]
    attribution: str  # "Data: Monash IP Observatory"

    def text(self) -> str:
        lines = [self.headline]
        if self.body:
            lines += ["", self.body]
        lines += ["", "Evidence:"] + [f"- {line}" for line in self.evidence] + ["", self.attribution]
        return "\n".join(lines) + "\n"


def source_name(source: str) -> str:
    """A vantage point by its public name: ``monash`` -> Monash IP Observatory, ``rrc15`` -> RIPE RIS."""
    if source in SOURCE_NAMES:
        return SOURCE_NAMES[source]
    if source.startswith("rrc") and source[3:].isdigit():
        return f"RIPE RIS {source}"
    if source.startswith("route-views"):
        return f"RouteViews {source}"
    if source.startswith("probing-"):
        return f"Lightsout active probing from {source.removeprefix('probing-')}"
    return source


def signal_noun(signal: SignalKind) -> str:
    return SIGNAL_NOUNS.get(signal, signal.value.replace("_", " "))


# -- formatting ------------------------------------------------------------------------------------


def pct(value: float) -> str:
    """A level as a whole percentage ("7%"); below 1 but above 0, "under 1%"."""
    if 0 < value < 0.5:
        return "under 1%"
    return f"{round(value):d}%"


def day_text(moment: datetime, with_year: bool = True) -> str:
    return f"{moment.day} {moment:%B}" + (f" {moment:%Y}" if with_year else "")


def moment_text(moment: datetime, with_year: bool = True) -> str:
    """``17:30 UTC on 16 November 2019``."""
    return f"{moment:%H:%M} UTC on {day_text(moment, with_year)}"


def duration_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days} day{'s' if days != 1 else ''}" if days else "",
        f"{hours} hour{'s' if hours != 1 else ''}" if hours else "",
        f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes else "",
    ]
    return " ".join(p for p in parts if p) or "less than a minute"


def bin_text(bin_s: int) -> str:
    if bin_s % 3600 == 0:
        hours = bin_s // 3600
        return "1-hour" if hours == 1 else f"{hours}-hour"
    if bin_s % 60 == 0:
        return f"{bin_s // 60}-minute"
    return f"{bin_s}-second"


def _span_text(start: datetime, end: datetime) -> str:
    if start.date() == end.date():
        return f"from {start:%H:%M} to {end:%H:%M} UTC on {day_text(start)}"
    same_year = start.year == end.year
    return f"from {moment_text(start, with_year=not same_year)} to {moment_text(end)}"


# -- places ----------------------------------------------------------------------------------------


def country_name(code: str | None, entities: Mapping[str, Entity]) -> str | None:
    if code is None:
        return None
    entity = entities.get(f"country/{code}")
    if entity is not None:
        return entity.name
    import pycountry

    found = pycountry.countries.get(alpha_2=code)
    return str(found.name) if found is not None else code


def _kind_of(entity_id: str, entities: Mapping[str, Entity]) -> EntityKind | None:
    entity = entities.get(entity_id)
    if entity is not None:
        return entity.kind
    prefix = entity_id.split("/", 1)[0]
    return EntityKind(prefix) if prefix in {k.value for k in EntityKind} else None


def _subdivision_type(entity: Entity) -> str | None:
    import pycountry

    found = pycountry.subdivisions.get(code=entity.code)
    return str(found.type).lower() if found is not None else None


def _plural(word: str) -> str:
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy")):
        return word[:-1] + "ies"
    return word if word.endswith("s") else word + "s"


def unit_words(kind: EntityKind, members: Sequence[Entity]) -> tuple[str, str]:
    """(singular, plural) for a group of sub-entities: "province"/"provinces" when ISO 3166-2 says
    every region of the group is a province, else "region"/"regions"; "county", "network"."""
    if kind == EntityKind.REGION:
        types = {_subdivision_type(e) for e in members}
        if len(types) == 1 and None not in types:
            word = str(next(iter(types)))
            return word, _plural(word)
        return "region", "regions"
    if kind == EntityKind.COUNTY:
        return "county", "counties"
    if kind == EntityKind.NETWORK:
        return "network", "networks"
    return "country", "countries"


def place_text(event: Event, entities: Mapping[str, Entity]) -> str:
    """Where, as a phrase: "in Iran", "in Bago, Myanmar", "on the Myanma Post Telecommunication network
    in Myanmar", "on AS12880 (Iran Telecommunication Company) in Iran"."""
    country = country_name(event.country_code, entities)
    entity = entities.get(event.entity_id)
    if event.scope == Scope.NATIONAL:
        return f"in {event.entity_name}"
    if event.scope == Scope.NETWORK:
        asn = entity.asn if entity is not None else None
        network = as_label(asn, event.entity_name) if asn else f"the {event.entity_name} network"
        return f"on {network}" + (f" in {country}" if country else "")
    names = [event.entity_name]
    parent = entities.get(entity.parent_id) if entity is not None and entity.parent_id else None
    while parent is not None and parent.kind != EntityKind.COUNTRY:
        names.append(parent.name)
        parent = entities.get(parent.parent_id) if parent.parent_id else None
    if country:
        names.append(country)
    return "in " + ", ".join(names)


# -- the statement -----------------------------------------------------------------------------------


def _outage_evidence(event: Event) -> list[SignalEvidence]:
    outage = [e for e in event.evidence if POLICIES[e.signal].outage] if event.evidence else []
    return outage if event.kind == EventKind.OUTAGE and outage else list(event.evidence)


def _measured_noun(event: Event) -> str:
    signals = {e.signal for e in _outage_evidence(event)}
    if len(signals) == 1:
        return signal_noun(next(iter(signals)))
    return "reachability signals" if event.kind == EventKind.OUTAGE else "latency signals"


def severity(event: Event, within_noise: bool = False) -> str:
    """The word for the event's depth: "shutdown" (nationwide) or "near-total", "major", "partial",
    or "degraded" (above ``PARTIAL_LEVEL_PCT``, or a fall within the series' ordinary swing)."""
    level = event.mean_level_pct
    if level <= SHUTDOWN_LEVEL_PCT:
        return "shutdown" if event.scope == Scope.NATIONAL else "near-total"
    if level <= MAJOR_LEVEL_PCT:
        return "major"
    if level <= PARTIAL_LEVEL_PCT and not within_noise:
        return "partial"
    return "degraded"


def _what(event: Event, within_noise: bool = False) -> str:
    if event.kind == EventKind.DEGRADATION:
        return "degraded internet performance"
    if event.schedule is not None:
        hour = int(event.schedule.start_local.split(":")[0])
        return ("nightly" if hour in NIGHT_START_HOURS else "daily") + " internet cuts"
    word = severity(event, within_noise)
    if word == "degraded":
        return "degraded internet connectivity" + (" nationwide" if event.scope == Scope.NATIONAL else "")
    if event.scope == Scope.NATIONAL:
        if word == "shutdown":
            return "a nationwide internet shutdown"
        return f"a {word} nationwide internet disruption"
    noun = "outage" if event.scope == Scope.NETWORK else "internet outage"
    return f"a {word} {noun}"


def _when(event: Event) -> str:
    if event.schedule is not None:
        s = event.schedule
        first, last = event.occurrences[0].start if event.occurrences else event.start, event.end
        days = f"on {s.days} day{'s' if s.days != 1 else ''}"
        hours = f"from {s.start_local} to {s.end_local} local time ({s.time_zone})"
        if last is None:
            return f"{hours} {days} since {day_text(first)}"
        first_local = first.astimezone(ZoneInfo(s.time_zone))
        last_local = last.astimezone(ZoneInfo(s.time_zone))
        same_year = first_local.year == last_local.year
        first_day = day_text(first_local, with_year=not same_year)
        return f"{hours} {days} between {first_day} and {day_text(last_local)}"
    if event.end is None:
        return f"since {moment_text(event.start)}"
    return _span_text(event.start, event.end)


def _sub_units(event: Event, entities: Mapping[str, Entity]) -> str:
    """ "2 counties": the affected sub-entities, named by their kind."""
    kinds = {_kind_of(a.entity_id, entities) for a in event.affected}
    n = len(event.affected)
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kind is None:
        return f"{n} sub-entit{'y' if n == 1 else 'ies'}"
    singular, plural = unit_words(
        kind, [entities[a.entity_id] for a in event.affected if a.entity_id in entities]
    )
    return f"{n} {singular if n == 1 else plural}"


def _level_clause(event: Event, there: bool = False) -> str:
    noun = _measured_noun(event) + (" there" if there else "")
    during = " during the cuts" if event.schedule is not None else ""
    if event.kind == EventKind.DEGRADATION:
        peak = pct(event.min_level_pct)
        return f"{noun} at {pct(event.mean_level_pct)} of ordinary levels{during} (peak {peak})"
    return f"{noun} at {pct(event.mean_level_pct)} of ordinary levels{during}"


def _affected_sentences(event: Event, entities: Mapping[str, Entity]) -> list[str]:
    """Sentences such as "All 30 provinces are affected." and "Below them, 73 of 73 counties show the
    fall too."."""
    children = [e for e in entities.values() if e.parent_id == event.entity_id]
    affected_ids = {a.entity_id for a in event.affected}
    sentences: list[str] = []
    by_kind: dict[EntityKind, list[Entity]] = {}
    for child in children:
        by_kind.setdefault(child.kind, []).append(child)
    for kind in (EntityKind.REGION, EntityKind.COUNTY, EntityKind.NETWORK):
        members = sorted(by_kind.get(kind, []), key=lambda e: e.name)
        if not members:
            continue
        singular, plural = unit_words(kind, members)
        hit = [m for m in members if m.entity_id in affected_ids]
        if len(members) == 1:
            if hit:
                sentences.append(f"Its only {singular} with data, {hit[0].name}, is affected.")
            continue
        if len(hit) == len(members):
            sentences.append(f"All {len(members)} {plural} are affected.")
        elif hit:
            names = ", ".join(m.name for m in hit) if len(hit) <= 5 else ""
            verb = "is" if len(hit) == 1 else "are"
            sentences.append(
                f"{len(hit)} of {len(members)} {plural} {verb} affected" + (f": {names}." if names else ".")
            )
        else:
            sentences.append(f"None of its {len(members)} {plural} fell far enough on its own to be listed.")
    direct = {c.entity_id for c in children}
    deeper: Counter[EntityKind] = Counter()
    for affected_id in affected_ids - direct:
        deep_kind = _kind_of(affected_id, entities)
        if deep_kind is not None:
            deeper[deep_kind] += 1
    for deep_kind, count in sorted(deeper.items()):
        total = sum(
            1
            for e in entities.values()
            if e.kind == deep_kind and _descends_from(e, event.entity_id, entities)
        )
        members = [e for e in entities.values() if e.kind == deep_kind and e.entity_id in affected_ids]
        _, plural = unit_words(deep_kind, members)
        of = f" of {total}" if total >= count else ""
        sentences.append(f"Below them, {count}{of} {plural} show the fall too.")
    if not children and event.affected:
        # a cluster of counties with no data of its own region's in the store
        kinds = Counter(_kind_of(a.entity_id, entities) for a in event.affected)
        for some_kind, count in kinds.items():
            if some_kind is None:
                continue
            singular, plural = unit_words(some_kind, [])
            sentences.append(f"{count} {plural if count != 1 else singular} affected.")
    return sentences


def _descends_from(entity: Entity, ancestor_id: str, entities: Mapping[str, Entity]) -> bool:
    seen: set[str] = set()
    parent = entity.parent_id
    while parent is not None and parent not in seen:
        if parent == ancestor_id:
            return True
        seen.add(parent)
        parent_entity = entities.get(parent)
        parent = parent_entity.parent_id if parent_entity is not None else None
    return False


def _timing_sentence(event: Event, data_end: datetime | None) -> str:
    if event.schedule is not None:
        return ""
    if event.end is None:
        until = f" ({moment_text(data_end)})" if data_end is not None else ""
        return f"It was still going on where the data end{until}."
    return f"It lasted {duration_text(event.end - event.start)}."


def what_text(event: Event) -> str:
    """The statement's words for what happened ("a nationwide internet shutdown"), without noise."""
    return _what(event)


def local_start(event: Event) -> str:
    """ "21:00 Asia/Tehran" for a country with one time zone, else ""."""
    code = event.country_code
    if code is None or country_zone_count(code) != 1:
        return ""
    zone = ZoneInfo(country_zone(code))
    return f"{event.start.astimezone(zone):%H:%M} {zone.key}"


def local_time_sentence(event: Event) -> str:
    """ "In local time (Asia/Tehran, UTC+03:30) it began at 21:00 on 16 November 2019." - for a
    country with one time zone (a recurring event already speaks local time; a country with several
    zones is left in UTC rather than given a wrong local time)."""
    code = event.country_code
    if event.schedule is not None or code is None or country_zone_count(code) != 1:
        return ""
    zone = ZoneInfo(country_zone(code))
    start = event.start.astimezone(zone)
    offset = start.strftime("%z")
    where = f"{zone.key}, UTC{offset[:3]}:{offset[3:]}"
    began = f"{start:%H:%M} on {day_text(start)}"
    if event.end is None:
        return f"In local time ({where}) it began at {began}."
    end = event.end.astimezone(zone)
    ended = f"{end:%H:%M}" + ("" if end.date() == start.date() else f" on {day_text(end)}")
    return f"In local time ({where}) it lasted from {began} to {ended}."


def _depth_sentence(event: Event) -> str:
    if event.kind == EventKind.DEGRADATION:
        return ""
    if event.min_level_pct < event.mean_level_pct - 0.5:
        return f"At its lowest, {_measured_noun(event)} fell to {pct(event.min_level_pct)}."
    return ""


def _file_line(source: SourceFile) -> str:
    name = source.path.rsplit("/", 1)[-1]
    return (
        f"Data file: {name} (format {source.format}, sha256 {source.sha256}, {source.records_read:,} records "
        f"read, {source.records_skipped:,} skipped, ingested {source.ingested_at:%Y-%m-%d %H:%M} UTC)"
    )


def _file_lines(files: list[SourceFile]) -> list[str]:
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


def _evidence_lines(
    event: Event,
    sources: Sequence[SourceFile],
    params: BaselineParams,
    data_end: datetime | None,
    from_subs: bool = False,
    entities: Mapping[str, Entity] | None = None,
) -> list[str]:
    lines: list[str] = []
    bins = sorted({e.bin_s for e in event.evidence}) or [event.start_uncertainty_s]
    primary = _outage_evidence(event)
    whose = f" of the {_sub_units(event, entities or {})}" if from_subs else ""
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
    lines += _file_lines(list(files.values()))
    lines.append(f"Event id: {event.event_id}.")
    return lines


def noise_filtered(
    event: Event, noise: Mapping[str, float], entities: Mapping[str, Entity]
) -> tuple[Event, bool, list[Affected]]:
    """The event with only the affected sub-entities whose fall is beyond their ordinary swing,
    whether the event's own fall stays within its entity's, and the sub-entities left out."""
    if event.kind != EventKind.OUTAGE or not noise:
        return event, False, []
    kept = [a for a in event.affected if beyond_noise(100 * a.min_ratio, noise.get(a.entity_id))]
    dropped = [a for a in event.affected if a not in kept]
    within = not beyond_noise(event.min_level_pct, noise.get(event.entity_id))
    if not dropped:
        return event, within, []
    parents = {a.entity_id: entities[a.entity_id].parent_id for a in kept if a.entity_id in entities}
    children = sum(1 for a in kept if parents.get(a.entity_id) == event.entity_id)
    return replace(event, affected=tuple(kept), affected_children=children), within, dropped


def _noise_lines(
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


def _noise_only_headline(event: Event, dropped: list[Affected], entities: Mapping[str, Entity]) -> str:
    """An event seen only in sub-entities that all stayed within their own ordinary swing: nothing
    is named affected, and the words say so."""
    deepest = min(dropped, key=lambda a: (a.min_ratio, a.name))
    dipped = _sub_units(replace(event, affected=tuple(dropped)), entities)
    which = f"{deepest.name}, to {pct(100 * deepest.min_ratio)}" if len(dropped) == 1 else (
        f"the deepest, {deepest.name}, to {pct(100 * deepest.min_ratio)}"
    )
    return (
        f"Metrics show no fall beyond ordinary variation {place_text(event, entities)} {_when(event)}: "
        f"{dipped} dipped ({which}), within {'its' if len(dropped) == 1 else 'their'} own ordinary swing."
    )


def make_statement(
    event: Event,
    entities: Mapping[str, Entity] | None = None,
    sources: Sequence[SourceFile] = (),
    data_end: datetime | None = None,
    params: BaselineParams | None = None,
    own_alerts: bool = True,
    noise: Mapping[str, float] | None = None,
    kept: KeptLevels | None = None,
) -> Statement:
    """The statement of ``event``. ``entities`` (all of the store's, by id) name the place and count the
    affected sub-entities; ``sources`` are exactly the data files the event's numbers come from
    (:func:`lightsout.report.context.event_files`), each named in the evidence; ``data_end`` is where
    the entity's data stop (said of an event still going on there); ``own_alerts`` false says the entity's own
    series did not alert (:func:`lightsout.report.context.events_with_own_alerts`), so the levels are
    its affected sub-entities'. ``noise`` (:func:`lightsout.report.noise.event_noise`) gives each
    series' ordinary low: a sub-entity whose fall stays within it is not counted as affected, and
    an event whose lowest level stays within its entity's is "degraded", never an outage. An event
    seen only in sub-entities that all stayed within their own swing names none as affected and says
    so; when some are left out, ``kept`` (:func:`lightsout.report.noise.kept_levels`) gives the levels
    of the others alone."""
    entities = entities or {}
    params = params or BaselineParams()
    noise = noise or {}
    filtered, within_noise, dropped = noise_filtered(event, noise, entities)
    noise_only = not own_alerts and bool(event.affected) and not filtered.affected
    event = replace(filtered, affected_children=0) if noise_only else filtered
    if not own_alerts and filtered.affected:
        # the levels are the kept sub-entities' own (each beyond its own swing), not all alerted ones'
        within_noise = False
        if dropped and kept is not None:
            event = replace(event, mean_level_pct=kept.mean_level_pct, min_level_pct=kept.min_level_pct,
                            evidence=kept.evidence)  # fmt: skip
    place = place_text(event, entities)
    from_subs = not own_alerts and bool(event.affected) and place.startswith("in ")
    if from_subs:
        place = f"in {_sub_units(event, entities)} of {place.removeprefix('in ')}"
    if noise_only:
        headline = _noise_only_headline(event, dropped, entities)
    else:
        headline = (
            f"Metrics show {_what(event, within_noise)} {place} {_when(event)}; "
            f"{_level_clause(event, there=from_subs)}."
        )
    headline = headline[0].upper() + headline[1:]
    body_parts = [
        *_affected_sentences(event, entities),
        _depth_sentence(event),
        _timing_sentence(event, data_end),
        local_time_sentence(event),
    ]
    body = " ".join(p for p in body_parts if p)
    names = sorted({source_name(e.source) for e in event.evidence})
    return Statement(
        event_id=event.event_id,
        headline=headline,
        body=body,
        evidence=tuple(
            _evidence_lines(event, sources, params, data_end, from_subs, entities)
            + _noise_lines(event, noise, within_noise, dropped, own_alerts)
        ),
        attribution=f"Data: {', '.join(names) or 'the store'}. Analysis: Lightsout.",
    )
