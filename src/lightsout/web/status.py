"""Each country's current status, as the dashboard's front page colours it.

A country whose longest series spans less than the detector's warm-up (2 days) is "not enough
data", not "normal": nothing could have been detected there. "Current" is judged at the end of
each country's own data, not by the wall clock: an archive of
November 2019 shows Iran's shutdown as open where its data end (worded "open at end of data": "ongoing"
needs live data, ``report.words.is_live``), and a live store, whose data end minutes ago, shows what
is happening now.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from lightsout.detect.seasonal import BaselineParams
from lightsout.model import Entity, EntityKind, Event, Scope, SeriesSummary
from lightsout.report.words import is_live

RECENT = timedelta(days=7)


class Status(enum.StrEnum):
    ONGOING = "ongoing"  # an event still going on where the country's data end
    RECENT = "recent"  # an event that ended within RECENT of the end of the data
    NORMAL = "normal"  # judged (enough data for a baseline), and no event in that time
    NOT_ENOUGH = "not enough data"  # too short a span for the detector to judge anything
    NO_DATA = "no data"


MIN_SPAN = timedelta(days=BaselineParams().min_days)  # the detector judges nothing before this much data


@dataclass(frozen=True, slots=True)
class CountryStatus:
    country_code: str
    name: str
    entity_id: str | None  # the country's own entity, if the store has one
    status: Status
    ongoing: list[Event]
    recent: list[Event]
    events: int  # events of any scope in the country
    data_end: datetime | None

    @property
    def label(self) -> str:
        """The status in words: "ongoing" needs live data (:func:`lightsout.report.words.is_live`);
        an event open where recorded data end (an archive, a stalled source) is "open at end of data"."""
        if self.status == Status.ONGOING and not is_live(self.data_end):
            return "open at end of data"
        return self.status.value

    @property
    def national(self) -> bool:
        """Whether the ongoing (or else recent) events include a national one."""
        return any(e.scope == Scope.NATIONAL for e in (self.ongoing or self.recent))


def country_statuses(
    entities: list[Entity], events: list[Event], summaries: list[SeriesSummary], recent: timedelta = RECENT
) -> list[CountryStatus]:
    """One row per country that has an entity in the store; ongoing first, then recent, then by name."""
    by_id = {e.entity_id: e for e in entities}
    names: dict[str, str] = {}
    own: dict[str, str] = {}
    for entity in entities:
        if entity.country_code is None:
            continue
        if entity.kind == EntityKind.COUNTRY:
            names[entity.country_code] = entity.name
            own[entity.country_code] = entity.entity_id
        else:
            names.setdefault(entity.country_code, _country_name(entity.country_code))
    data_end: dict[str, datetime] = {}
    longest: dict[str, timedelta] = {}
    for summary in summaries:
        owner = by_id.get(summary.key.entity_id)
        if owner is None or owner.country_code is None:
            continue
        code = owner.country_code
        data_end[code] = max(summary.end, data_end.get(code, summary.end))
        longest[code] = max(summary.end - summary.first, longest.get(code, timedelta(0)))
    per_country: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.country_code is not None:
            per_country[event.country_code].append(event)
    rows = []
    for code, name in names.items():
        country_events = per_country.get(code, [])
        end = data_end.get(code)
        ongoing = [e for e in country_events if e.end is None]
        recent_events = [
            e for e in country_events if e.end is not None and end is not None and e.end >= end - recent
        ]
        if end is None:
            status = Status.NO_DATA
        elif ongoing:
            status = Status.ONGOING
        elif recent_events:
            status = Status.RECENT
        elif longest.get(code, timedelta(0)) < MIN_SPAN and not country_events:
            status = Status.NOT_ENOUGH
        else:
            status = Status.NORMAL
        rows.append(
            CountryStatus(code, name, own.get(code), status, ongoing, recent_events, len(country_events), end)
        )
    # what is going on first: ongoing, recent, then countries with events in their data (most
    # first), then the quiet ones, then those too thinly measured to judge
    order = {Status.ONGOING: 0, Status.RECENT: 1, Status.NORMAL: 2, Status.NOT_ENOUGH: 3, Status.NO_DATA: 4}
    return sorted(rows, key=lambda r: (order[r.status], not r.national, -r.events, r.name))


def _country_name(code: str) -> str:
    import pycountry

    found = pycountry.countries.get(alpha_2=code)
    return str(found.name) if found is not None else code
