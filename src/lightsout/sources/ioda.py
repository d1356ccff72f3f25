"""Reader of IODA's data (Internet Outage Detection and Analysis, Georgia Tech): saved API v2
``signals/raw`` and ``outages/events`` responses, and (via ``ioda_csv``) the dashboard's CSV export.

Formats (``../shared/data/api-samples/ioda/README.md``; ioda-api and ioda-ui sources):

* ``signals/raw`` envelope ``{type: "signals", error, data: [[series, ...], ...]}``; a series is
  ``{entityType, entityCode, entityName, entityFqid, datasource, subtype, from, until, step,
  nativeStep, values}``, value *i* at ``from + i*step``. ``step > nativeStep`` means the server
  averaged ``step / nativeStep`` native bins into one. ``null`` is a bin IODA has no data for: a
  gap, never a zero, so it is not stored.
* The dashboard's CSV export is read by :mod:`lightsout.sources.ioda_csv` (``read_ioda`` hands it
  over).
* ``outages/events`` (``type: "outages.events"``), in IODA's ``ioda`` format (entity objects) or
  its default ``codf`` format (``location: "country/TN"``, ``start``, ``duration``), becomes
  :class:`ExternalEvent` records: IODA's judgement, kept beside Lightsout's events, never in them.

Datasources map to Lightsout's signal kinds (source ``ioda``): ``bgp`` -> visible /24s,
``ping-slash24`` -> /24s up by active probing, ``merit-nt`` -> telescope unique source IPs,
``gtr`` / ``gtr-norm`` -> Google traffic (raw / normalised). Entities: countries by ISO 3166-1
alpha-2 (IODA's code), regions by ISO 3166-2 matched from IODA's region name within the country
its ``fqid`` names (IODA's numeric region ids are Natural Earth's, not ISO's), ASes as
``network/AS<n>``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pycountry

from lightsout.attribution.entities import make_asn_network, make_country
from lightsout.attribution.places import country_alpha2, region_code
from lightsout.errors import InputError
from lightsout.model import Entity, EntityKind, ExternalEvent, Scope, SignalKind, SignalPoint, Skip
from lightsout.sources import Parsed, Progress, no_progress
from lightsout.sources.bounds import BoundError, check_name, epoch_to_utc, max_document_bytes

SOURCE = "ioda"
_INFINITE = (float("inf"), float("-inf"))
DASHBOARD_URL = "https://ioda.inetintel.cc.gatech.edu"

DATASOURCES: dict[str, SignalKind] = {
    "bgp": SignalKind.BGP_SLASH24S,
    "ping-slash24": SignalKind.PROBING_UP_SLASH24S,
    "merit-nt": SignalKind.TELESCOPE_UNIQUE_SOURCES,
    "gtr": SignalKind.GOOGLE_TRAFFIC,
    "gtr-norm": SignalKind.GOOGLE_TRAFFIC_NORMALISED,
}

# Words IODA's (Natural Earth's) region names carry that ISO 3166-2 names do not.
_REGION_SUFFIXES = re.compile(
    r"\s+(district|governorate|province|region|department|prefecture|county|municipality|"
    r"division|state|territory|oblast|wilayah|muhafazat)$",
    re.IGNORECASE,
)


MAX_STEP_S = 86_400  # IODA's coarsest step is a day


class RowError(ValueError):
    """A record that cannot be used; the message is the skip reason."""


# -- entities ------------------------------------------------------------------------------------


def _region_entity(alpha2: str, name: str) -> Entity:
    """An IODA region as a Lightsout region: ISO 3166-2 by name, trying without a generic suffix."""
    code, matched = region_code(alpha2, name)
    if not matched:
        shorter = _REGION_SUFFIXES.sub("", name.strip())
        if shorter != name.strip():
            short_code, short_matched = region_code(alpha2, shorter)
            if short_matched:
                code = short_code
    return Entity(f"region/{code}", EntityKind.REGION, code, name, alpha2, f"country/{alpha2}")


def _country_of_fqid(fqid: str | None) -> str | None:
    """``geo.provider.OC.NZ.3046`` / ``geo.netacuity.AF.ET`` -> ``NZ`` / ``ET``."""
    if not fqid:
        return None
    parts = fqid.split(".")
    if len(parts) >= 4 and parts[0] == "geo":
        return country_alpha2(parts[3])
    return None


def ioda_entity(
    entity_type: str, code: str, name: str | None, fqid: str | None = None, country: str | None = None
) -> Entity:
    """An IODA entity (``country``/``region``/``asn``) as a Lightsout :class:`Entity`.

    ``country`` is the region's country when the caller knows it (IODA's entities response gives
    ``attrs.country_code``); otherwise it is read from the ``fqid``. Raises :class:`RowError`.
    """
    kind = entity_type.strip().lower()
    code = str(code).strip()
    try:
        name = check_name(name, f"{kind} {code[:20]} name") if name else None
    except BoundError as exc:
        raise RowError(str(exc)) from None
    if kind == "country":
        alpha2 = country_alpha2(code)
        if alpha2 is None:
            raise RowError(f"unknown country code {code!r}")
        return make_country(alpha2)
    if kind == "region":
        alpha2 = country_alpha2(country) if country else _country_of_fqid(fqid)
        if alpha2 is None:
            raise RowError(f"region {code}: no country known (no fqid or country code)")
        if not name:
            raise RowError(f"region {code}: no name to match to ISO 3166-2")
        return _region_entity(alpha2, name)
    if kind == "asn":
        digits = code.upper().removeprefix("AS")
        if not digits.isdigit():
            raise RowError(f"AS number is not a number: {code!r}")
        return make_asn_network(int(digits), None, name or None)
    raise RowError(f"entity type {entity_type!r} is not a country, region or AS")


def parse_entity_option(text: str) -> Entity:
    """``--entity``: ``country/IR``, ``IR``, ``IRN``, ``AS12880``, ``network/AS12880``,
    ``region/IR-23`` or ``IR-23``."""
    value = text.strip()
    lowered = value.lower()
    for prefix in ("country/", "network/", "region/"):
        if lowered.startswith(prefix):
            value = value[len(prefix) :]
            break
    upper = value.upper()
    if upper.startswith("AS") and upper[2:].isdigit():
        return make_asn_network(int(upper[2:]))
    if re.fullmatch(r"[A-Z]{2}-[A-Z0-9]{1,3}", upper):
        sub = pycountry.subdivisions.get(code=upper)
        if sub is None:
            raise RowError(f"unknown ISO 3166-2 code {value!r}")
        alpha2 = upper[:2]
        return Entity(f"region/{upper}", EntityKind.REGION, upper, str(sub.name), alpha2, f"country/{alpha2}")
    country = country_alpha2(upper)
    if country is None:
        raise RowError(f"--entity {text!r}: not a country (ISO 3166-1), region (ISO 3166-2) or AS")
    return make_country(country)


# -- signals/raw ---------------------------------------------------------------------------------


def read_ioda(path: Path, progress: Progress = no_progress, entity: str | None = None) -> Parsed:
    """Read a saved ``signals/raw`` response (JSON) or a dashboard CSV export.

    ``entity`` (the ``--entity`` option) names the entity of a CSV export whose file name does not.
    """
    total = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(64).lstrip()
    if head[:1] in (b"{", b"["):
        parsed = _read_json(path)
    else:
        from lightsout.sources.ioda_csv import read_dashboard_csv

        parsed = read_dashboard_csv(path, entity)
    progress(total, total)
    return parsed


def _load_json(path: Path) -> Any:
    limit = max_document_bytes()
    if path.stat().st_size > limit:
        size = path.stat().st_size
        message = f"{size:,} bytes, more than one answer may ({limit:,}, LIGHTSOUT_MAX_DOCUMENT_BYTES)"
        raise InputError(str(path), "byte 0", message)
    try:
        with path.open(encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(
            str(path), f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"byte {exc.start}", "not UTF-8 text") from None


def envelope_type(document: Any) -> str | None:
    """The ``type`` of an IODA API v2 envelope, or None if ``document`` is not one."""
    if isinstance(document, dict) and isinstance(document.get("type"), str) and "data" in document:
        return str(document["type"])
    return None


def _read_json(path: Path) -> Parsed:
    document = _load_json(path)
    kind = envelope_type(document)
    if isinstance(document, list):  # the bare ``data`` member
        kind, data = "signals", document
    elif kind is None:
        raise InputError(str(path), "byte 0", "not an IODA API v2 response (no type and data)")
    else:
        if document.get("error"):
            raise InputError(str(path), "error", f"IODA answered with an error: {document['error']}")
        data = document["data"]
    if kind == "outages.events":
        parsed = Parsed(format="ioda-events")
        parse_events(data, str(path), parsed)
        return parsed
    if kind != "signals":
        raise InputError(str(path), "type", f"IODA {kind!r} response holds neither signals nor events")
    parsed = Parsed(format="ioda-signals")
    parse_signals(data, str(path), parsed)
    if not parsed.points and not parsed.notes:
        raise InputError(str(path), "data", f"no usable series: {len(parsed.skipped)} skipped")
    return parsed


@dataclass(frozen=True, slots=True)
class _Series:
    entity: Entity
    signal: SignalKind
    start_s: int
    step_s: int
    native_step_s: int
    values: list[Any]
    subtype: str


# Google's traffic comes per product (IODA ``subtype``); one series per entity is kept: web search
# for raw traffic (the dashboard's "Google (Search)"), the blend for the normalised series.
_PREFERRED_SUBTYPES = {
    SignalKind.GOOGLE_TRAFFIC: ("WEB_SEARCH", "BLENDED"),
    SignalKind.GOOGLE_TRAFFIC_NORMALISED: ("BLENDED", "WEB_SEARCH"),
}


def _rank(series: _Series) -> int:
    preferred = _PREFERRED_SUBTYPES.get(series.signal, ())
    return preferred.index(series.subtype) if series.subtype in preferred else len(preferred)


def _chosen_series(data: list[Any], path: str, parsed: Parsed) -> list[tuple[str, _Series]]:
    """Every readable series, one per (entity, signal, step): the preferred subtype, else the first;
    the others and the unreadable ones are skipped with their position."""
    chosen: dict[tuple[str, SignalKind, int], tuple[str, _Series]] = {}
    for i, group in enumerate(data):
        for j, raw in enumerate(group if isinstance(group, list) else [group]):
            position = f"data[{i}][{j}]"
            parsed.records_read += 1
            try:
                series = _series(raw)
            except RowError as exc:
                parsed.skipped.append(Skip(path, position, str(exc)))
                continue
            key = (series.entity.entity_id, series.signal, series.step_s)
            kept = chosen.get(key)
            if kept is not None and _rank(kept[1]) <= _rank(series):
                loser, winner = (position, series), kept
            else:
                loser, winner = kept, (position, series)  # type: ignore[assignment]
            chosen[key] = winner
            if loser is not None:
                parsed.skipped.append(
                    Skip(
                        path,
                        loser[0],
                        f"another {series.signal.value} series of the entity (subtype "
                        f"{loser[1].subtype or '-'}; kept {winner[1].subtype or '-'})",
                    )
                )
    return list(chosen.values())


def _series(raw: Any) -> _Series:
    if not isinstance(raw, dict):
        raise RowError("series is not an object")
    datasource = raw.get("datasource")
    signal = DATASOURCES.get(str(datasource))
    if signal is None:
        raise RowError(f"unknown datasource {datasource!r}")
    entity = ioda_entity(
        str(raw.get("entityType", "")),
        str(raw.get("entityCode", "")),
        raw.get("entityName"),
        raw.get("entityFqid"),
    )
    try:
        start_s, step_s = int(raw["from"]), int(raw["step"])
        native_s = int(raw.get("nativeStep") or step_s)
    except (KeyError, TypeError, ValueError):
        raise RowError("from/step missing or not integers") from None
    if step_s <= 0 or native_s <= 0:
        raise RowError(f"step {step_s} / nativeStep {native_s} not positive")
    if step_s > MAX_STEP_S:
        raise RowError(f"step {step_s} s is longer than a day")
    values = raw.get("values")
    if not isinstance(values, list):
        raise RowError("values is not a list")
    try:  # the whole span within bounds (lightsout.sources.bounds): 1990 to a day from now
        epoch_to_utc(start_s, "from")
        epoch_to_utc(start_s + max(0, len(values) - 1) * step_s, "the series' last bin")
    except BoundError as exc:
        raise RowError(str(exc)) from None
    return _Series(entity, signal, start_s, step_s, native_s, values, str(raw.get("subtype") or ""))


def parse_signals(data: Any, path: str, parsed: Parsed) -> None:
    """Turn the ``data`` member of a ``signals/raw`` response into points of ``parsed``."""
    if not isinstance(data, list):
        raise InputError(path, "data", "not a list of entities")
    entities: dict[str, Entity] = {}
    moments: dict[int, datetime] = {}  # every series of an answer shares its bin times
    gaps = 0
    for position, series in _chosen_series(data, path, parsed):
        entities[series.entity.entity_id] = series.entity
        samples = max(1, series.step_s // series.native_step_s)
        entity_id, signal, start_s, step_s = (
            series.entity.entity_id, series.signal, series.start_s, series.step_s
        )  # fmt: skip
        append = parsed.points.append
        for k, value in enumerate(series.values):
            kind = type(value)
            if kind is not float and kind is not int:
                if value is None:
                    gaps += 1
                else:  # bool, str, list, ...
                    parsed.skipped.append(Skip(path, f"{position}.values[{k}]", f"not a number: {value!r}"))
                continue
            if value != value or value in _INFINITE or abs(value) > 1e300:
                parsed.skipped.append(Skip(path, f"{position}.values[{k}]", f"not a number: {value!r}"))
                continue
            epoch = start_s + k * step_s
            when = moments.get(epoch)
            if when is None:
                when = moments[epoch] = datetime.fromtimestamp(epoch, UTC)
            append(SignalPoint(entity_id, signal, SOURCE, when, step_s, float(value), samples))
    add_parents(entities)
    parsed.entities.extend(entities.values())
    if gaps:
        parsed.notes.append(f"{gaps:,} null values: bins IODA has no data for, kept as gaps (not stored)")


def add_parents(entities: dict[str, Entity]) -> None:
    """Every region's country is an entity too (the store's hierarchy needs the parent)."""
    for entity in list(entities.values()):
        if entity.kind == EntityKind.REGION and entity.country_code:
            country = make_country(entity.country_code)
            entities.setdefault(country.entity_id, country)


# -- outages/events ------------------------------------------------------------------------------

_SCOPES = {"country": Scope.NATIONAL, "region": Scope.REGIONAL, "asn": Scope.NETWORK}


def _event(raw: Any) -> ExternalEvent:
    """One item of ``outages/events`` in either format (``ioda`` or ``codf``)."""
    if not isinstance(raw, dict):
        raise RowError("event is not an object")
    if isinstance(raw.get("entity"), dict):  # format=ioda
        place = raw["entity"]
        attrs = place.get("attrs") if isinstance(place.get("attrs"), dict) else {}
        entity_type, code, name = str(place.get("type", "")), str(place.get("code", "")), place.get("name")
        fqid, country = attrs.get("fqid"), attrs.get("country_code")
        start_raw, end_raw = raw.get("from"), raw.get("until")
    elif isinstance(raw.get("location"), str):  # format=codf (the API's default)
        entity_type, _, code = raw["location"].partition("/")
        name, fqid, country = raw.get("location_name"), None, None
        start_raw = raw.get("start")
        try:
            end_raw = int(raw["start"]) + int(raw["duration"])
        except (KeyError, TypeError, ValueError):
            raise RowError("start/duration missing or not integers") from None
    else:
        raise RowError("neither an entity object (format=ioda) nor a location (format=codf)")
    try:
        start_s, end_s = int(start_raw), int(end_raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RowError(f"from/until not integers: {start_raw!r}, {end_raw!r}") from None
    if end_s < start_s:
        raise RowError(f"ends ({end_s}) before it starts ({start_s})")
    try:
        epoch_to_utc(start_s, "from")
        epoch_to_utc(end_s, "until")
    except BoundError as exc:
        raise RowError(str(exc)) from None
    try:
        entity: Entity | None = ioda_entity(entity_type, code, name, fqid, country)
    except RowError:
        entity = None  # a codf region names no country: kept, without a Lightsout entity
    datasource = str(raw.get("datasource")) if raw.get("datasource") is not None else None
    method = str(raw.get("method") or "-")
    score = raw.get("score")
    return ExternalEvent(
        event_id=f"ioda:{entity_type}/{code}:{datasource or '-'}:{method}:{start_s}",
        source=SOURCE,
        entity_id=entity.entity_id if entity else None,
        entity_name=str(name or (entity.name if entity else f"{entity_type}/{code}")),
        country_code=entity.country_code if entity else None,
        scope=_SCOPES.get(entity_type.lower()),
        start_time=datetime.fromtimestamp(start_s, UTC),
        end_time=datetime.fromtimestamp(end_s, UTC),
        cause=None,
        description=f"IODA {datasource or 'overall'} outage ({method} method)",
        link=f"{DASHBOARD_URL}/{entity_type}/{code}?from={start_s}&until={end_s}",
        datasource=datasource,
        score=float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
    )


def parse_events(data: Any, path: str, parsed: Parsed) -> None:
    """Turn the ``data`` member of an ``outages/events`` response into external events."""
    if not isinstance(data, list):
        raise InputError(path, "data", "not a list of events")
    unplaced = 0
    for i, raw in enumerate(data):
        parsed.records_read += 1
        try:
            event = _event(raw)
        except RowError as exc:
            parsed.skipped.append(Skip(path, f"data[{i}]", str(exc)))
            continue
        unplaced += event.entity_id is None
        parsed.external_events.append(event)
    if not data:
        parsed.notes.append("IODA reported no outage events in this answer")
    if unplaced:
        parsed.notes.append(
            f"{unplaced} events name a region without its country (format=codf): kept without a "
            "Lightsout entity; ask IODA for format=ioda"
        )
