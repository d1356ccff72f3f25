"""Connector: the RIPE RIS and RouteViews MRT archives, followed file by file, for the configured
collectors. Implements :class:`lightsout.sources.connector.Connector`.

discover
    Per collector, the archive's month directories (``YYYY.MM/``) from the collector's checkpoint
    (or the window's start) to now: RIS ``{ris_url}/rrcNN/YYYY.MM/`` lists ``bview.*`` (RIB dumps,
    every 8 h) and ``updates.*`` (every 5 min); RouteViews ``{routeviews_url}/<name>/bgpdata/YYYY.MM/``
    has ``RIBS/rib.*`` (every 2 h) and ``UPDATES/updates.*`` (every 15 min); ``route-views2`` lives
    at ``{routeviews_url}/bgpdata/``. Links are read from ``href`` (RouteViews truncates the text),
    in Apache and nginx layouts (``../shared/data/api-samples/mrt-archives/README.md``). With
    ``broker_url`` set, BGPKIT broker's ``/search`` index is asked instead (pages until
    ``count < page_size``). A month that is not there yet (404) is empty.

    Items run in time order per collector, a RIB dump before the update files of its time. A
    collector starts from a RIB dump (the latest at or before the window's start, else the first
    after it), so its tables are whole; with ``wait_for_rib = false`` it starts at the first file.
    An update file that does not start where the previous one ended means files are missing: the
    gap is recorded in the checkpoint (``gaps``) and the update files after it are not fetched until
    the next RIB dump, because a routing table is never carried across missing files (the MRT reader
    enforces the same rule on what it is given: :func:`lightsout.sources.mrt._plan`). With
    ``every_rib = true`` (default) every RIB dump is ingested: each resynchronises the tables.
fetch
    The file, streamed to a temporary file (never held in memory) with a size cap
    (``max_file_mb``); a file over the cap is unreadable (stored in the ledger without data, so it
    is never fetched again; the MRT reader sees the hole as a gap). HTTP 429 / 5xx / truncated or
    slow bodies are retried :class:`SourceError`.
parse
    :func:`lightsout.sources.mrt.read_mrt`, continuing the collector's stored tables (the carry the
    runner hands over with ``use_carry``); its new tables are stored with the file's points (given
    as columns, ``columns=True``, and written as Arrow columns like every MRT ingest), after the
    bounds every ingested file passes (:func:`lightsout.ingest.check_parsed`).
checkpoint
    ``{"collectors": {name: {"file", "time", "kind", "synced"}}, "gaps": [...]}``: the last file
    stored per collector; gaps found and collectors waiting for a RIB dump are kept even when a
    round stores nothing (``idle_checkpoint``).

Both archives are free, without a token or a published rate limit; RIS data is under the RIPE NCC
terms, RouteViews' under the University of Oregon's (see the README named above).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightsout.model import Checkpoint
from lightsout.sources import LoadCarry, Parsed, no_carry
from lightsout.sources.connector import (
    BadPayload,
    Fetched,
    RateLimited,
    SourceUnavailable,
    Window,
    WorkItem,
    _http_date,
    http_get,
    retry_after,
)
from lightsout.sources.mrt import COLLECTOR_DIR, read_mrt, update_interval

if TYPE_CHECKING:
    import httpx

    from lightsout.service.config import ServiceConfig, SourceConfig

FORMAT = "mrt-archive"
DEFAULT_RIS_URL = "https://data.ris.ripe.net"
DEFAULT_ROUTEVIEWS_URL = "https://archive.routeviews.org"
FILE_NAME = re.compile(r"^(bview|updates|rib)\.(\d{8})\.(\d{4})\.(gz|bz2)$")
HREF = re.compile(r"""href\s*=\s*["']([^"'?#]+)["']""", re.IGNORECASE)
RIB_LOOKBACK = timedelta(days=1)  # how far before the start a collector's first RIB dump is looked for
MAX_GAPS_KEPT = 50


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One file of a collector's archive."""

    collector: str
    kind: str  # "rib" or "updates"
    time: datetime  # the start of the interval the file covers (UTC, from its name)
    url: str
    name: str

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.time, 0 if self.kind == "rib" else 1)  # a RIB dump before its time's updates


@dataclass(frozen=True, slots=True)
class MrtArchiveSettings:
    collectors: tuple[str, ...]
    ris_url: str = DEFAULT_RIS_URL
    routeviews_url: str = DEFAULT_ROUTEVIEWS_URL
    broker_url: str | None = None  # e.g. "https://api.bgpkit.com/v3/broker"
    broker_page_size: int = 1000
    max_file_mb: float = 2048.0
    wait_for_rib: bool = True
    every_rib: bool = True
    settle: timedelta = timedelta(minutes=10)  # following: a file is taken this long after it starts


@dataclass(slots=True)
class _Collector:
    """Where one collector stands (the checkpoint's entry)."""

    file: str | None = None
    time: datetime | None = None
    kind: str | None = None
    synced: bool = False  # the stored tables continue a RIB dump without a gap since

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "time": self.time.isoformat() if self.time else None,
                "kind": self.kind, "synced": self.synced}  # fmt: skip


@dataclass(slots=True)
class _Cursor:
    collectors: dict[str, _Collector] = field(default_factory=dict)
    gaps: list[dict[str, Any]] = field(default_factory=list)  # the latest MAX_GAPS_KEPT
    gaps_total: int = 0  # every gap found (``lightsout sources`` shows the count and the latest)

    def text(self) -> str:
        body = {"collectors": {k: v.as_json() for k, v in sorted(self.collectors.items())}, "gaps": self.gaps,
                "gaps_total": max(self.gaps_total, len(self.gaps))}  # fmt: skip
        return json.dumps(body, sort_keys=True)

    def add_gap(self, collector: str, after: datetime, until: datetime, missing: int) -> None:
        gap = {"collector": collector, "from": after.isoformat(), "to": until.isoformat(), "missing": missing}
        if gap not in self.gaps:
            self.gaps_total = max(self.gaps_total, len(self.gaps)) + 1
            self.gaps = [*self.gaps, gap][-MAX_GAPS_KEPT:]

    def copy(self) -> _Cursor:
        return _Cursor({k: _Collector(v.file, v.time, v.kind, v.synced) for k, v in self.collectors.items()},
                       list(self.gaps), self.gaps_total)  # fmt: skip

    @classmethod
    def load(cls, checkpoint: Checkpoint | None) -> _Cursor:
        if checkpoint is None:
            return cls()
        try:
            body = json.loads(checkpoint.cursor)
            collectors = {
                name: _Collector(
                    entry.get("file"),
                    datetime.fromisoformat(entry["time"]) if entry.get("time") else None,
                    entry.get("kind"),
                    bool(entry.get("synced")),
                )
                for name, entry in dict(body.get("collectors") or {}).items()
            }
            gaps = list(body.get("gaps") or [])
            return cls(collectors, gaps, max(int(body.get("gaps_total") or 0), len(gaps)))
        except (ValueError, TypeError, AttributeError, KeyError):
            return cls()  # another connector's cursor (the source changed kind): start afresh


def _month(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _months(first: datetime, last: datetime) -> Iterator[datetime]:
    month = _month(first)
    while month <= last:
        yield month
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def parse_listing(html: str) -> list[str]:
    """The MRT file names an archive's directory page links to (``href``, never the link text,
    which RouteViews truncates), in Apache table or nginx ``<pre>`` layout."""
    names = []
    for href in HREF.findall(html):
        name = href.rsplit("/", 1)[-1]
        if FILE_NAME.match(name) and name not in names:
            names.append(name)
    return names


def archive_file(collector: str, name: str, url: str) -> ArchiveFile | None:
    match = FILE_NAME.match(name)
    if match is None:
        return None
    kind = "updates" if match.group(1) == "updates" else "rib"
    when = datetime.strptime(match.group(2) + match.group(3), "%Y%m%d%H%M").replace(tzinfo=UTC)
    return ArchiveFile(collector, kind, when, url, name)


class MrtArchiveConnector:
    format = FORMAT

    def __init__(self, name: str, settings: MrtArchiveSettings) -> None:
        if not settings.collectors:
            raise ValueError("no collectors configured")
        for collector in settings.collectors:
            if not COLLECTOR_DIR.fullmatch(collector):
                raise ValueError(f"unknown collector name {collector!r}: expected rrcNN or route-views...")
        self.name = name
        self.settings = settings
        self.load_carry: LoadCarry = no_carry
        self.pending: Checkpoint | None = None  # the cursor discovery reached (gaps, waits)
        self.waiting: dict[str, str] = {}  # collector -> why nothing is fetched for it
        self._files: dict[str, Path] = {}  # item key -> downloaded file, until parsed
        self._unreadable: dict[str, str] = {}  # item key -> why (over the cap, HTTP 4xx)

    def use_carry(self, load: LoadCarry) -> None:
        """The runner hands over the store's carried reader state (a collector's routing tables)."""
        self.load_carry = load

    # -- discover --------------------------------------------------------------------------------

    def discover(
        self, client: httpx.Client, checkpoint: Checkpoint | None, window: Window
    ) -> Iterator[WorkItem]:
        now = datetime.now(UTC)
        end = window.until if window.until is not None else now - self.settings.settle
        cursor = _Cursor.load(checkpoint)
        self.pending = None
        self.waiting = {}
        for collector in self.settings.collectors:
            state = cursor.collectors.get(collector)
            first = (
                state.time if state is not None and state.time is not None else window.since - RIB_LOOKBACK
            )
            files = sorted(self.list_files(client, collector, first, end), key=lambda f: f.order)
            for item_file in self._plan(collector, files, state, window.since, end, cursor):
                entry = cursor.collectors.setdefault(collector, _Collector())
                entry.file, entry.time, entry.kind = item_file.name, item_file.time, item_file.kind
                entry.synced = True
                cursor_text = cursor.text()
                until = self._data_until(cursor)
                yield WorkItem(
                    key=f"{collector}/{item_file.name}",
                    url=item_file.url,
                    checkpoint=Checkpoint(self.name, window.stream, cursor_text, until, now),
                    data_time=item_file.time + self._span(item_file),
                    label=f"{collector} {item_file.name}",
                )
        self.pending = Checkpoint(self.name, window.stream, cursor.text(), self._data_until(cursor), now)

    def _plan(
        self,
        collector: str,
        files: list[ArchiveFile],
        state: _Collector | None,
        since: datetime,
        end: datetime,
        cursor: _Cursor,
    ) -> Iterator[ArchiveFile]:
        """The files to fetch, in order; records gaps in ``cursor``."""
        interval = timedelta(seconds=update_interval(collector))
        files = [f for f in files if f.time < end]
        synced = state is not None and state.time is not None and state.synced
        if state is not None and state.time is not None:
            done = (state.time, 0 if state.kind == "rib" else 1)
            expected: datetime | None = state.time + (interval if state.kind == "updates" else timedelta(0))
            files = [f for f in files if f.order > done]
        else:
            ribs = [f for f in files if f.kind == "rib"]
            start = max((f for f in ribs if f.time <= since), key=lambda f: f.order, default=None)
            start = start or next((f for f in ribs if f.time >= since), None)
            if start is None and self.settings.wait_for_rib:
                self.waiting[collector] = (
                    f"no RIB dump listed from {since:%Y-%m-%d %H:%M} UTC: waiting for one"
                )
                return
            if start is None:
                files = [f for f in files if f.time >= since]
                synced = True  # the reader replays the first update file on its own (docs/mrt.md)
            else:
                files = [f for f in files if f.order >= start.order]
            expected = None
        for archive in files:
            if archive.kind == "rib":
                if not synced or self.settings.every_rib or expected is None:
                    synced, expected = True, archive.time
                    yield archive
                continue
            if not synced:
                continue  # after a gap: nothing until the next RIB dump
            if expected is not None and archive.time > expected:
                missing = int((archive.time - expected) / interval)
                cursor.add_gap(collector, expected, archive.time, missing)
                entry = cursor.collectors.setdefault(collector, _Collector())
                entry.synced = synced = False
                self.waiting[collector] = (
                    f"gap: {missing} update file(s) missing from {expected:%Y-%m-%d %H:%M} UTC to "
                    f"{archive.time:%Y-%m-%d %H:%M} UTC; waiting for the next RIB dump"
                )
                continue
            if expected is not None and archive.time < expected:
                continue  # an odd name (e.g. an update file inside the span of a RIB we started at)
            expected = archive.time + interval
            yield archive

    @staticmethod
    def _span(archive: ArchiveFile) -> timedelta:
        return (
            timedelta(seconds=update_interval(archive.collector))
            if archive.kind == "updates"
            else timedelta()
        )

    @staticmethod
    def _data_until(cursor: _Cursor) -> datetime | None:
        times = [c.time for c in cursor.collectors.values() if c.time is not None]
        return min(times) if times else None

    def idle_checkpoint(
        self, checkpoint: Checkpoint | None, window: Window, now: datetime
    ) -> Checkpoint | None:
        """Gaps found and collectors' waits are kept even when the round stored nothing."""
        pending, self.pending = self.pending, None
        if pending is None or (checkpoint is not None and checkpoint.cursor == pending.cursor):
            return None
        return pending

    def list_files(
        self, client: httpx.Client, collector: str, first: datetime, end: datetime
    ) -> Iterator[ArchiveFile]:
        """Every file of ``collector`` in the months from ``first`` to ``end``."""
        if self.settings.broker_url:
            yield from self._broker_files(client, collector, first, end)
            return
        for month in _months(first, end):
            for directory in self._directories(collector, month):
                for name in parse_listing(self._listing(client, directory)):
                    found = archive_file(collector, name, directory + name)
                    if found is not None:
                        yield found

    def _directories(self, collector: str, month: datetime) -> list[str]:
        ym = f"{month:%Y.%m}"
        if collector.startswith("rrc"):
            return [f"{self.settings.ris_url.rstrip('/')}/{collector}/{ym}/"]
        base = self.settings.routeviews_url.rstrip("/")
        root = f"{base}/bgpdata" if collector == "route-views2" else f"{base}/{collector}/bgpdata"
        return [f"{root}/{ym}/RIBS/", f"{root}/{ym}/UPDATES/"]

    @staticmethod
    def _listing(client: httpx.Client, url: str) -> str:
        try:
            return http_get(client, url).text
        except BadPayload as exc:
            if "HTTP 404" in str(exc):
                return ""  # a month (or a RIBS folder) not there yet
            raise

    def _broker_files(
        self, client: httpx.Client, collector: str, first: datetime, end: datetime
    ) -> Iterator[ArchiveFile]:
        base = str(self.settings.broker_url).rstrip("/")
        size = self.settings.broker_page_size
        page, seen = 1, 0
        while True:
            params = (("collector_id", collector), ("ts_start", f"{first:%Y-%m-%dT%H:%M:%SZ}"),
                      ("ts_end", f"{end:%Y-%m-%dT%H:%M:%SZ}"), ("page", str(page)),
                      ("page_size", str(size)))  # fmt: skip
            answer = http_get(client, f"{base}/search", params)
            try:
                body = json.loads(answer.content)
                rows = body["data"]
                count, total = int(body.get("count", len(rows))), body.get("total")
            except (ValueError, KeyError, TypeError):
                raise BadPayload(f"{base}/search: not a BGPKIT broker answer") from None
            if body.get("error"):
                raise BadPayload(f"{base}/search: the broker answered {str(body['error'])[:200]}")
            for row in rows:
                url = str(row.get("url", ""))
                found = archive_file(str(row.get("collector_id", collector)), url.rsplit("/", 1)[-1], url)
                if found is not None and found.collector == collector:
                    yield found
            seen += count
            if count < size or not rows or (isinstance(total, int) and seen >= total):
                return
            page += 1

    # -- fetch and parse -------------------------------------------------------------------------

    def fetch(self, client: httpx.Client, item: WorkItem) -> Fetched:
        """Stream the file to a temporary directory named after the collector (the MRT reader takes
        the collector from the path), at most ``max_file_mb``."""
        import httpx

        cap = int(self.settings.max_file_mb * 1024 * 1024)
        collector, name = item.key.split("/", 1)
        folder = Path(tempfile.mkdtemp(prefix="lightsout-mrt-"))
        path = folder / collector / name
        path.parent.mkdir()
        try:
            with client.stream("GET", item.url) as response:
                status = response.status_code
                if status == 429:
                    raise RateLimited(f"{item.url}: HTTP 429 (rate-limited)",
                                      retry_after(response.headers, datetime.now(UTC)))  # fmt: skip
                if status >= 500:
                    raise SourceUnavailable(f"{item.url}: HTTP {status}")
                written = 0
                if status >= 400:  # listed but not served (e.g. 404): never readable, not retried
                    self._unreadable[item.key] = f"{item.url}: HTTP {status}"
                    path.touch()
                with path.open("wb") as out:
                    for chunk in response.iter_bytes() if status < 400 else ():
                        written += len(chunk)
                        if written > cap:
                            mib = self.settings.max_file_mb
                            self._unreadable[item.key] = f"larger than max_file_mb ({mib:g} MiB)"
                            break
                        out.write(chunk)
                declared = response.headers.get("content-length")
                if (
                    item.key not in self._unreadable
                    and declared
                    and declared.isdigit()
                    and int(declared) != written
                ):
                    raise SourceUnavailable(f"{item.url}: body cut at {written} of {declared} bytes")
                headers = response.headers
        except httpx.TimeoutException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise SourceUnavailable(f"{item.url}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise SourceUnavailable(f"{item.url}: {type(exc).__name__}: {exc}") from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._files[item.key] = path
        return Fetched(item, status, b"", headers.get("content-type", ""), datetime.now(UTC),
                       _http_date(headers.get("date")))  # fmt: skip

    def parse(self, answer: Fetched) -> Parsed:
        key = answer.item.key
        path = self._files.pop(key, None)
        try:
            if key in self._unreadable:
                raise BadPayload(self._unreadable.pop(key))
            if path is None:
                raise BadPayload("the downloaded file is gone")
            # points as columns, written as `lightsout ingest` writes them (lightsout.ingest.make_batch)
            from lightsout.ingest import check_parsed

            # (the tables stay in memory for the collector's next file: hand_over); the bounds of
            # every file ingest (a file over LIGHTSOUT_MAX_POINTS is an InputError: unreadable)
            parsed = read_mrt(path, load_carry=self.load_carry, columns=True, hand_over=True)
            parsed = check_parsed(parsed, path)
            parsed.format = FORMAT
            return parsed
        finally:
            if path is not None:
                shutil.rmtree(path.parent.parent, ignore_errors=True)


def from_config(source: SourceConfig, service: ServiceConfig) -> MrtArchiveConnector:
    """``[sources.NAME] kind = "mrt-archive"``: collectors (required: "rrc00", "route-views2", ...),
    ris_url, routeviews_url, broker_url (BGPKIT broker's index instead of the listings),
    broker_page_size, max_file_mb, wait_for_rib, every_rib, settle."""
    from lightsout.service.config import ConfigError

    collectors = tuple(c.lower() for c in source.strings("collectors"))
    if not collectors:
        raise ConfigError(
            source.config_path, source.key("collectors"), 'required, e.g. ["rrc00", "route-views2"]'
        )
    for collector in collectors:
        if not COLLECTOR_DIR.fullmatch(collector):
            message = f"{collector!r} is not a RIS (rrcNN) or RouteViews (route-views...) collector"
            raise ConfigError(source.config_path, source.key("collectors"), message)
    page_size = int(source.option("broker_page_size", int, 1000))
    if not 1 <= page_size <= 1000:
        raise ConfigError(source.config_path, source.key("broker_page_size"), "must be 1..1000")
    max_mb = float(source.option("max_file_mb", float, 2048.0))
    if max_mb <= 0:
        raise ConfigError(source.config_path, source.key("max_file_mb"), "must be more than zero")
    settings = MrtArchiveSettings(
        collectors=collectors,
        ris_url=source.option("ris_url", str, DEFAULT_RIS_URL),
        routeviews_url=source.option("routeviews_url", str, DEFAULT_ROUTEVIEWS_URL),
        broker_url=source.option("broker_url", str, None),
        broker_page_size=page_size,
        max_file_mb=max_mb,
        wait_for_rib=bool(source.option("wait_for_rib", bool, True)),
        every_rib=bool(source.option("every_rib", bool, True)),
        settle=source.duration("settle", "10m"),
    )
    return MrtArchiveConnector(source.name, settings)
