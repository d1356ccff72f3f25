"""Connector: Cloudflare Radar (https://api.cloudflare.com/client/v4/radar) for the configured
locations. Implements :class:`lightsout.sources.connector.Connector`; formats and their reading in
:mod:`lightsout.sources.cloudflare_radar`.

discover
    Time is cut into slices of ``slice`` (default 1 day) aligned to the epoch; following takes only
    slices that ended ``settle`` ago. Per slice: one ``GET /radar/annotations/outages?dateStart=
    &dateEnd=&limit=`` reaching ``lookback`` (default 7 days) before the slice, so an outage
    announced as ongoing gets its end when Cloudflare adds it (the event is replaced by id); and per
    location one ``GET /radar/http/timeseries`` asking two series, the fixed *anchor* window
    (``anchor_start``, ``anchor_days``) and the slice (``name=anchor&location=&dateStart=&dateEnd=
    &name=slice&location=&dateStart=&dateEnd=&aggInterval=&normalization=MIN0_MAX``).
fetch
    With ``Authorization: Bearer <token>``; the token comes from the environment variable the config
    names (``token_env``), never from the file. 429 (Cloudflare's limit is 1,200 requests per 5
    minutes) waits out ``Retry-After``. A refused token (401/403) is a failing source, not an
    unreadable item: nothing enters the ledger, so the items are fetched once the token works.
parse
    Annotations: external events (one per location and per AS named). Traffic: ``MIN0_MAX`` values
    are relative to the maximum of each answer over both its series, so the slice is divided by
    the anchor's median (:func:`anchor_scale`): signal ``cloudflare_http_traffic`` of source
    ``cloudflare-radar`` counts HTTP requests as multiples of the anchor window's median hour, the
    same scale for every answer whatever stream (follow, any backfill) or process fetched it.
    Changing the anchor changes the scale: the anchor is part of each item's key.
checkpoint
    ``{"until": ISO time}``: the slices before it are stored (the ledger skips the items of a
    half-stored slice after a kill).

Radar data is CC BY-NC 4.0 (non-commercial use); see ``../shared/data/api-samples/cloudflare-radar``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lightsout.attribution.entities import make_country
from lightsout.errors import InputError
from lightsout.model import Checkpoint
from lightsout.sources import Parsed
from lightsout.sources.cloudflare_radar import (
    RowError,
    anchor_scale,
    parse_annotations,
    parse_timeseries,
    traffic_points,
)
from lightsout.sources.connector import (
    BadPayload,
    Fetched,
    SourceUnavailable,
    Window,
    WorkItem,
    fetched,
    http_get,
)

if TYPE_CHECKING:
    import httpx

    from lightsout.service.config import ServiceConfig, SourceConfig

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
AGG = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class RadarSettings:
    token: str = field(repr=False)
    locations: tuple[str, ...] = ()  # ISO 3166-1 alpha-2
    annotations: bool = True
    traffic: bool = True
    base_url: str = DEFAULT_BASE_URL
    slice: timedelta = timedelta(days=1)
    settle: timedelta = timedelta(hours=1)
    lookback: timedelta = timedelta(days=7)
    agg_interval: str = "1h"
    page_size: int = 100
    # A fixed window every traffic answer is scaled against (a week, so the weekly cycle is in it).
    anchor_start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    anchor_days: int = 7


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _floor(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, UTC)


class CloudflareRadarConnector:
    format = "cloudflare-radar-api"

    def __init__(self, name: str, settings: RadarSettings) -> None:
        if settings.agg_interval not in AGG:
            raise ValueError(f"agg_interval must be one of {', '.join(AGG)}")
        self.name = name
        self.settings = settings
        self.base = settings.base_url.rstrip("/")
        self._anchor = (settings.anchor_start, settings.anchor_start + timedelta(days=settings.anchor_days))

    # -- discover --------------------------------------------------------------------------------

    def discover(
        self, client: httpx.Client, checkpoint: Checkpoint | None, window: Window
    ) -> Iterator[WorkItem]:
        now = datetime.now(UTC)
        settled = now - self.settings.settle
        end = min(window.until, settled) if window.until is not None else settled
        start = _floor(window.since, self.settings.slice)
        cursor = json.loads(checkpoint.cursor) if checkpoint is not None else {}
        if isinstance(cursor.get("until"), str):
            start = max(start, datetime.fromisoformat(cursor["until"]))
        while start < end:
            stop = min(start + self.settings.slice, end)
            if stop - start < self.settings.slice and window.until is None:
                break  # following: wait until the slice is whole
            items = list(self._slice_items(start, stop))
            before = self._checkpoint(window, start, now)
            after = self._checkpoint(window, stop, now)
            for i, (key, url, params, label) in enumerate(items):
                # No data time: freshness comes from the newest bin an answer held, never the slice.
                yield WorkItem(key, url, after if i == len(items) - 1 else before, params, None, label)
            start = stop

    def _slice_items(
        self, start: datetime, stop: datetime
    ) -> Iterator[tuple[str, str, tuple[tuple[str, str], ...], str]]:
        span = f"{int(start.timestamp())}-{int(stop.timestamp())}"
        when = f"{start:%Y-%m-%d %H:%M}"
        params: tuple[tuple[str, str], ...]
        if self.settings.annotations:
            params = (
                ("dateStart", _iso(start - self.settings.lookback)),
                ("dateEnd", _iso(stop)),
                ("limit", str(self.settings.page_size)),
                ("format", "json"),
            )
            yield (
                f"annotations/{span}",
                f"{self.base}/radar/annotations/outages",
                params,
                f"annotations {when}",
            )
        if self.settings.traffic:
            anchor_start, anchor_end = self._anchor
            anchor = f"{anchor_start:%Y%m%d}+{self.settings.anchor_days}d"
            for cc in self.settings.locations:
                params = (
                    ("name", "anchor"),
                    ("location", cc),
                    ("dateStart", _iso(anchor_start)),
                    ("dateEnd", _iso(anchor_end)),
                    ("name", "slice"),
                    ("location", cc),
                    ("dateStart", _iso(start)),
                    ("dateEnd", _iso(stop)),
                    ("aggInterval", self.settings.agg_interval),
                    ("normalization", "MIN0_MAX"),
                    ("format", "json"),
                )
                key = f"traffic/{cc}/{anchor}/{span}"
                yield key, f"{self.base}/radar/http/timeseries", params, f"{cc} traffic {when}"

    def idle_checkpoint(
        self, checkpoint: Checkpoint | None, window: Window, now: datetime
    ) -> Checkpoint | None:
        return None  # the cursor moves only with stored slices

    def _checkpoint(self, window: Window, until: datetime, now: datetime) -> Checkpoint:
        return Checkpoint(self.name, window.stream, json.dumps({"until": until.isoformat()}), until, now)

    # -- fetch and parse -------------------------------------------------------------------------

    def fetch(self, client: httpx.Client, item: WorkItem) -> Fetched:
        headers = {"Authorization": f"Bearer {self.settings.token}"}
        try:
            return fetched(item, http_get(client, item.url, item.params, headers=headers))
        except BadPayload as exc:
            # A refused token is the source's state (failing until the token is fixed), not an
            # unreadable item: never put in the ledger, so it is fetched once the token works.
            if ": HTTP 401" in str(exc) or ": HTTP 403" in str(exc):
                raise SourceUnavailable(f"{str(exc).split(': HTTP')[0]}: the API token was refused") from None
            raise

    def parse(self, answer: Fetched) -> Parsed:
        key = answer.item.key
        where = answer.item.label or key
        try:
            document: Any = json.loads(answer.body)
        except ValueError as exc:
            raise BadPayload(f"not JSON: {exc}") from None
        parsed = Parsed(format=self.format)
        if key.startswith("annotations/"):
            try:
                parse_annotations(document, where, parsed)
            except InputError as exc:
                raise BadPayload(exc.message) from None
            return parsed
        cc = key.split("/")[1]
        try:
            bin_s, series, skipped = parse_timeseries(document, where)
        except RowError as exc:
            raise BadPayload(str(exc).removeprefix(f"{where}: ")) from None
        if "anchor" not in series or "slice" not in series:
            raise BadPayload(f"the answer lacks the anchor or the slice series ({', '.join(series)})")
        scale = anchor_scale(series["anchor"])
        if scale is None:
            anchor_start, anchor_end = self._anchor
            raise BadPayload(
                f"no {cc} traffic in the anchor window {anchor_start:%Y-%m-%d}.."
                f"{anchor_end:%Y-%m-%d} to scale against; choose another anchor_start"
            )
        parsed.records_read = len(series["slice"]) + len(skipped)
        parsed.skipped.extend(skipped)
        country = make_country(cc)
        parsed.entities.append(country)
        parsed.points.extend(traffic_points(country, bin_s, series["slice"], scale))
        return parsed


def from_config(source: SourceConfig, service: ServiceConfig) -> CloudflareRadarConnector:
    """``[sources.NAME] kind = "cloudflare-radar"``: token_env (required), locations (default:
    ``watch.countries``), annotations, traffic, slice, settle, lookback, agg_interval, anchor_start,
    anchor_days, base_url."""
    from lightsout.service.config import ConfigError

    if source.options.get("token_env") is None:
        message = 'Cloudflare Radar needs an API token: token_env = "CLOUDFLARE_API_TOKEN" (Radar read, free)'
        raise ConfigError(source.config_path, source.key("token_env"), message)
    token = source.secret("token") or ""
    locations = tuple(c.upper() for c in source.strings("locations", service.countries))
    traffic = bool(source.option("traffic", bool, True))
    if traffic and not locations:
        raise ConfigError(source.config_path, source.key("locations"),
                          "no locations for traffic: set them here or in [watch] countries")  # fmt: skip
    anchor_days = source.option("anchor_days", int, 7)
    if not 1 <= anchor_days <= 28:
        raise ConfigError(source.config_path, source.key("anchor_days"), f"expected 1..28, got {anchor_days}")
    agg = source.option("agg_interval", str, "1h")
    if agg not in AGG:
        raise ConfigError(source.config_path, source.key("agg_interval"), f"expected one of {', '.join(AGG)}")
    settings = RadarSettings(
        token=token,
        locations=locations,
        annotations=bool(source.option("annotations", bool, True)),
        traffic=traffic,
        base_url=source.option("base_url", str, DEFAULT_BASE_URL),
        slice=source.duration("slice", "1d"),
        settle=source.duration("settle", "1h"),
        lookback=source.duration("lookback", "7d"),
        agg_interval=agg,
        anchor_start=_anchor_start(source),
        anchor_days=anchor_days,
    )
    return CloudflareRadarConnector(source.name, settings)


def _anchor_start(source: SourceConfig) -> datetime:
    from lightsout.service.config import ConfigError

    value = source.options.get("anchor_start", "2024-01-01")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(
            source.config_path, source.key("anchor_start"), f"expected a date, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
