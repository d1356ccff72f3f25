"""A plain-language statement of an event, in the manner of NetBlocks, with the evidence behind it.

    Metrics show a nationwide internet shutdown in Iran since 17:30 UTC on 16 November 2019;
    connectivity at 7% of ordinary levels. All 30 provinces are affected.

Every word comes from the event (scope, kind, depth, affected sub-entities, ongoing or not,
schedule) and every number has an evidence line: the signal, its source and bins, the baseline
method, and the data files in the store (``report.evidence``). The wording rules are in
``docs/reporting.md``; words and places are in ``report.words`` and ``report.places``. Pure
function of its inputs: no store, no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from lightsout.attribution.timezones import country_zone, country_zone_count
from lightsout.detect.noise import KeptLevels, judge
from lightsout.detect.seasonal import BaselineParams
from lightsout.model import (
    Affected,
    Entity,
    EntityKind,
    Event,
    EventKind,
    Scope,
    SourceFile,
)
from lightsout.report.evidence import evidence_lines, noise_filtered, noise_lines, outage_evidence
from lightsout.report.places import country_name, kind_of, place_text, sub_units, unit_words
from lightsout.report.words import (
    SIGNAL_NOUNS,
    SOURCE_NAMES,
    bin_text,
    day_text,
    duration_text,
    moment_text,
    pct,
    signal_noun,
    source_name,
    span_text,
)

__all__ = [  # the statement, and the words and places it is made of (imported from here elsewhere)
    "SIGNAL_NOUNS",
    "SOURCE_NAMES",
    "Statement",
    "bin_text",
    "country_name",
    "day_text",
    "duration_text",
    "local_start",
    "local_time_sentence",
    "make_statement",
    "moment_text",
    "noise_filtered",
    "pct",
    "place_text",
    "severity",
    "signal_noun",
    "source_name",
    "unit_words",
    "what_text",
]

# The scale of words (docs/reporting.md), by the event's mean level as % of ordinary:
SHUTDOWN_LEVEL_PCT = 25.0  # at most this: nationwide "shutdown"; elsewhere "near-total outage"
MAJOR_LEVEL_PCT = 50.0  # at most this: "major"
PARTIAL_LEVEL_PCT = 75.0  # at most this, and its lowest level beyond noise: "partial"; else "degraded"
NIGHT_START_HOURS = {*range(18, 24), *range(0, 6)}  # a recurring cut starting then is "nightly"


@dataclass(frozen=True, slots=True)
class Statement:
    """What to publish about an event: a one-sentence headline, more sentences, and the evidence."""

    event_id: str
    headline: str
    body: str
    evidence: tuple[str, ...]
    attribution: str  # "Data: Monash IP Observatory"
    kind_word: str = "outage"  # what the event is called in titles and legends (see make_statement)

    def text(self) -> str:
        lines = [self.headline]
        if self.body:
            lines += ["", self.body]
        lines += ["", "Evidence:"] + [f"- {line}" for line in self.evidence] + ["", self.attribution]
        return "\n".join(lines) + "\n"


# -- the statement -----------------------------------------------------------------------------------


def _measured_noun(event: Event) -> str:
    measured = outage_evidence(event)
    signals = {e.signal for e in measured}
    if len(signals) == 1:
        sources = {e.source for e in measured}
        return signal_noun(next(iter(signals)), next(iter(sources)) if len(sources) == 1 else None)
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
    return span_text(event.start, event.end)


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
        deep_kind = kind_of(affected_id, entities)
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
        kinds = Counter(kind_of(a.entity_id, entities) for a in event.affected)
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


def _noise_only_headline(event: Event, dropped: list[Affected], entities: Mapping[str, Entity]) -> str:
    """An event seen only in sub-entities that all stayed within their own ordinary swing: nothing
    is named affected, and the words say so."""
    deepest = min(dropped, key=lambda a: (a.min_ratio, a.name))
    dipped = sub_units(replace(event, affected=tuple(dropped)), entities)
    which = (
        f"{deepest.name}, to {pct(100 * deepest.min_ratio)}"
        if len(dropped) == 1
        else (f"the deepest, {deepest.name}, to {pct(100 * deepest.min_ratio)}")
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
    its affected sub-entities'. ``noise`` (:func:`lightsout.detect.noise.event_noise`) gives each
    series' ordinary low: a sub-entity whose fall stays within it is not counted as affected, and
    an event whose lowest level stays within its entity's is "degraded", never an outage. An event
    seen only in sub-entities that all stayed within their own swing names none as affected and says
    so; when some are left out, ``kept`` (:func:`lightsout.detect.noise.kept_levels`) gives the levels
    of the others alone."""
    entities = entities or {}
    params = params or BaselineParams()
    noise = noise or {}
    # the one judgement against noise that every output publishes (detect.noise.judge)
    event = judge(event, own_alerts, noise, kept, entities)
    within_noise, dropped = event.within_noise, list(event.not_counted)
    noise_only = not own_alerts and bool(dropped) and not event.affected

    place = place_text(event, entities)
    from_subs = not own_alerts and bool(event.affected) and place.startswith("in ")
    if from_subs:
        place = f"in {sub_units(event, entities)} of {place.removeprefix('in ')}"
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
            evidence_lines(event, sources, params, data_end, from_subs, entities)
            + noise_lines(event, noise, within_noise, dropped, own_alerts)
        ),
        attribution=f"Data: {', '.join(names) or 'the store'}. Analysis: Lightsout.",
        kind_word="dip within ordinary variation" if noise_only else event.kind.value,
    )
