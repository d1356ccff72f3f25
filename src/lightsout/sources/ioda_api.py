"""Connector: IODA's API v2 (https://api.ioda.inetintel.cc.gatech.edu/v2) for the configured
countries, regions and networks. Implements :class:`lightsout.sources.connector.Connector`.

discover
    Time is cut into slices of ``slice`` (default 6 h) aligned to the epoch. For each slice, and for
    each entity type with configured codes (countries, IODA's numeric region ids, AS numbers), one
    item per datasource: ``GET /signals/raw/{type}/{code,code,...}?from=&until=&datasource=``, and
    (``events = true``) one ``GET /outages/events?entityType=&entityCode=&from=&until=&format=ioda``
    (``format=ioda``: entity objects with the ``fqid`` that names a region's country; the API's
    default ``codf`` does not). Following takes only slices that ended ``settle`` ago (IODA's newest
    bins fill in late); a backfill also takes its last partial slice.
fetch
    The answer, whole (:func:`lightsout.sources.connector.http_get`: 429, 5xx, truncated and slow
    bodies become retried :class:`SourceError`).
parse
    The file reader's own code (:mod:`lightsout.sources.ioda`): series to points of source
    ``ioda`` (nulls are gaps), events to :class:`ExternalEvent` records (upserted by id, so an event
    seen again in the next slice gets its later end). An answer with ``error`` set is unreadable.
checkpoint
    ``{"until": ISO time}``: every slice before it is stored. It moves with the last item of a
    slice; the ledger (one row per item key) makes a restart skip the items of a half-stored slice.

IODA publishes no rate limit; its data is "Copyright (c) Georgia Tech Research Corporation", for
research and education (``../shared/data/api-samples/ioda/README.md``). No token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lightsout.errors import InputError
from lightsout.model import Checkpoint
from lightsout.sources import Parsed
from lightsout.sources.connector import BadPayload, Fetched, Window, WorkItem, fetched, http_get
from lightsout.sources.ioda import (
    DATASOURCES,
    RowError,
    envelope_type,
    ioda_entity,
    parse_events,
    parse_signals,
)

if TYPE_CHECKING:
    import httpx

    from lightsout.service.config import ServiceConfig, SourceConfig

DEFAULT_BASE_URL = "https://api.ioda.inetintel.cc.gatech.edu/v2"


@dataclass(frozen=True, slots=True)
class IodaApiSettings:
    countries: tuple[str, ...] = ()  # ISO 3166-1 alpha-2
    # IODA's numeric region ids, or ISO 3166-2 codes (looked up with IODA's entities/query)
    regions: tuple[str, ...] = ()
    asns: tuple[int, ...] = ()
    datasources: tuple[str, ...] = tuple(DATASOURCES)
    events: bool = True
    base_url: str = DEFAULT_BASE_URL
    slice: timedelta = timedelta(hours=6)
    settle: timedelta = timedelta(minutes=30)

    def groups(self, region_ids: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
        """(IODA entity type, comma-joined codes) of every configured entity type; ``region_ids``:
        the regions as IODA's numeric ids, once ISO 3166-2 codes are looked up."""
        regions = self.regions if region_ids is None else region_ids
        groups = [
            ("country", ",".join(self.countries)),
            ("region", ",".join(regions)),
            ("asn", ",".join(str(a) for a in self.asns)),
        ]
        return [(kind, codes) for kind, codes in groups if codes]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _floor(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    return datetime.fromtimestamp(_epoch(moment) // seconds * seconds, UTC)


class IodaApiConnector:
    format = "ioda-api"

    def __init__(self, name: str, settings: IodaApiSettings) -> None:
        unknown = [d for d in settings.datasources if d not in DATASOURCES]
        if unknown:
            raise ValueError(f"unknown IODA datasources {unknown}; known: {', '.join(DATASOURCES)}")
        if settings.slice < timedelta(minutes=5):
            raise ValueError("slice must be at least 5 minutes (IODA's finest bin)")
        self.name = name
        self.settings = settings
        self.base = settings.base_url.rstrip("/")
        self._resolved: tuple[str, ...] | None = None  # ISO 3166-2 regions as IODA ids, once looked up
        self.unresolved_regions: tuple[str, ...] = ()

    # -- discover --------------------------------------------------------------------------------

    def discover(
        self, client: httpx.Client, checkpoint: Checkpoint | None, window: Window
    ) -> Iterator[WorkItem]:
        now = datetime.now(UTC)
        settled = now - self.settings.settle
        end = min(window.until, settled) if window.until is not None else settled
        start = _floor(window.since, self.settings.slice)
        done = self._until(checkpoint)
        if done is not None:
            start = max(start, done)
        groups = self.settings.groups(self._region_ids(client) if start < end else None)
        while start < end:
            stop = min(start + self.settings.slice, end)
            if stop - start < self.settings.slice and window.until is None:
                break  # following: wait until the slice is whole
            items = list(self._slice_items(groups, start, stop))
            before, after = self._checkpoint(window, start, now), self._checkpoint(window, stop, now)
            for i, (key, url, params, label) in enumerate(items):
                yield WorkItem(
                    key=key,
                    url=url,
                    params=params,
                    checkpoint=after if i == len(items) - 1 else before,
                    label=label,  # data time: the newest bin the answer held (not the slice's end)
                )
            start = stop

    def _region_ids(self, client: httpx.Client) -> tuple[str, ...]:
        """The configured regions as IODA's numeric ids. An ISO 3166-2 code is looked up once with
        ``GET /entities/query?entityType=region&relatedTo=country/CC`` (IODA's regions are Natural
        Earth's): the region whose name matches the code (:func:`lightsout.sources.ioda.ioda_entity`)
        is followed; a code IODA has no region for is left out (``unresolved_regions``)."""
        wanted = [r for r in self.settings.regions if not r.isdigit()]
        if not wanted:
            return self.settings.regions
        if self._resolved is None:
            found: dict[str, str] = {}
            for cc in sorted({code.split("-")[0].upper() for code in wanted}):
                params = (("entityType", "region"), ("relatedTo", f"country/{cc}"))
                answer = http_get(client, f"{self.base}/entities/query", params)
                try:
                    rows = json.loads(answer.content).get("data") or []
                except (ValueError, AttributeError):
                    raise BadPayload(f"{self.base}/entities/query: not an IODA entities answer") from None
                for row in rows if isinstance(rows, list) else []:
                    if not isinstance(row, dict) or not str(row.get("code", "")).isdigit():
                        continue
                    attrs: dict[str, Any] = row["attrs"] if isinstance(row.get("attrs"), dict) else {}
                    try:
                        entity = ioda_entity("region", str(row["code"]), row.get("name"), attrs.get("fqid"),
                                             attrs.get("country_code") or cc)  # fmt: skip
                    except RowError:
                        continue
                    found.setdefault(entity.code.upper(), str(row["code"]))
            self._resolved = tuple(found[c.upper()] for c in wanted if c.upper() in found)
            self.unresolved_regions = tuple(c for c in wanted if c.upper() not in found)
        numeric = tuple(r for r in self.settings.regions if r.isdigit())
        return numeric + tuple(r for r in self._resolved if r not in numeric)

    def _slice_items(
        self, groups: list[tuple[str, str]], start: datetime, stop: datetime
    ) -> Iterator[tuple[str, str, tuple[tuple[str, str], ...], str]]:
        span = (("from", str(_epoch(start))), ("until", str(_epoch(stop))))
        when = f"{start:%Y-%m-%d %H:%M}-{stop:%H:%M}"
        for kind, codes in groups:
            for datasource in self.settings.datasources:
                yield (
                    f"signals/{kind}/{codes}/{datasource}/{_epoch(start)}-{_epoch(stop)}",
                    f"{self.base}/signals/raw/{kind}/{codes}",
                    (*span, ("datasource", datasource)),
                    f"{kind} {codes} {datasource} {when}",
                )
            if self.settings.events:
                yield (
                    f"events/{kind}/{codes}/{_epoch(start)}-{_epoch(stop)}",
                    f"{self.base}/outages/events",
                    (*span, ("entityType", kind), ("entityCode", codes), ("format", "ioda")),
                    f"{kind} {codes} events {when}",
                )

    def idle_checkpoint(
        self, checkpoint: Checkpoint | None, window: Window, now: datetime
    ) -> Checkpoint | None:
        return None  # the cursor moves only with stored slices

    def _checkpoint(self, window: Window, until: datetime, now: datetime) -> Checkpoint:
        return Checkpoint(self.name, window.stream, json.dumps({"until": until.isoformat()}), until, now)

    @staticmethod
    def _until(checkpoint: Checkpoint | None) -> datetime | None:
        if checkpoint is None:
            return None
        text = json.loads(checkpoint.cursor).get("until")
        return datetime.fromisoformat(text) if isinstance(text, str) else None

    # -- fetch and parse -------------------------------------------------------------------------

    def fetch(self, client: httpx.Client, item: WorkItem) -> Fetched:
        return fetched(item, http_get(client, item.url, item.params))

    def parse(self, answer: Fetched) -> Parsed:
        where = answer.item.label or answer.item.key
        try:
            document: Any = json.loads(answer.body)
        except ValueError as exc:
            raise BadPayload(f"not JSON: {exc}") from None
        kind = envelope_type(document)
        if kind is None:
            raise BadPayload("not an IODA API v2 answer (no type and data)")
        if document.get("error"):
            raise BadPayload(f"IODA answered with an error: {str(document['error'])[:200]}")
        parsed = Parsed(format=self.format)
        try:
            if kind == "signals":
                parse_signals(document["data"], where, parsed)
            elif kind == "outages.events":
                parse_events(document["data"], where, parsed)
            else:
                raise BadPayload(f"unexpected IODA answer type {kind!r}")
        except InputError as exc:
            raise BadPayload(exc.message) from None
        return parsed


def from_config(source: SourceConfig, service: ServiceConfig) -> IodaApiConnector:
    """``[sources.NAME] kind = "ioda-api"``: countries (default: ``watch.countries``), regions
    (ISO 3166-2 or IODA's numeric region ids; default: ``watch.regions``), networks (AS numbers;
    default: ``watch.networks``), datasources, events, slice, settle, base_url."""
    from lightsout.service.config import ConfigError

    countries = tuple(c.upper() for c in source.strings("countries", service.countries))
    regions = tuple(r.upper() for r in source.strings("regions", service.regions))
    for region in regions:
        if not (region.isdigit() or re.fullmatch(r"[A-Z]{2}-[A-Z0-9]{1,3}", region)):
            message = (
                f'expected ISO 3166-2 codes ("IQ-BG") or IODA\'s numeric region ids ("3046"), got {region!r}'
            )
            raise ConfigError(source.config_path, source.key("regions"), message)
    raw_networks = source.options.get("networks", list(service.networks))
    if not isinstance(raw_networks, list):
        raise ConfigError(
            source.config_path, source.key("networks"), f"expected a list, got {raw_networks!r}"
        )
    asns: list[int] = []
    for value in raw_networks:
        text = str(value).upper().removeprefix("AS")
        if not text.isdigit():
            raise ConfigError(source.config_path, source.key("networks"), f"not an AS number: {value!r}")
        asns.append(int(text))
    if not (countries or regions or asns):
        message = "nothing to follow: set countries, regions or networks here or in [watch]"
        raise ConfigError(source.config_path, source.key("countries"), message)
    datasources = source.strings("datasources", tuple(DATASOURCES))
    unknown = [d for d in datasources if d not in DATASOURCES]
    if unknown:
        raise ConfigError(source.config_path, source.key("datasources"),
                          f"unknown {unknown}; expected some of {', '.join(DATASOURCES)}")  # fmt: skip
    settings = IodaApiSettings(
        countries=countries,
        regions=regions,
        asns=tuple(asns),
        datasources=datasources,
        events=bool(source.option("events", bool, True)),
        base_url=source.option("base_url", str, DEFAULT_BASE_URL),
        slice=source.duration("slice", "6h"),
        settle=source.duration("settle", "30m"),
    )
    return IodaApiConnector(source.name, settings)
