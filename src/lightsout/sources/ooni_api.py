"""Connector: new OONI measurements from the OONI API (https://api.ooni.org), for the configured
countries and tests. Implements :class:`lightsout.sources.connector.Connector`.

discover
    ``GET /api/v1/measurements?probe_cc=&test_name=&since=&until=&order_by=measurement_start_time
    &order=asc&limit=&offset=`` per country and test, in slices of at most ``slice_days`` (the API
    refuses spans over 180 days with HTTP 400). Pages are walked with ``offset`` (the API's
    ``next_url`` points at its legacy host and its ``count`` is -1: we stop on a short page or a null
    ``next_url``). The API's ``until`` is inclusive: rows at or after the slice end are left to the
    next slice, so no row is listed in two slices. One work item per ``measurement_uid``, oldest
    first; the ledger makes every measurement fetched once, whatever slice or round lists it again.
    Following, every round re-lists the last ``lookback`` (measurements are uploaded late: a phone
    may upload a day after it measured).
fetch
    ``GET /api/v1/measurement_meta?measurement_uid=...&full=true``: the listing's fields and the raw
    measurement in one answer. An unknown or not yet uploaded uid is HTTP 200
    ``{"raw_measurement": ""}`` (recorded): :class:`NotYet`, tried again while within ``lookback``.
parse
    The raw measurement, with the API's ``measurement_uid`` added (so the store's ``measurement_id``
    is OONI's own id), read by the OONI file reader (:func:`lightsout.sources.ooni.read_ooni`), the
    same code path as ``lightsout ingest``: entities for country and network, the measurement kept
    raw for the blocking analysis (:mod:`lightsout.apps`).
checkpoint
    ``{"listed_until": ISO time}``: every measurement that started before it has been listed (and
    fetched or found not yet available). It moves when the last item of a slice is stored.

OONI data: CC BY-NC-SA 4.0 (non-commercial); the API is for modest volumes (see
``../shared/data/api-samples/ooni/README.md``): keep ``countries`` and ``tests`` to what you need.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightsout.errors import InputError
from lightsout.model import Checkpoint
from lightsout.sources import Parsed
from lightsout.sources.connector import (
    BadPayload,
    Fetched,
    NotYet,
    Window,
    WorkItem,
    fetched,
    http_get,
)

if TYPE_CHECKING:
    import httpx

    from lightsout.service.config import ServiceConfig, SourceConfig

DEFAULT_BASE_URL = "https://api.ooni.org"
TESTS = ("web_connectivity", "whatsapp", "telegram", "signal", "facebook_messenger")
MAX_SLICE_DAYS = 180  # the API's own cap on since..until


@dataclass(frozen=True, slots=True)
class OoniApiSettings:
    countries: tuple[str, ...]
    tests: tuple[str, ...] = TESTS
    base_url: str = DEFAULT_BASE_URL
    page_size: int = 100
    slice_days: int = 7
    lookback: timedelta = timedelta(days=1)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _start(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class OoniApiConnector:
    format = "ooni-api"

    def __init__(self, name: str, settings: OoniApiSettings) -> None:
        if not 1 <= settings.slice_days <= MAX_SLICE_DAYS:
            raise ValueError(f"slice_days must be 1..{MAX_SLICE_DAYS} (the OONI API's cap)")
        self.name = name
        self.settings = settings
        self.base = settings.base_url.rstrip("/")

    # -- discover --------------------------------------------------------------------------------

    def discover(
        self, client: httpx.Client, checkpoint: Checkpoint | None, window: Window
    ) -> Iterator[WorkItem]:
        now = datetime.now(UTC)
        end = min(window.until, now) if window.until is not None else now
        start = window.since
        listed = self._listed_until(checkpoint)
        if listed is not None:
            # Following resumes from the checkpoint, however long the service was down (``since``
            # only places the first round); a backfill stays inside its window.
            start = listed - self.settings.lookback if window.until is None else max(start, listed)
        step = timedelta(days=self.settings.slice_days)
        while start < end:
            stop = min(start + step, end)
            rows = sorted(self._list_slice(client, start, stop), key=lambda r: (r[0], r[1]))
            after = self._checkpoint(window, stop, now)
            # Never move the cursor back (following re-lists the lookback before it).
            before = self._checkpoint(window, max(start, listed) if listed else start, now)
            for i, (when, uid, cc, test) in enumerate(rows):
                yield WorkItem(
                    key=uid,
                    url=f"{self.base}/api/v1/measurement_meta",
                    params=(("measurement_uid", uid), ("full", "true")),
                    checkpoint=after if i == len(rows) - 1 else before,
                    data_time=when,
                    label=f"{cc} {test} {when:%Y-%m-%d %H:%M}",
                )
            start = stop

    def _list_slice(
        self, client: httpx.Client, since: datetime, until: datetime
    ) -> Iterable[tuple[datetime, str, str, str]]:
        for cc in self.settings.countries:
            for test in self.settings.tests:
                offset = 0
                while True:
                    params = [
                        ("probe_cc", cc),
                        ("test_name", test),
                        ("since", _iso(since)),
                        ("until", _iso(until)),
                        ("order_by", "measurement_start_time"),
                        ("order", "asc"),
                        ("limit", str(self.settings.page_size)),
                        ("offset", str(offset)),
                    ]
                    page = _json(http_get(client, f"{self.base}/api/v1/measurements", params).content)
                    results = page.get("results") if isinstance(page, dict) else None
                    if not isinstance(results, list):
                        raise BadPayload(f"{self.base}/api/v1/measurements: no 'results' list in the answer")
                    for row in results:
                        when = _start(row.get("measurement_start_time")) if isinstance(row, dict) else None
                        uid = row.get("measurement_uid") if isinstance(row, dict) else None
                        if when is None or not isinstance(uid, str) or not uid:
                            continue
                        if since <= when < until:  # the API's until is inclusive
                            yield when, uid, cc, test
                    metadata = page.get("metadata") or {}
                    if len(results) < self.settings.page_size or not metadata.get("next_url"):
                        break
                    offset += len(results)

    def idle_checkpoint(
        self, checkpoint: Checkpoint | None, window: Window, now: datetime
    ) -> Checkpoint | None:
        end = min(window.until, now) if window.until is not None else now
        if end <= window.since:
            return None
        return self._checkpoint(window, end, now)

    def _checkpoint(self, window: Window, listed_until: datetime, now: datetime) -> Checkpoint:
        cursor = json.dumps({"listed_until": listed_until.isoformat()})
        return Checkpoint(self.name, window.stream, cursor, listed_until, now)

    @staticmethod
    def _listed_until(checkpoint: Checkpoint | None) -> datetime | None:
        if checkpoint is None:
            return None
        return _start(json.loads(checkpoint.cursor).get("listed_until"))

    # -- fetch and parse -------------------------------------------------------------------------

    def fetch(self, client: httpx.Client, item: WorkItem) -> Fetched:
        return fetched(item, http_get(client, item.url, item.params))

    def parse(self, answer: Fetched) -> Parsed:
        uid = answer.item.key
        meta = _json(answer.body)
        raw = meta.get("raw_measurement") if isinstance(meta, dict) else None
        if raw == "" or raw is None:
            raise NotYet(f"measurement {uid}: the API has no raw measurement for it (yet)")
        if not isinstance(raw, str):
            raise BadPayload(f"measurement {uid}: raw_measurement is not a JSON string")
        record = _json(raw.encode())
        if not isinstance(record, dict):
            raise BadPayload(f"measurement {uid}: raw_measurement is not a JSON object")
        record.setdefault("measurement_uid", uid)
        from lightsout.sources.ooni import read_ooni

        with tempfile.TemporaryDirectory(prefix="lightsout-ooni-") as tmp:
            path = Path(tmp) / f"{uid}.json"
            path.write_text(json.dumps(record), encoding="utf-8")
            try:
                parsed = read_ooni(path)
            except InputError as exc:
                raise BadPayload(f"measurement {uid}: {exc.message}") from None
        parsed.format = self.format
        return parsed


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise BadPayload(f"not JSON: {exc}") from None


def from_config(source: SourceConfig, service: ServiceConfig) -> OoniApiConnector:
    """``[sources.NAME] kind = "ooni-api"``: countries (default: ``watch.countries``), tests,
    base_url, page_size, slice_days, lookback."""
    from lightsout.service.config import ConfigError

    countries = tuple(c.upper() for c in source.strings("countries", service.countries))
    if not countries:
        raise ConfigError(source.config_path, source.key("countries"),
                          "no countries: set them here or in [watch] countries")
    tests = source.strings("tests", TESTS)
    slice_days = source.option("slice_days", int, 7)
    if not 1 <= slice_days <= MAX_SLICE_DAYS:
        message = f"expected 1..{MAX_SLICE_DAYS} (the OONI API refuses longer spans), got {slice_days}"
        raise ConfigError(source.config_path, source.key("slice_days"), message)
    page_size = source.option("page_size", int, 100)
    if not 1 <= page_size <= 1000:
        raise ConfigError(source.config_path, source.key("page_size"), f"expected 1..1000, got {page_size}")
    settings = OoniApiSettings(
        countries=countries,
        tests=tests,
        base_url=source.option("base_url", str, DEFAULT_BASE_URL),
        page_size=page_size,
        slice_days=slice_days,
        lookback=source.duration("lookback", "1d"),
    )
    return OoniApiConnector(source.name, settings)
