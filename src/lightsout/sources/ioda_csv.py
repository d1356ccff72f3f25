"""Reader of IODA's dashboard CSV export ("Download CSV" on an entity's page).

ioda-ui ``handleCSVDownload`` writes Highcharts' ``getCSV``: ``"Time (UTC)"`` then one column per
signal (the legend titles), one row per time any series has a point (``YYYY-MM-DD HH:MM:SS``, UTC),
empty cells where a series has none (gaps, not zeros). The file is named ``ioda-<entity name>-<YY-MM-
DD-HH-mm of from>-<normalized|raw>.csv`` (lower case, spaces as ``-``); the entity comes from that
name or from ``--entity``. A column's bin size is its points' most common spacing (Google's series
is half-hourly beside 5-minute BGP). In a *normalized* export each value is ``100 * value /
max(series over the exported window)`` (ioda-ui ``normalize``): it is stored as source
``ioda-normalized``, apart from raw counts, since a percentage of one window's maximum must never be
mixed with counts or with another window's scale.
"""

from __future__ import annotations

import csv
import functools
import itertools
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pycountry

from lightsout.attribution.entities import make_asn_network, make_country
from lightsout.attribution.places import fold
from lightsout.errors import InputError
from lightsout.model import Entity, SignalKind, SignalPoint, Skip
from lightsout.sources import Parsed
from lightsout.sources.bounds import BoundError, epoch_to_utc, max_document_bytes
from lightsout.sources.ioda import SOURCE, RowError, add_parents, parse_entity_option

SOURCE_NORMALIZED = "ioda-normalized"  # a "normalized" export: % of each series' window maximum

TIME_COLUMN = "Time (UTC)"
# The dashboard's legend titles (ioda-ui SIGNAL_CHART_LABEL; Google series as "Google (<subtype>)").
CSV_COLUMNS: dict[str, SignalKind] = {
    "Google (Search)": SignalKind.GOOGLE_TRAFFIC,
    "Telescope (# Unique Source IPs)": SignalKind.TELESCOPE_UNIQUE_SOURCES,
    "BGP (#Visible /24s)": SignalKind.BGP_SLASH24S,
    "Active Probing (#/24s Up)": SignalKind.PROBING_UP_SLASH24S,
    "Mozilla (City Count)": SignalKind.MOZILLA_CITIES,
}

_EXPORT_NAME = re.compile(
    r"^ioda-(?P<entity>.+)-(?P<from>\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-(?P<mode>normalized|raw)"
    r"(?:\s*\(\d+\))?\.csv$",
    re.IGNORECASE,
)


@functools.cache
def _countries_by_folded_name() -> dict[str, set[str]]:
    table: dict[str, set[str]] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:
                table.setdefault(fold(str(value)), set()).add(str(country.alpha_2))
    return table


def entity_from_export_name(name_part: str) -> Entity | None:
    """The entity of a dashboard export from its file name's entity part, or None if unsure.

    ``iran-(islamic-republic-of)`` -> Iran; ``as9500-(vodafone-transit-as)`` -> AS9500.
    """
    as_match = re.match(r"^as(\d+)(?:\b|-|$)", name_part, re.IGNORECASE)
    if as_match:
        return make_asn_network(int(as_match.group(1)))
    spaced = name_part.replace("-", " ")
    table = _countries_by_folded_name()
    for candidate in (spaced, re.sub(r"\(.*?\)", " ", spaced)):
        found = table.get(fold(candidate), set())
        if len(found) == 1:
            return make_country(next(iter(found)))
    return None


def _parse_time(text: str) -> datetime:
    value = text.strip().strip('"')
    try:
        if re.fullmatch(r"\d{9,14}(\.\d+)?", value):
            number = float(value)
            return epoch_to_utc(number / 1000 if number > 1e11 else number, TIME_COLUMN)
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except BoundError as exc:
        raise RowError(str(exc)) from None
    except ValueError:
        raise RowError(f"{TIME_COLUMN} is not a time: {value[:40]!r}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _bin_seconds(times: list[int]) -> int | None:
    """The most common spacing of a column's points (the series' step), None if under two points."""
    steps = Counter(b - a for a, b in itertools.pairwise(times) if b > a)
    return steps.most_common(1)[0][0] if steps else None


def read_dashboard_csv(path: Path, entity_option: str | None = None) -> Parsed:
    name_match = _EXPORT_NAME.match(path.name)
    limit = max_document_bytes()
    if path.stat().st_size > limit:  # a dashboard export is a few hundred kB; read whole
        raise InputError(str(path), "byte 0", f"more than {limit:,} bytes (LIGHTSOUT_MAX_DOCUMENT_BYTES)")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(str(path), "line 1", f"not a CSV text file ({exc})") from None
    if not rows:
        raise InputError(str(path), "line 1", "empty file")
    header = [h.strip() for h in rows[0]]
    if not header or header[0] != TIME_COLUMN:
        raise InputError(
            str(path), "line 1", f"first column is {header[:1]}, not {TIME_COLUMN!r}: not an IODA export"
        )
    if entity_option:
        try:
            entity = parse_entity_option(entity_option)
        except RowError as exc:
            raise InputError(str(path), "", str(exc)) from None
    else:
        found = entity_from_export_name(name_match.group("entity")) if name_match else None
        if found is None:
            raise InputError(
                str(path),
                "file name",
                "cannot tell the entity from the file name; pass --entity (e.g. IR or AS12880)",
            )
        entity = found
    columns: dict[int, SignalKind] = {}
    parsed = Parsed(format="ioda-csv")
    for index, title in enumerate(header[1:], start=1):
        signal = CSV_COLUMNS.get(title)
        if signal is None:
            parsed.notes.append(
                f"column {index + 1} {title!r} is not an IODA signal Lightsout knows; left out"
            )
        else:
            columns[index] = signal
    if not columns:
        raise InputError(str(path), "line 1", "no IODA signal column in the header")

    cells: dict[int, list[tuple[int, float]]] = {i: [] for i in columns}
    seen_times: set[int] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        parsed.records_read += 1
        if len(row) != len(header):
            parsed.skipped.append(
                Skip(str(path), f"line {line}", f"{len(row)} fields, header has {len(header)}")
            )
            continue
        try:
            when_s = int(_parse_time(row[0]).timestamp())
        except RowError as exc:
            parsed.skipped.append(Skip(str(path), f"line {line}", str(exc)))
            continue
        if when_s in seen_times:
            parsed.skipped.append(Skip(str(path), f"line {line}", "duplicate of an earlier row's time"))
            continue
        seen_times.add(when_s)
        for index in columns:
            text = row[index].strip()
            if not text or text.lower() in ("null", "nan"):
                continue  # no point of this series at this time: a gap
            try:
                value = float(text)
            except ValueError:
                parsed.skipped.append(
                    Skip(
                        str(path),
                        f"line {line} column {index + 1}",
                        f"{header[index]} is not a number: {text!r}",
                    )
                )
                continue
            cells[index].append((when_s, value))
    if parsed.records_read == 0:
        raise InputError(str(path), "line 2", "no data rows after the header")

    normalized = _is_normalized(path, name_match, cells)
    source = SOURCE_NORMALIZED if normalized else SOURCE
    parsed.format = "ioda-csv-normalized" if normalized else "ioda-csv-raw"
    fallback = _bin_seconds(sorted(seen_times))
    for index, series in cells.items():
        series.sort()
        bin_s = _bin_seconds([t for t, _ in series]) or fallback
        if bin_s is None:
            parsed.notes.append(f"{header[index]}: one point and no spacing to tell its bin size; left out")
            continue
        for when_s, value in series:
            parsed.points.append(
                SignalPoint(
                    entity.entity_id,
                    columns[index],
                    source,
                    datetime.fromtimestamp(when_s, UTC),
                    bin_s,
                    value,
                )
            )
    if not parsed.points:
        raise InputError(str(path), "line 2", f"no usable value: {len(parsed.skipped)} skipped")
    entities = {entity.entity_id: entity}
    add_parents(entities)
    parsed.entities.extend(entities.values())
    if normalized:
        parsed.notes.append(
            f"normalized export: values are % of each series' maximum over the exported window, "
            f"stored as source {SOURCE_NORMALIZED!r} (export 'raw' for counts)"
        )
    return parsed


def _is_normalized(
    path: Path, name_match: re.Match[str] | None, cells: dict[int, list[tuple[int, float]]]
) -> bool:
    """Normalized or raw: the file name says; otherwise every series peaking at exactly 100 tells."""
    if name_match:
        return name_match.group("mode").lower() == "normalized"
    peaks = [max(v for _, v in series) for series in cells.values() if series]
    if peaks and all(99.0 <= p <= 100.0 + 1e-9 for p in peaks):
        return True
    if any(p > 100.0 + 1e-9 for p in peaks):
        return False
    raise InputError(
        str(path),
        "file name",
        "cannot tell a normalized export from a raw one; keep the name ending -raw.csv or -normalized.csv",
    )
