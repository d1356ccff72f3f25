"""Reader of the Monash University IP Observatory's open data (sodalabsio/shared_data).

Five layouts, told apart by their header (columns as described in the data's README):

* ``regional``: connectivity index 0..100 per region (``iso,id_1,name_1,...``), optionally per
  county (``id_2,name_2``); ``time_e`` is *local* wall-clock time written as an epoch "for
  Kepler.gl", so it is converted to UTC with the country's time zone (IANA tz database).
* ``county_utc``: Hurricane Laura, connectivity 0..10 per US county in UTC; rescaled x10 to the
  0..100 index every other Monash file uses.
* ``latency``: 3-hourly latency index per region, local time with a per-row ``timezone_offset``.
* ``raw_rtt``: raw per-address replies (hashed address, ISP, local time GMT+6.5 per the README,
  RTT). Turned into hourly ``responsive_addresses`` (distinct addresses replying) and
  ``median_rtt_ms`` per county, region and ISP (never per country: one city's replies are
  not a national signal).

Aggregates: a region's index is the unweighted mean of its counties' (the files give no address
counts to weight by); a country's is the mean of its regions' and is produced only when the file
covers at least half of the country's ISO 3166-2 subdivisions, so that a few counties of a large
country (Laura: 4 of 57 US subdivisions) never pose as a national signal.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pycountry

from lightsout.attribution.entities import make_country, make_county, make_isp_network, make_region
from lightsout.attribution.places import country_alpha2
from lightsout.errors import InputError
from lightsout.model import Entity, EntityKind, SignalKind, SignalPoint, Skip
from lightsout.sources import Parsed, Progress, no_progress
from lightsout.sources.bounds import (
    MAX_SPAN,
    BoundError,
    check_name,
    check_time,
    check_value,
    epoch_to_utc,
    max_points,
)

SOURCE = "monash"

# Time zone of sources whose README says only "local time". Only single-zone countries.
COUNTRY_TZ = {"IR": "Asia/Tehran", "VE": "America/Caracas", "MM": "Asia/Yangon"}
# mmr-2021-04-09_Bago.csv README: "local time (GMT +6.5h)".
RAW_RTT_UTC_OFFSET = timedelta(hours=6, minutes=30)

LAYOUTS: dict[str, tuple[str, ...]] = {
    "regional_county": ("iso", "id_1", "name_1", "id_2", "name_2", "time_e", "connectivity"),
    "regional": ("iso", "id_1", "name_1", "time_e", "connectivity"),
    "county_utc": ("time_e_utc", "connectivity", "iso", "name_1", "name_2"),
    "latency": ("country_iso_three_char_code", "adm1_name", "timezone_offset", "time_local", "latency_indx"),
    "raw_rtt": ("ip_hash", "iso", "name_1", "name_2", "isp_name", "time_local_str", "rtt"),
}


class RowError(ValueError):
    """A row that cannot be used; the message is the skip reason."""


# What a row can fail with: its own damage, or a value outside Lightsout's bounds.
_ROW_ERRORS = (RowError, BoundError)
MAX_TZ_OFFSET_H = 14.0  # UTC-12 .. UTC+14
MAX_RTT_MS = 3_600_000.0


@dataclass(frozen=True, slots=True)
class _Value:
    """One parsed row: the most detailed entity it describes and its value."""

    lineage: tuple[Entity, ...]  # the entity the row describes first, then its parents
    bin_start: datetime
    value: float

    @property
    def entity(self) -> Entity:
        return self.lineage[0]


def detect_layout(header: list[str]) -> str | None:
    columns = set(header)
    for layout, needed in LAYOUTS.items():
        if set(needed) <= columns:
            return layout
    return None


def read_monash(path: Path, progress: Progress = no_progress) -> Parsed:
    total = path.stat().st_size
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(str(path), "line 1", "empty file") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputError(str(path), "line 1", f"not a CSV text file ({exc})") from None
        layout = detect_layout([h.strip() for h in header])
        if layout is None:
            raise InputError(
                str(path),
                "line 1",
                f"unknown columns {','.join(header[:8])}: not a Monash IP Observatory layout",
            )
        parsed = Parsed(format=f"monash-{layout}")
        rows = _iter_rows(path, reader, [h.strip() for h in header], parsed, progress, total)
        if layout == "raw_rtt":
            _raw_rtt(rows, parsed, str(path))
        else:
            _indexed(layout, rows, parsed, str(path))
    if parsed.records_read == 0:
        raise InputError(str(path), "line 2", "no data rows after the header")
    if not parsed.points:
        raise InputError(str(path), "line 2", f"no usable row: {len(parsed.skipped)} rows skipped")
    return parsed


def _iter_rows(
    path: Path,
    reader: Iterator[list[str]],
    header: list[str],
    parsed: Parsed,
    progress: Progress,
    total: int,
) -> Iterator[tuple[int, dict[str, str]]]:
    line = 1
    done = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except (UnicodeDecodeError, csv.Error) as exc:
            line += 1
            parsed.skipped.append(Skip(str(path), f"line {line}", f"unreadable row: {exc}"))
            continue
        line += 1
        done += sum(len(c) + 1 for c in row)
        if line % 2000 == 0:
            progress(min(done, total), total)
        if not row:
            continue
        parsed.records_read += 1
        if len(row) != len(header):
            parsed.skipped.append(
                Skip(str(path), f"line {line}", f"{len(row)} fields, header has {len(header)}")
            )
            continue
        yield line, dict(zip(header, row, strict=True))
    progress(total, total)


def _country(iso: str) -> str:
    alpha2 = country_alpha2(iso)
    if alpha2 is None:
        raise RowError(f"unknown country code {iso!r}")
    return alpha2


def _number(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RowError(f"{column} is not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise RowError(f"{column} is not a finite number: {text!r}")
    return value


def _local_epoch_to_utc(text: str, alpha2: str) -> datetime:
    zone = COUNTRY_TZ.get(alpha2)
    if zone is None:
        raise RowError(f"no single time zone known for {alpha2}; cannot convert local time")
    wall = epoch_to_utc(_number(text, "time_e"), "time_e").replace(tzinfo=None)
    return check_time(wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC), "time_e")


def _name(row: dict[str, str], column: str) -> str:
    return check_name(row[column], column)


def _parse_indexed(layout: str, row: dict[str, str]) -> tuple[_Value, int]:
    """Returns the value and its bin size in seconds."""
    if layout in ("regional", "regional_county"):
        alpha2 = _country(row["iso"])
        region = make_region(alpha2, _name(row, "name_1"))
        lineage: tuple[Entity, ...] = (region, make_country(alpha2))
        if layout == "regional_county":
            lineage = (make_county(region, _name(row, "name_2")), *lineage)
        value = check_value(_number(row["connectivity"], "connectivity"), "connectivity", 0.0, 100.0)
        return _Value(lineage, _local_epoch_to_utc(row["time_e"], alpha2), value), 3600
    if layout == "county_utc":
        alpha2 = _country(row["iso"])
        region = make_region(alpha2, _name(row, "name_1"))
        county = make_county(region, _name(row, "name_2"))
        when = epoch_to_utc(_number(row["time_e_utc"], "time_e_utc"), "time_e_utc")
        level = check_value(_number(row["connectivity"], "connectivity"), "connectivity", 0.0, 10.0)
        return _Value((county, region, make_country(alpha2)), when, level * 10.0), 3600
    # latency: local time minus the row's own offset
    alpha2 = _country(row["country_iso_three_char_code"])
    region = make_region(alpha2, _name(row, "adm1_name"))
    hours = _number(row["timezone_offset"], "timezone_offset")
    offset = timedelta(hours=check_value(hours, "timezone_offset", -MAX_TZ_OFFSET_H, MAX_TZ_OFFSET_H))
    try:
        local = datetime.strptime(row["time_local"].strip(), "%d-%b-%Y %H:%M:%S")
        when = (local - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise RowError(f"time_local is not a date: {row['time_local']!r}") from None
    return _Value(
        (region, make_country(alpha2)),
        check_time(when, "time_local"),
        check_value(_number(row["latency_indx"], "latency_indx"), "latency_indx", 0.0),
    ), 10800


def _indexed(layout: str, rows: Iterator[tuple[int, dict[str, str]]], parsed: Parsed, path: str) -> None:
    signal = SignalKind.LATENCY_INDEX if layout == "latency" else SignalKind.CONNECTIVITY_INDEX
    leaf: dict[tuple[str, datetime], float] = {}
    entities: dict[str, Entity] = {}
    bin_s = 3600
    for line, row in rows:
        try:
            value, bin_s = _parse_indexed(layout, row)
        except _ROW_ERRORS as exc:
            parsed.skipped.append(Skip(path, f"line {line}", str(exc)))
            continue
        key = (value.entity.entity_id, value.bin_start)
        if key in leaf:
            parsed.skipped.append(Skip(path, f"line {line}", "duplicate of an earlier row"))
            continue
        leaf[key] = value.value
        for entity in value.lineage:
            entities[entity.entity_id] = entity
    for (entity_id, when), level in leaf.items():
        parsed.points.append(SignalPoint(entity_id, signal, SOURCE, when, bin_s, level))
    _aggregate_upwards(leaf, entities, signal, bin_s, parsed)


def _aggregate_upwards(
    leaf: dict[tuple[str, datetime], float],
    entities: dict[str, Entity],
    signal: SignalKind,
    bin_s: int,
    parsed: Parsed,
) -> None:
    """Mean of children per bin: counties -> regions -> countries (see module docstring)."""
    level = dict(leaf)
    known = dict(entities)
    while True:
        groups: dict[tuple[str, datetime], list[float]] = defaultdict(list)
        for (entity_id, when), value in level.items():
            parent = known[entity_id].parent_id
            if parent is not None:
                groups[(parent, when)].append(value)
        if not groups:
            break
        parents = {parent_id: known[parent_id] for parent_id, _ in groups}
        if any(p.kind == EntityKind.COUNTRY for p in parents.values()):
            parents, groups = _enough_regions(parents, groups, known, parsed)
        level = {}
        for (parent_id, when), values in groups.items():
            mean = statistics.fmean(values)
            level[(parent_id, when)] = mean
            parsed.points.append(SignalPoint(parent_id, signal, SOURCE, when, bin_s, mean, len(values)))
    parsed.entities.extend(known.values())


def _enough_regions(
    parents: dict[str, Entity],
    groups: dict[tuple[str, datetime], list[float]],
    known: dict[str, Entity],
    parsed: Parsed,
) -> tuple[dict[str, Entity], dict[tuple[str, datetime], list[float]]]:
    keep: dict[str, Entity] = {}
    for parent_id, country in parents.items():
        alpha2 = country.code
        regions = {e.entity_id for e in known.values() if e.parent_id == parent_id}
        iso_count = len(
            [s for s in pycountry.subdivisions.get(country_code=alpha2) or [] if not s.parent_code]
        )
        if iso_count and len(regions) * 2 < iso_count:
            parsed.notes.append(
                f"no national series for {alpha2}: the file covers {len(regions)} of its "
                f"{iso_count} first-level subdivisions"
            )
            continue
        keep[parent_id] = country
    return keep, {k: v for k, v in groups.items() if k[0] in keep}


def _raw_rtt(rows: Iterator[tuple[int, dict[str, str]]], parsed: Parsed, path: str) -> None:
    """Hourly distinct responsive addresses and median RTT, per county, region, country and ISP."""
    kept: list[tuple[int, datetime, tuple[Entity, ...], str, float]] = []
    for line, row in rows:
        try:
            alpha2 = _country(row["iso"])
            region = make_region(alpha2, _name(row, "name_1"))
            county = make_county(region, _name(row, "name_2"))
            isp = make_isp_network(alpha2, _name(row, "isp_name"))
            rtt = check_value(_number(row["rtt"], "rtt"), "rtt", 0.0, MAX_RTT_MS)
            try:
                local = datetime.strptime(row["time_local_str"].strip()[:19], "%Y-%m-%d %H:%M:%S")
                # Hourly bins on the source's local hours, so they match its time_local_hr.
                local_hour = local.replace(minute=0, second=0, microsecond=0)
                bin_start = (local_hour - RAW_RTT_UTC_OFFSET).replace(tzinfo=UTC)
            except (ValueError, OverflowError):
                raise RowError(f"time_local_str is not a date: {row['time_local_str']!r}") from None
            check_time(bin_start, "time_local_str")
        except _ROW_ERRORS as exc:
            parsed.skipped.append(Skip(path, f"line {line}", str(exc)))
            continue
        kept.append((line, bin_start, (county, region, isp), row["ip_hash"], rtt))
    kept = _within_span(kept, parsed, path)
    replies: dict[tuple[str, datetime], dict[str, float]] = defaultdict(dict)
    entities: dict[str, Entity] = {}
    for _, bin_start, lineage, ip_hash, rtt in kept:
        for entity in lineage:
            entities[entity.entity_id] = entity
            replies[(entity.entity_id, bin_start)][ip_hash] = rtt
    # Raw replies from a few places never make a national series (see the module docstring).
    for alpha2 in sorted({e.country_code for e in entities.values() if e.country_code}):
        entities[f"country/{alpha2}"] = make_country(alpha2)
    parsed.entities.extend(entities.values())
    if not kept:
        return
    first = min(k[1] for k in kept)
    last = max(k[1] for k in kept)
    # The file is the observatory's full record of replies over its span: an hour with no reply
    # inside that span is 0 responsive addresses (a measured silence), not missing data.
    hours = int((last - first).total_seconds() // 3600) + 1
    filled = hours * sum(e.kind != EntityKind.COUNTRY for e in entities.values())
    if filled > max_points():
        raise InputError(
            path, "", f"{filled:,} hourly points ({hours:,} hours x {len(entities):,} places) exceed the "
            f"limit of {max_points():,} per file (LIGHTSOUT_MAX_POINTS); split the file"
        )
    for entity_id, entity in entities.items():
        if entity.kind == EntityKind.COUNTRY:
            continue
        for h in range(hours):
            bin_start = first + timedelta(hours=h)
            got = replies.get((entity_id, bin_start), {})
            parsed.points.append(
                SignalPoint(
                    entity_id,
                    SignalKind.RESPONSIVE_ADDRESSES,
                    SOURCE,
                    bin_start,
                    3600,
                    float(len(got)),
                    len(got),
                )
            )
            if got:
                parsed.points.append(
                    SignalPoint(
                        entity_id,
                        SignalKind.MEDIAN_RTT_MS,
                        SOURCE,
                        bin_start,
                        3600,
                        statistics.median(got.values()),
                        len(got),
                    )
                )


_Reply = tuple[int, datetime, tuple[Entity, ...], str, float]


def _within_span(kept: list[_Reply], parsed: Parsed, path: str) -> list[_Reply]:
    """The rows within half of :data:`MAX_SPAN` of the file's median hour; each other row is a skip.

    Silent hours are filled with zeros between the first and last row, so one far-dated row
    would otherwise fill every hour up to it (a 4 kB file asking for years of hourly points).
    """
    if not kept:
        return kept
    times = sorted(k[1] for k in kept)
    middle = times[len(times) // 2]
    half = MAX_SPAN / 2
    inside: list[_Reply] = []
    for reply in kept:
        if abs(reply[1] - middle) <= half:
            inside.append(reply)
        else:
            parsed.skipped.append(Skip(
                path, f"line {reply[0]}",
                f"time more than {half.days} days from the file's median hour ({middle:%Y-%m-%d %H:%M} UTC)",
            ))
    return inside
