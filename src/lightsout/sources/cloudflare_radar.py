"""Cloudflare Radar (https://api.cloudflare.com/client/v4/radar/...): outage annotations as external
events, and HTTP traffic per location as a signal. Formats from
``../shared/data/api-samples/cloudflare-radar/README.md`` (documentation quotes and the API reference;
no complete recording exists).

* Envelope ``{success, errors: [{code, message}], result}``. ``success: false`` is an error answer.
* ``/radar/annotations/outages``: ``result.annotations[]`` with ``id`` (string; absent in the 2022
  quotes), ``dataSource``, ``description``, ``scope`` (free text), ``startDate``, ``endDate`` (ISO
  8601 UTC, ``null`` = ongoing), ``locations`` (ISO alpha-2), ``asns``, ``asnsDetails`` (``asn`` as a
  *string*, ``location``), ``eventType``, ``linkedUrl``, ``outage: {outageCause, outageType}``
  (NATIONWIDE, REGIONAL, NETWORK). One :class:`ExternalEvent` per location and per AS named, so a
  country page and a network page each show it.
* ``/radar/http/timeseries``: ``result.<series name>: {timestamps: [ISO], values: [numeric
  strings]}`` plus ``result.meta`` (``aggInterval`` e.g. ``ONE_HOUR``, ``normalization``). With
  ``MIN0_MAX`` normalisation values are relative to the maximum of *that request*, over all the
  series it asks for (Cloudflare's docs show it: Tonga's outage series, asked beside a normal week,
  peaks at 0.36 while the normal one holds the 1.0): two answers are on different scales. So every
  traffic request also asks a fixed *anchor* window of the same location, and the answer is
  divided by the anchor's median (:func:`anchor_scale`): every answer, from any stream or process,
  lands on one scale, "times the anchor window's median hour".

Radar data is CC BY-NC 4.0 (non-commercial); the API needs a token (``Authorization: Bearer``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import statistics
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightsout.attribution.entities import make_asn_network, make_country
from lightsout.attribution.places import country_alpha2
from lightsout.errors import InputError
from lightsout.model import Entity, ExternalEvent, Scope, SignalKind, SignalPoint, Skip
from lightsout.sources import Parsed, Progress, no_progress
from lightsout.sources.bounds import (
    MAX_TEXT_CHARS,
    BoundError,
    check_name,
    check_text,
    check_time,
    max_document_bytes,
)

SOURCE = "cloudflare-radar"
SIGNAL = SignalKind.CLOUDFLARE_HTTP_TRAFFIC

_SCOPES = {"NATIONWIDE": Scope.NATIONAL, "REGIONAL": Scope.REGIONAL, "NETWORK": Scope.NETWORK}
AGG_INTERVALS = {
    "FIFTEEN_MINUTES": 900,
    "15m": 900,
    "ONE_HOUR": 3600,
    "1h": 3600,
    "ONE_DAY": 86400,
    "1d": 86400,
}


class RowError(ValueError):
    """A record that cannot be used; the message is the skip reason."""


def parse_time(text: Any) -> datetime:
    """An ISO 8601 time of an answer, UTC, between 1990 and a day from now."""
    if not isinstance(text, str):
        raise RowError(f"not a time: {str(text)[:40]!r}")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return check_time(value, "time")
    except (ValueError, OverflowError):
        raise RowError(f"not an ISO 8601 time of 1990..now: {text[:40]!r}") from None


def result_of(document: Any, where: str) -> Any:
    """The ``result`` of an API envelope; :class:`RowError` for an error answer or another shape."""
    if not isinstance(document, dict) or "result" not in document:
        raise RowError(f"{where}: not a Cloudflare API answer (no result)")
    if document.get("success") is False:
        errors = document.get("errors") or []
        text = "; ".join(
            f"{e.get('code', '?')} {e.get('message', '')}".strip() for e in errors if isinstance(e, dict)
        )
        raise RowError(f"{where}: Cloudflare answered success=false: {text or 'no error given'}")
    return document["result"]


# -- annotations ---------------------------------------------------------------------------------


def _annotation_id(raw: Mapping[str, Any]) -> str:
    """The annotation's own id, or (2022 answers have none) a digest of what does not change when an
    ongoing outage gets its end: start, places, link, type."""
    if raw.get("id") is not None:
        return str(raw["id"])
    stable = [
        raw.get("startDate"),
        sorted(map(str, raw.get("locations") or [])),
        sorted(map(str, raw.get("asns") or [])),
        raw.get("linkedUrl"),
        (raw.get("outage") or {}).get("outageType") if isinstance(raw.get("outage"), dict) else None,
    ]
    return "h" + hashlib.sha256(json.dumps(stable).encode()).hexdigest()[:16]


def annotation_events(raw: Any) -> list[ExternalEvent]:
    """The external events of one outage annotation: one per location and one per AS it names."""
    if not isinstance(raw, dict):
        raise RowError("annotation is not an object")
    start = parse_time(raw.get("startDate"))
    end = parse_time(raw["endDate"]) if raw.get("endDate") is not None else None
    if end is not None and end < start:
        raise RowError(f"endDate {raw['endDate']} before startDate {raw['startDate']}")
    outage: dict[str, Any] = raw["outage"] if isinstance(raw.get("outage"), dict) else {}
    scope = _SCOPES.get(str(outage.get("outageType", "")).upper())
    places: list[tuple[Entity | None, str, Scope | None]] = []
    details = {
        str(d.get("code")): d.get("name") for d in raw.get("locationsDetails") or [] if isinstance(d, dict)
    }
    for code in raw.get("locations") or []:
        alpha2 = country_alpha2(str(code))
        country = make_country(alpha2) if alpha2 else None
        places.append((country, str(details.get(str(code)) or (country.name if country else code)), scope))
    asn_details = {str(d.get("asn")): d for d in raw.get("asnsDetails") or [] if isinstance(d, dict)}
    for asn in raw.get("asns") or []:
        try:
            number = int(str(asn).upper().removeprefix("AS"))
        except ValueError:
            raise RowError(f"AS number is not a number: {asn!r}") from None
        detail = asn_details.get(str(number), {})
        location: dict[str, Any] = detail["location"] if isinstance(detail.get("location"), dict) else {}
        home = country_alpha2(str(location.get("code"))) if location.get("code") else None
        network = make_asn_network(number, home, str(detail["name"]) if detail.get("name") else None)
        places.append((network, network.name, Scope.NETWORK))
    if not places:
        places.append((None, "worldwide", scope))
    text = "; ".join(str(t) for t in (raw.get("scope"), raw.get("description")) if t)
    link = str(raw["linkedUrl"]) if raw.get("linkedUrl") else None
    try:  # text from another service: shown on pages and in feeds, so bounded and clean
        text = check_text(text, "description", MAX_TEXT_CHARS) if text else ""
        link = check_text(link, "linkedUrl", 2048) if link else None
        places = [(e, check_name(n, "location name"), s) for e, n, s in places]
    except BoundError as exc:
        raise RowError(str(exc)) from None
    annotation = _annotation_id(raw)
    return [
        ExternalEvent(
            event_id=f"{SOURCE}:{annotation}:{entity.entity_id if entity else name}",
            source=SOURCE,
            entity_id=entity.entity_id if entity else None,
            entity_name=name,
            country_code=entity.country_code if entity else None,
            scope=place_scope,
            start_time=start,
            end_time=end,
            cause=str(outage["outageCause"]) if outage.get("outageCause") else None,
            description=text or None,
            link=link,
            datasource=str(raw["dataSource"]) if raw.get("dataSource") else None,
        )
        for entity, name, place_scope in places
    ]


def parse_annotations(document: Any, path: str, parsed: Parsed) -> None:
    """An ``annotations/outages`` answer into ``parsed.external_events``."""
    try:
        result = result_of(document, path)
    except RowError as exc:
        raise InputError(path, "result", str(exc).removeprefix(f"{path}: ")) from None
    annotations = result.get("annotations") if isinstance(result, dict) else None
    if not isinstance(annotations, list):
        raise InputError(path, "result", "no annotations list in the answer")
    for i, raw in enumerate(annotations):
        parsed.records_read += 1
        try:
            parsed.external_events.extend(annotation_events(raw))
        except RowError as exc:
            parsed.skipped.append(Skip(path, f"result.annotations[{i}]", str(exc)))
    if not annotations:
        parsed.notes.append("Cloudflare Radar reported no outage annotations in this answer")


# -- traffic time series -------------------------------------------------------------------------


def parse_timeseries(
    document: Any, where: str
) -> tuple[int, dict[str, list[tuple[datetime, float]]], list[Skip]]:
    """(bin seconds, {series name: [(bin start, value)]}, skips) of a timeseries answer."""
    result = result_of(document, where)
    if not isinstance(result, dict):
        raise RowError(f"{where}: result is not an object")
    meta: dict[str, Any] = result["meta"] if isinstance(result.get("meta"), dict) else {}
    names = [k for k, v in result.items() if k != "meta" and isinstance(v, dict) and "timestamps" in v]
    if not names:
        raise RowError(f"{where}: no series (timestamps/values) in the answer")
    out: dict[str, list[tuple[datetime, float]]] = {}
    skipped: list[Skip] = []
    for name in names:
        times, values = result[name].get("timestamps"), result[name].get("values")
        if not isinstance(times, list) or not isinstance(values, list) or len(times) != len(values):
            raise RowError(f"{where}: {name}: timestamps and values are not lists of the same length")
        points = out[name] = []
        for i, (when, value) in enumerate(zip(times, values, strict=True)):
            try:
                moment = parse_time(when)
                number = float(value)
            except (RowError, TypeError, ValueError):
                skipped.append(Skip(where, f"{name}[{i}]", f"unreadable point {when!r}: {value!r}"))
                continue
            if number != number or number < 0 or number == float("inf"):
                skipped.append(Skip(where, f"{name}[{i}]", f"not a traffic level: {value!r}"))
                continue
            points.append((moment, number))
    bin_s = AGG_INTERVALS.get(str(meta.get("aggInterval", "")))
    if bin_s is None:
        every = [p for series in out.values() for p in series]
        spacing = sorted({int((b[0] - a[0]).total_seconds()) for a, b in itertools.pairwise(every)} - {0})
        bin_s = next((s for s in spacing if s > 0), 3600)
    return bin_s, out, skipped


def anchor_scale(anchor: list[tuple[datetime, float]]) -> float | None:
    """The factor that expresses one answer's values as multiples of the anchor window's median hour:
    1 / median(anchor values), None when the anchor window has no traffic to compare with."""
    levels = [v for _, v in anchor if v > 0]
    return 1.0 / statistics.median(levels) if levels else None


def traffic_points(
    entity: Entity, bin_s: int, values: list[tuple[datetime, float]], scale: float
) -> list[SignalPoint]:
    return [
        SignalPoint(entity.entity_id, SIGNAL, SOURCE, when, bin_s, value * scale) for when, value in values
    ]


# -- saved answers (lightsout ingest) --------------------------------------------------------------


def read_cloudflare_radar(path: Path, progress: Progress = no_progress) -> Parsed:
    """A saved ``annotations/outages`` answer (JSON)."""
    limit = max_document_bytes()
    if path.stat().st_size > limit:
        raise InputError(str(path), "byte 0", f"more than {limit:,} bytes (LIGHTSOUT_MAX_DOCUMENT_BYTES)")
    try:
        with path.open(encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(
            str(path), f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"byte {exc.start}", "not UTF-8 text") from None
    parsed = Parsed(format="cloudflare-radar-annotations")
    parse_annotations(document, str(path), parsed)
    size = path.stat().st_size
    progress(size, size)
    return parsed
