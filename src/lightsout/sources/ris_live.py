"""Connector: RIPE RIS Live, the websocket stream of one RIS collector's BGP messages, replayed on
the collector's routing tables from its latest RIB dump. Implements
:class:`lightsout.sources.connector.Connector`; docs/sources.md ("RIPE RIS Live") says why.

One model of routes. Messages become :class:`~lightsout.sources.mrt.updates.RouteUpdate` /
``PeerDown`` records (:mod:`lightsout.sources.ris_live_messages`) applied by the MRT decoder's own
sink to the same per-peer tables (:mod:`lightsout.sources.mrt.tables`), whose bins come from the
same replay (:mod:`lightsout.sources.mrt.replay`): an hour of RIS Live and the same hour's update
files give the same values.

discover
    A reader thread (:class:`~lightsout.sources.ris_live_stream.StreamReader`) holds the
    websocket: subscribes (``host`` = the collector, ``type`` UPDATE and RIS_PEER_STATE, the
    configured ``prefixes``), reconnects after a drop or a ``ris_error`` with jittered exponential
    backoff. Discovery takes its messages: while the tables are not synchronised it keeps them
    (``max_spool``) and offers the MRT files that synchronise them (:mod:`.ris_live_sync`): a
    local ``rib_file`` covering the stream's start, else the RIS archive's latest RIB dump at or
    before it and the update files up to it (else, files missing, the next dump); once
    synchronised, every 5-minute bin the stream has passed (a message of a later bin arrived, or
    the collector's clock, ours plus the measured skew, is ``settle`` past its end) is one item.
fetch
    The bin's messages, already received (an MRT file: downloaded by the MRT archive connector).
parse
    The changes applied to the tables; the bin's points; the tables as carried state (an MRT
    file: read by the MRT reader, continuing the tables).
checkpoint
    ``{"collector", "synced", "next_bin", "last_ts", "rib", "seen", "gaps"}``: where the stored
    tables end, the identities of the last messages applied (a resumed stream that sends one of
    them again proves it continues without loss), gaps.

Dedupe and continuity: a message whose identity (collector + peer + RIS Live ``id``;
:func:`~lightsout.sources.ris_live_messages.identity`) was applied is dropped. After any reconnect
or restart the stream continues the tables only if its first route message is one already
applied; otherwise messages may have been lost: a gap (recorded, no values: never an outage) and
the tables are synchronised again from the archive, never carried across the hole (as the MRT
archive does after missing update files).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lightsout.model import Checkpoint, Skip
from lightsout.sources import CarryState, LoadCarry, Parsed, no_carry
from lightsout.sources.connector import BadPayload, Fetched, SourceUnavailable, Window, WorkItem
from lightsout.sources.mrt import BIN_S, COLLECTOR_DIR, RIS_INTERVAL_S, RouteTables, file_time, read_mrt
from lightsout.sources.mrt.decode import RouteSink
from lightsout.sources.mrt.replay import Replayer
from lightsout.sources.mrt.updates import Change, apply_changes
from lightsout.sources.ris_live_messages import BadMessage, Control, Message, read_frame
from lightsout.sources.ris_live_state import MAX_GAPS_KEPT, SEEN_KEPT, Batch, Cursor, utc
from lightsout.sources.ris_live_stream import StreamEvent, StreamReader, subscriptions
from lightsout.sources.ris_live_sync import CatchUp, catch_up, first_record_time, restrict

if TYPE_CHECKING:
    import httpx

    from lightsout.attribution.geo import GeoLocator
    from lightsout.service.config import ServiceConfig, SourceConfig
    from lightsout.sources.mrt_archive import MrtArchiveConnector

FORMAT = "ris-live"
DEFAULT_URL = "wss://ris-live.ripe.net/v1/ws/?client=lightsout"
RIB_AHEAD = timedelta(days=2)  # how far after the stream's start a RIB dump is looked for
RIB_BEHIND = timedelta(hours=12)  # how far before it (RIS writes one every 8 hours)
MAX_QUIET_BINS = 12  # a stream jumping further ahead (a clock step) skips the bins in between


@dataclass(frozen=True, slots=True)
class RisLiveSettings:
    collector: str
    url: str = DEFAULT_URL
    prefixes: tuple[str, ...] = ()
    rib_file: Path | None = None  # the RIB dump to start from (else the RIS archive's)
    ris_url: str | None = "https://data.ris.ripe.net"  # None: no archive (only rib_file)
    rib_slack_s: float = 60.0  # the stream's first message may start this long after the RIB dump
    rib_poll_s: float = 60.0  # how often the archive is listed while the tables are not in sync
    settle_s: float = 10.0  # a bin closes this long after its end on the collector's clock
    round_s: float = 10.0  # a discovery round reads the stream this long
    down_after_s: float = 30.0  # disconnected this long: the round reports the source failing
    max_spool: int = 500_000  # messages kept while waiting for a RIB dump (~200 MB)
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 120.0


class RisLiveConnector:
    format = FORMAT

    def __init__(self, name: str, settings: RisLiveSettings) -> None:
        if not settings.collector.startswith("rrc") or not COLLECTOR_DIR.fullmatch(settings.collector):
            raise ValueError(f"RIS Live follows a RIS collector (rrcNN), not {settings.collector!r}")
        self.name = name
        self.settings = settings
        self.collector = settings.collector
        self.carry_key = f"ris-live/{name}/{settings.collector}"
        self.load_carry: LoadCarry = no_carry
        self.reader: StreamReader | None = None
        self.locator: GeoLocator | None = None
        self.tables: RouteTables | None = None
        self.sink: RouteSink | None = None
        self.cursor = Cursor(self.collector)
        self.stored: str | None = None  # the cursor text the store holds, as far as we know
        self.taken_up = False  # the stored state has been taken up by this connector
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.proving = True  # the stream must prove it continues the tables (first message seen)
        self.open_bin: int | None = None
        self.buffer: list[Change] = []
        self.skipped: list[Skip] = []
        self.counts: dict[str, int] = {}  # of the open bin (its notes)
        self.totals: dict[str, int] = {}  # since this connector started
        self.frames = 0  # frames taken from the stream since this connector started
        self.first_frame_at: float | None = None  # time.time() when the first one arrived
        self.spool: list[Message] = []
        self.newest: float | None = None
        self.received: float | None = None
        self.skew_s: float | None = None  # collector clock minus ours, at the newest message
        self.batches: dict[str, Batch] = {}
        self.waiting: str | None = None  # why no values are given (health, `lightsout sources`)
        self.last_rib_poll = 0.0
        self.used_rib_file = False
        self.floor = 0.0  # messages older than this (the RIB dump the tables start from) are dropped
        self.plan: list[tuple[str, Batch]] = []  # MRT files still to read to synchronise the tables

    def use_carry(self, load: LoadCarry) -> None:
        self.load_carry = load

    def close(self) -> None:
        if self.reader is not None:
            self.reader.stop()
            self.reader = None

    # -- state -----------------------------------------------------------------------------------

    def _restore(self, checkpoint: Checkpoint | None) -> None:
        """Take up the stored state: the cursor, and the tables it names (a new process, or a
        write that failed: what was read since is not in the store, so continuity must be proven)."""
        cursor = Cursor.load(checkpoint, self.collector)
        self.tables = self.sink = None
        if cursor.synced:
            carried = self.load_carry(self.carry_key)
            matches = (
                carried is not None
                and cursor.next_bin is not None
                and carried.as_of == utc(cursor.next_bin)  # the tables of exactly that point
            )
            try:
                self.tables = RouteTables.load(carried.payload) if carried is not None and matches else None
            except (ValueError, KeyError):
                self.tables = None
            if self.tables is None:
                cursor.synced = False
                self.waiting = "the stored tables are missing or unreadable: resynchronising from the archive"
        if self.tables is not None:
            self.sink = RouteSink(self.tables, track_peaks=True)
        self.cursor = cursor
        self.taken_up = True
        self.stored = checkpoint.cursor if checkpoint is not None else None
        self.seen = OrderedDict((s, None) for s in cursor.seen)
        self.proving = True
        self.open_bin = cursor.next_bin if cursor.synced else None
        self.buffer, self.skipped, self.counts, self.spool, self.plan = [], [], {}, [], []
        self.used_rib_file = cursor.rib is not None

    def _start(self) -> StreamReader:
        if self.reader is None or not self.reader.is_alive():
            self.reader = StreamReader(
                self.settings.url,
                subscriptions(self.collector, self.settings.prefixes),
                base_s=self.settings.backoff_base_s,
                cap_s=self.settings.backoff_cap_s,
            )
            self.reader.start()
        return self.reader

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n
        self.totals[what] = self.totals.get(what, 0) + n

    # -- discover --------------------------------------------------------------------------------

    def discover(
        self, client: httpx.Client, checkpoint: Checkpoint | None, window: Window
    ) -> Iterator[WorkItem]:
        if window.until is not None:
            raise BadPayload("RIS Live is a live stream and keeps no past: backfill the mrt-archive source")
        text = checkpoint.cursor if checkpoint is not None else None
        if not self.taken_up or text != self.stored:  # (what is kept in memory stays across rounds)
            self._restore(checkpoint)
        reader = self._start()
        deadline = time.monotonic() + self.settings.round_s
        while True:
            if not self.cursor.synced or self.plan:
                if not self.plan:
                    self.plan = self._sync(client) or []
                if self.plan:
                    while self.plan:  # a round that ends in the middle goes on with it next time
                        yield self._item(window, *self.plan[0])
                        self.plan.pop(0)
                    yield from self._items(window, self._after_rib())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            event = reader.next(timeout=min(remaining, 0.25))
            if event is not None:
                for each in (event, *reader.drain(1000)):
                    closed = self._event(each)
                    if closed:
                        yield from self._items(window, closed)
            else:
                yield from self._items(window, self._clock_close())
            if reader.down_for() > self.settings.down_after_s:
                raise SourceUnavailable(f"{self.settings.url}: {reader.last_drop or 'not connected'}")

    def _items(self, window: Window, closed: list[tuple[str, Batch]]) -> Iterator[WorkItem]:
        for key, batch in closed:
            yield self._item(window, key, batch)

    def _item(self, window: Window, key: str, batch: Batch) -> WorkItem:
        self.batches[key] = batch
        end = batch.first_bin + batch.bins * BIN_S
        label = f"{self.collector} {utc(batch.first_bin):%Y-%m-%d %H:%M} UTC"
        params = (("host", self.collector), *tuple(("prefix", p) for p in self.settings.prefixes))
        return WorkItem(
            key=key,
            url=batch.archive_key or (str(batch.rib) if batch.kind != "bins" else self.settings.url),
            checkpoint=Checkpoint(self.name, window.stream, batch.cursor, utc(end), datetime.now(UTC)),
            params=() if batch.kind != "bins" else params,
            data_time=utc(end),
            label={"rib": "RIB dump ", "updates": "update file "}.get(batch.kind, "") + label,
        )

    def _event(self, event: StreamEvent) -> list[tuple[str, Batch]]:
        if event.kind == "connected":
            self.proving = True  # a new connection: it must show it continues the old one
            self._count("connections")
            return []
        if event.kind == "dropped":
            self._count("drops")
            return []
        assert event.text is not None
        self.frames += 1
        if self.first_frame_at is None:
            self.first_frame_at = event.received
        position = f"connection {event.connection} message {event.position}"
        try:
            frame = read_frame(event.text)
        except BadMessage as exc:
            self.skipped.append(Skip(self.settings.url, position, str(exc)))
            return []
        if isinstance(frame, Control):
            if frame.type == "ris_error":
                self._count("ris_error")
                message = frame.data.get("message") if isinstance(frame.data, dict) else frame.data
                self.skipped.append(Skip(self.settings.url, position, f"ris_error: {message}"))
            return []
        if frame.host != self.collector:
            self._count("other collectors")
            return []
        if not frame.changes:
            self._count(f"{frame.kind or 'untyped'} messages without routes")
            return []
        return self._accept(frame, event.received)

    def _accept(self, message: Message, received: float) -> list[tuple[str, Batch]]:
        seen = self.seen
        if self.proving:
            self.proving = False
            if message.identity in seen:
                self._count("duplicates dropped")
                return []  # the stream overlaps what was applied: it continues without loss
            if self.cursor.synced:
                self._gap(message.ts, "the stream resumed without overlap: messages may be lost")
        if message.identity in seen:
            self._count("duplicates dropped")
            return []
        self.newest = message.ts if self.newest is None else max(self.newest, message.ts)
        self.received = received
        self.skew_s = message.ts - received
        if not self.cursor.synced:
            self._seen(message.identity)
            self.spool.append(message)
            if len(self.spool) > self.settings.max_spool:
                del self.spool[: len(self.spool) // 4]
                self._count("spooled messages dropped")
            return []
        return self._to_bin(message)

    def _to_bin(self, message: Message) -> list[tuple[str, Batch]]:
        if message.ts < self.floor:
            self._count("messages before the RIB dump")
            return []
        ts = int(message.ts)
        bin_start = ts - ts % BIN_S
        closed: list[tuple[str, Batch]] = []
        assert self.open_bin is not None
        if bin_start >= self.open_bin + BIN_S:
            closed = self._close(bin_start)
        elif bin_start < self.open_bin:
            self._count("late messages (applied to the open bin)")
        self._seen(message.identity)  # after the close: a closed bin's cursor never names it
        self.buffer.extend(message.changes)
        self.cursor.last_ts = (
            message.ts if self.cursor.last_ts is None else max(self.cursor.last_ts, message.ts)
        )
        self._count("messages applied")
        return closed

    def _seen(self, identity: str) -> None:
        seen = self.seen
        seen[identity] = None
        if len(seen) > 2 * SEEN_KEPT:
            for _ in range(SEEN_KEPT):
                seen.popitem(last=False)

    def _clock_close(self) -> list[tuple[str, Batch]]:
        """Close the bins the collector's clock has passed (a quiet stream still gives values)."""
        if self.open_bin is None or self.skew_s is None or not self.cursor.synced:
            return []
        now = time.time() + self.skew_s - self.settings.settle_s
        upto = int(now) - int(now) % BIN_S
        return self._close(upto) if upto > self.open_bin else []

    def _close(self, upto: int) -> list[tuple[str, Batch]]:
        assert self.open_bin is not None
        first = self.open_bin
        bins = (upto - first) // BIN_S
        if bins > MAX_QUIET_BINS:  # the clock jumped: the bins in between had no data at all
            self._count("bins skipped (the stream jumped ahead)", bins - 1)
            bins = 1
        cursor = self.cursor
        cursor.next_bin = first + bins * BIN_S  # the stored tables hold everything before it
        cursor.seen = list(self.seen)[-SEEN_KEPT:]
        batch = Batch(first, bins, self.buffer, cursor.text(), self.skipped, self.counts,
                       self.newest, self.received)  # fmt: skip
        self.buffer, self.skipped, self.counts = [], [], {}
        self.open_bin = upto
        return [(f"{self.collector}/{first}" + (f"+{bins}" if bins > 1 else ""), batch)]

    def _gap(self, ts: float, why: str) -> None:
        cursor = self.cursor
        start, end = utc(cursor.last_ts or ts).isoformat(), utc(ts).isoformat()
        gap = {"collector": self.collector, "from": start, "to": end, "why": why}
        cursor.gaps = [*cursor.gaps, gap][-MAX_GAPS_KEPT:]
        cursor.gaps_total += 1
        cursor.synced = False
        cursor.rib = cursor.rib or "-"
        if self.tables is not None:
            self.tables.clear_routes()
        self.tables = self.sink = None
        self.open_bin = None
        self.buffer = []
        self.waiting = f"gap from {gap['from']}: {why}; resynchronising from the archive"

    # -- RIB dumps -------------------------------------------------------------------------------

    def _sync(self, client: httpx.Client) -> list[tuple[str, Batch]] | None:
        """The MRT files that synchronise the tables with the stream, once it has a first message:
        a local ``rib_file`` covering the stream's start; else the archive's latest RIB dump at or
        before it and the update files from there to the stream (published some minutes late: the
        source waits for them); else, when files are missing, the archive's next RIB dump."""
        if not self.spool:
            self.waiting = self.waiting or "waiting for the stream's first message"
            return None
        first = self.spool[0].ts
        settings = self.settings
        if settings.rib_file is not None and not self.used_rib_file:
            self.used_rib_file = True
            when = file_time(settings.rib_file) or first_record_time(settings.rib_file)
            if when is not None and first <= when + settings.rib_slack_s:
                key = f"{self.collector}/rib/{settings.rib_file.name}"
                return [self._mrt(f"{key}@{int(first)}", "rib", settings.rib_file, when, when, None, key)]
            self.waiting = (f"{settings.rib_file} ({utc(when or 0):%Y-%m-%d %H:%M} UTC) is older than the "
                            "stream's first message")  # fmt: skip
        if settings.ris_url is None or time.monotonic() - self.last_rib_poll < settings.rib_poll_s:
            return None
        self.last_rib_poll = time.monotonic()
        archive = self._archive()
        start = utc(first)
        slack = timedelta(seconds=settings.rib_slack_s)
        files = list(archive.list_files(client, self.collector, start - RIB_BEHIND, start + RIB_AHEAD))
        plan = catch_up(files, start, slack)
        if isinstance(plan, str):
            self.waiting = plan
            return None
        if plan is None:  # no dump before the stream, or files missing after it: the next dump
            ribs = sorted(
                (f for f in files if f.kind == "rib" and f.time >= start - slack), key=lambda f: f.time
            )
            if not ribs:
                self.waiting = f"waiting for a RIB dump of {self.collector} from {start:%Y-%m-%d %H:%M} UTC"
                return None
            plan = CatchUp(ribs[0], [], ribs[0].time)
        rib_s = int(plan.rib.time.timestamp())
        # A resync may read a file again (two gaps between dumps): each sync's items are its own.
        tag = f"@{int(first)}"
        rib_key = f"{self.collector}/rib/{plan.rib.name}"
        out = [self._mrt(rib_key + tag, "rib", None, rib_s, rib_s, plan.rib.url, rib_key)]
        for update in plan.updates:
            begin = int(update.time.timestamp())
            key = f"{self.collector}/updates/{update.name}{tag}"
            out.append(self._mrt(key, "updates", None, begin, begin + RIS_INTERVAL_S, update.url, rib_key))
        return out

    def _mrt(
        self, key: str, kind: str, path: Path | None, begin: int, end: int, url: str | None, rib: str
    ) -> tuple[str, Batch]:
        """A batch of one MRT file; the cursor says the tables hold everything before ``end``."""
        cursor = replace(self.cursor, synced=True, next_bin=end - end % BIN_S, last_ts=float(end),
                         rib=rib, seen=list(self.seen)[-SEEN_KEPT:])  # fmt: skip
        batch = Batch(begin - begin % BIN_S, 1, [], cursor.text(), [], {}, float(end), None,
                       rib=path or Path(url or ""), rib_time=begin, archive_key=url, kind=kind)  # fmt: skip
        return key, batch

    def _after_rib(self) -> list[tuple[str, Batch]]:
        """After a RIB dump is stored: the spooled messages from its time on, then the stream."""
        if not self.cursor.synced:
            return []
        spool, self.spool = self.spool, []
        self.floor = self.cursor.last_ts or 0.0
        closed: list[tuple[str, Batch]] = []
        for message in spool:
            closed += self._to_bin(message)
        return closed

    def _archive(self) -> MrtArchiveConnector:
        from lightsout.sources.mrt_archive import MrtArchiveConnector, MrtArchiveSettings

        assert self.settings.ris_url is not None
        return MrtArchiveConnector(
            self.name, MrtArchiveSettings((self.collector,), ris_url=self.settings.ris_url)
        )

    # -- fetch and parse -------------------------------------------------------------------------

    def fetch(self, client: httpx.Client, item: WorkItem) -> Fetched:
        batch = self.batches.get(item.key)
        if batch is None:
            raise BadPayload(f"{item.key}: no longer held (the stream was restarted)")
        if batch.archive_key is not None:
            from lightsout.sources.connector import WorkItem as Item

            archive = self._archive()
            got = archive.fetch(client, Item(f"{self.collector}/{Path(batch.archive_key).name}",
                                             batch.archive_key, item.checkpoint))  # fmt: skip
            batch.rib = archive._files[got.item.key]
            return Fetched(item, got.status, b"", got.content_type, got.fetched_at, got.server_date)
        server = utc(batch.newest) if batch.newest is not None else None
        fetched_at = utc(batch.received) if batch.received is not None else datetime.now(UTC)
        return Fetched(item, 101, b"", "application/json", fetched_at, server)

    def parse(self, fetched: Fetched) -> Parsed:
        batch = self.batches.pop(fetched.item.key)
        if batch.kind != "bins":
            return self._parse_mrt(fetched, batch)
        if self.tables is None or self.sink is None:
            raise BadPayload(f"{fetched.item.key}: the tables are not synchronised")
        replayer = Replayer(self.tables, self._locator(), rib=False)
        replayer.at(batch.first_bin)
        applied = apply_changes(batch.changes, replayer, self.sink)
        replayer.at(batch.first_bin + (batch.bins - 1) * BIN_S)
        replay = replayer.finish()
        parsed = Parsed(format=FORMAT, records_read=applied)
        # points as columns, written as every MRT ingest writes them (lightsout.ingest.make_batch)
        parsed.point_columns = replay.point_columns(self.collector)
        parsed.entities = replay.entities()
        parsed.skipped = batch.skipped
        parsed.notes = (
            [", ".join(f"{v} {k}" for k, v in sorted(batch.counts.items()))] if batch.counts else []
        )
        end = batch.first_bin + batch.bins * BIN_S
        self.tables.next_file_s = end
        parsed.carry = CarryState(self.carry_key, utc(end), self.tables.dump())
        self.stored = batch.cursor
        return parsed

    def _parse_mrt(self, fetched: Fetched, batch: Batch) -> Parsed:
        """A RIB dump replaces the tables; an update file continues them (the MRT reader's own
        rules: it must start where they end)."""
        assert batch.rib is not None and batch.rib_time is not None
        carried: CarryState | None = None
        if batch.kind == "updates":
            if self.tables is None:
                raise BadPayload(f"{fetched.item.key}: no tables to continue (the RIB dump was not read)")
            carried = CarryState(f"mrt/{self.collector}", utc(batch.rib_time), self.tables.dump())
        try:
            parsed = read_mrt(batch.rib, load_carry=lambda key: carried, columns=True)
        except Exception:  # unreadable (e.g. the archive would not serve it): nothing continues it
            self.tables = self.sink = None
            self.cursor.synced = False
            raise
        finally:
            if batch.archive_key is not None:
                import shutil

                shutil.rmtree(batch.rib.parent.parent, ignore_errors=True)
        tables = RouteTables.load(parsed.carry.payload) if parsed.carry is not None else None
        if tables is None or not tables.synced:
            self.tables = self.sink = None
            self.cursor.synced = False
            raise BadPayload(
                f"{fetched.item.key}: does not continue the tables ({'; '.join(parsed.notes[-1:])})"
            )
        self.tables, self.sink = tables, RouteSink(tables, track_peaks=True)
        self.cursor = Cursor.load(fetched.item.checkpoint, self.collector)
        start = self.cursor.next_bin if batch.kind == "rib" else batch.first_bin
        assert start is not None and self.cursor.next_bin is not None
        parsed.format = FORMAT
        if self.settings.prefixes:  # the stream brings only these: the tables hold only these
            restrict(tables, self.settings.prefixes)
            replayer = Replayer(tables, self._locator(), rib=False)
            replayer.at(start)  # (an update file's bins: one, at its start, of the state at its end)
            replay = replayer.finish()
            parsed.point_columns, parsed.entities = replay.point_columns(self.collector), replay.entities()
        elif parsed.point_columns is not None:
            parsed.point_columns = replace(parsed.point_columns, source=self.collector)
        parsed.carry = CarryState(self.carry_key, utc(self.cursor.next_bin), tables.dump())
        self.open_bin = self.cursor.next_bin
        self.buffer = []
        self.waiting = None
        self.stored = batch.cursor
        return parsed

    def _locator(self) -> GeoLocator:
        if self.locator is None:
            from lightsout.attribution.geo import default_locator

            self.locator = default_locator()
        return self.locator

    def idle_checkpoint(
        self, checkpoint: Checkpoint | None, window: Window, now: datetime
    ) -> Checkpoint | None:
        """A gap found while nothing was stored is saved all the same (the store says unsynced)."""
        if self.cursor.synced or (checkpoint is not None and checkpoint.cursor == self.cursor.text()):
            return None
        if checkpoint is None and not self.cursor.gaps:
            return None
        text = self.cursor.text()
        self.stored = text
        until = checkpoint.data_until if checkpoint is not None else None
        return Checkpoint(self.name, window.stream, text, until, now)


def from_config(source: SourceConfig, service: ServiceConfig) -> RisLiveConnector:
    """``[sources.NAME] kind = "ris-live"``: collector (required, "rrc00"), url, prefixes,
    rib_file, ris_url (the RIS archive: RIB dumps and update files; "" for none), rib_slack, rib_poll, settle,
    round, down_after, max_spool."""
    from lightsout.service.config import ConfigError

    collector = str(source.option("collector", str, "")).lower()
    if not collector.startswith("rrc") or not COLLECTOR_DIR.fullmatch(collector):
        raise ConfigError(
            source.config_path, source.key("collector"), 'required: a RIS collector, e.g. "rrc00"'
        )
    url = source.option("url", str, DEFAULT_URL)
    if not url.startswith(("ws://", "wss://")):
        raise ConfigError(
            source.config_path, source.key("url"), f"expected a ws:// or wss:// URL, got {url!r}"
        )
    prefixes = source.strings("prefixes")
    from lightsout.sources.ris_live_messages import prefix

    for text in prefixes:
        try:
            prefix(text)
        except BadMessage:
            raise ConfigError(
                source.config_path, source.key("prefixes"), f"{text!r} is not a prefix"
            ) from None
    rib = source.option("rib_file", str, None)
    rib_file = Path(rib) if rib else None
    if rib_file is not None and not rib_file.is_absolute():
        rib_file = (source.config_path.parent / rib_file).resolve()
    if rib_file is not None and not rib_file.is_file():
        raise ConfigError(source.config_path, source.key("rib_file"), f"{rib_file}: no such file")
    ris_url = source.option("ris_url", str, "https://data.ris.ripe.net") or None
    if rib_file is None and ris_url is None:
        raise ConfigError(
            source.config_path, source.key("ris_url"), "give rib_file or ris_url: a RIB dump to start from"
        )
    settings = RisLiveSettings(
        collector=collector,
        url=url,
        prefixes=prefixes,
        rib_file=rib_file,
        ris_url=ris_url,
        rib_slack_s=source.duration("rib_slack", "60s").total_seconds(),
        rib_poll_s=source.duration("rib_poll", "1m").total_seconds(),
        settle_s=source.duration("settle", "10s").total_seconds(),
        round_s=source.duration("round", "10s").total_seconds(),
        down_after_s=source.duration("down_after", "30s").total_seconds(),
        max_spool=int(source.option("max_spool", int, 500_000)),
    )
    return RisLiveConnector(source.name, settings)
