"""Connector: Cloudflare Radar (https://api.cloudflare.com/client/v4/radar) for the configured
locations. Implements :class:`lightsout.sources.connector.Connector`; formats and their reading in
:mod:`lightsout.sources.cloudflare_radar`.

discover
    Time is cut into slices of ``slice`` (default 1 day) aligned to the epoch; following takes only
    slices that ended ``settle`` ago. Per slice: one ``GET /radar/annotations/outages?dateStart=
    &dateEnd=&limit=`` reaching ``lookback`` (default 7 days) before the slice, so an outage
    announced as ongoing gets its end when Cloudflare adds it (the event is replaced by id); and per
    location one ``GET /radar/http/timeseries?location=&dateStart=&dateEnd=&aggInterval=
    &normalization=MIN0_MAX`` starting ``overlap`` (two slices) before the slice.
fetch
    With ``Authorization: Bearer <token>``; the token comes from the environment variable the config
    names (``token_env``), never from the file. 429 (Cloudflare's limit is 1,200 requests per 5
    minutes) waits out ``Retry-After``.
parse
    Annotations: external events (one per location and per AS named). Traffic: ``MIN0_MAX`` values
    are relative to the maximum of each answer, so each answer is rescaled onto the scale of what is
    already stored by the median ratio over the overlapping bins (:func:`chain_scale`); only the
    slice's own bins are stored, as signal ``cloudflare_http_traffic`` of source
    ``cloudflare-radar``. The first answer of a location sets its scale; an answer with no overlap
    (after a gap longer than the overlap) starts a new one and says so.
checkpoint
    ``{"until": ISO time, "tails": {location: {epoch: value}}}``: the slices before ``until`` are
    stored, and the last stored values of each location (the reference for the next answer's scale)
    travel with it, in the same transaction as the data.

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
    chain_scale,
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
        # The stored tail of each location's traffic (epoch -> value on the stored scale), and the
        # tail each traffic item is to be scaled against (taken when the item was discovered).
        self._tails: dict[str, dict[int, float]] = {}
        self._reference: dict[str, dict[int, float]] = {}

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
        for cc, tail in (cursor.get("tails") or {}).items():
            self._tails.setdefault(cc, {int(t): float(v) for t, v in tail.items()})
        while start < end:
            stop = min(start + self.settings.slice, end)
            if stop - start < self.settings.slice and window.until is None:
                break  # following: wait until the slice is whole
            items = list(self._slice_items(start, stop))
            before = self._checkpoint(window, start, now)
            after = self._checkpoint(window, stop, now)
            for i, (key, url, params, label) in enumerate(items):
                if key.startswith("traffic/"):
                    self._reference[key] = dict(self._tails.get(key.split("/")[1], {}))
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
            overlap = 2 * self.settings.slice
            for cc in self.settings.locations:
                params = (
                    ("location", cc),
                    ("dateStart", _iso(start - overlap)),
                    ("dateEnd", _iso(stop)),
                    ("aggInterval", self.settings.agg_interval),
                    ("normalization", "MIN0_MAX"),
                    ("format", "json"),
                )
                yield (
                    f"traffic/{cc}/{span}",
                    f"{self.base}/radar/http/timeseries",
                    params,
                    f"{cc} traffic {when}",
                )

    def idle_checkpoint(
        self, checkpoint: Checkpoint | None, window: Window, now: datetime
    ) -> Checkpoint | None:
        return None  # the cursor moves only with stored slices

    def _checkpoint(self, window: Window, until: datetime, now: datetime) -> Checkpoint:
        keep = int((2 * self.settings.slice).total_seconds())
        tails = {
            cc: {str(t): v for t, v in sorted(tail.items()) if t >= until.timestamp() - keep}
            for cc, tail in self._tails.items()
        }
        cursor = json.dumps({"until": until.isoformat(), "tails": tails})
        return Checkpoint(self.name, window.stream, cursor, until, now)

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
            raise BadPayload(f"{where}: not JSON: {exc}") from None
        parsed = Parsed(format=self.format)
        if key.startswith("annotations/"):
            try:
                parse_annotations(document, where, parsed)
            except InputError as exc:
                raise BadPayload(f"{where}: {exc.message}") from None
            return parsed
        _, cc, span = key.split("/")
        slice_start = int(span.split("-")[0])
        try:
            bin_s, values, skipped = parse_timeseries(document, where)
        except RowError as exc:
            raise BadPayload(str(exc)) from None
        parsed.records_read = len(values) + len(skipped)
        parsed.skipped.extend(skipped)
        reference = self._reference.pop(key, {})
        stored = {datetime.fromtimestamp(t, UTC): v for t, v in reference.items()}
        scale = chain_scale(values, stored)
        if scale is None:
            scale = 1.0
            parsed.notes.append(
                f"{cc}: traffic scale starts here (MIN0_MAX of this answer)"
                if not reference
                else f"{cc}: no overlap with the stored traffic: a new scale starts at this answer"
            )
        country = make_country(cc)
        own = [(t, v) for t, v in values if t.timestamp() >= slice_start]
        parsed.entities.append(country)
        parsed.points.extend(traffic_points(country, bin_s, own, scale))
        tail = self._tails.setdefault(cc, {})
        for t, v in values:
            tail[int(t.timestamp())] = v * scale
        return parsed


def from_config(source: SourceConfig, service: ServiceConfig) -> CloudflareRadarConnector:
    """``[sources.NAME] kind = "cloudflare-radar"``: token_env (required), locations (default:
    ``watch.countries``), annotations, traffic, slice, settle, lookback, agg_interval, base_url."""
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
    )
    return CloudflareRadarConnector(source.name, settings)
