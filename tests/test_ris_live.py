"""RIS Live connector against the loopback websocket replay of the recorded 2019 firehose, with
faults: a connection dropped mid-stream and frames sent again (duplicates), a ris_error followed by
lost frames (a gap, resynchronised from the next RIB dump), a malformed frame, a collector clock
seven years behind ours, a killed and restarted connector. Values are checked against a count made
independently from the starting RIB and the recorded messages (replay.ris_live.expected_counts)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from lightsout.model import HealthState, SeriesKey, SignalKind
from lightsout.service.freshness import gaps_of
from lightsout.sources.connector import Backoff, Window
from lightsout.sources.mrt.updates import PeerDown, RouteUpdate
from lightsout.sources.pump import RoundLimits, RoundResult, direct_writer, health_after, run_round
from lightsout.sources.ris_live import RisLiveConnector, RisLiveSettings
from lightsout.sources.ris_live_messages import BadMessage, Control, Message, read_frame
from lightsout.store import Store, open_store
from replay.mrt_archive import MrtArchiveReplay
from replay.ris_live import (
    DATA,
    DOC_AS_UNKNOWN,
    FIREHOSE,
    RisLiveReplay,
    expected_counts,
    load_frames,
    rrc00_rib_routes,
    write_rib,
    write_updates,
)
from replay.server import ReplayServer

T0 = 1558620000  # 2019-05-23 14:00 UTC: the recording's bin (its frames run 14:00:47.05-.17)
FRAMES = load_frames([FIREHOSE])
RECORDED = [json.loads(line)["data"] for line in FIREHOSE.read_text().splitlines()]
RRC00 = [d for d in RECORDED if d["host"] == "rrc00" and d["type"] == "UPDATE"]
ROUTES = rrc00_rib_routes(FRAMES)
WINDOW = Window("follow", datetime(2019, 5, 23, tzinfo=UTC))


@pytest.fixture
def rib(tmp_path: Path) -> Path:
    return write_rib(tmp_path / "rrc00" / "bview.20190523.1400.gz", T0, ROUTES)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path / "s.duckdb")
    try:
        yield opened
    finally:
        opened.close()


def _connector(url: str, rib: Path | None, ris_url: str | None = None) -> RisLiveConnector:
    settings = RisLiveSettings("rrc00", url=url, rib_file=rib, ris_url=ris_url, round_s=0.5,
                               rib_poll_s=0.2, settle_s=1.0, backoff_base_s=0.05)  # fmt: skip
    return RisLiveConnector("ris", settings)


def _until(
    connector: RisLiveConnector, store: Store, done: Callable[[], bool], limits: RoundLimits | None = None
) -> list[RoundResult]:
    results = []
    deadline = time.monotonic() + 15.0
    with httpx.Client() as client:
        while not done():
            assert time.monotonic() < deadline, f"timed out; rounds: {results}"
            results.append(run_round(connector, client, direct_writer(store), WINDOW, limits=limits))
    return results


def _value(store: Store, asn: int, bin_start: int) -> float | None:
    series = store.points(SeriesKey(f"network/AS{asn}", SignalKind.BGP_PREFIXES, "rrc00", 300))
    found = [
        v for t, v in zip(series.times_s.tolist(), series.values.tolist(), strict=True) if t == bin_start
    ]
    return found[0] if found else None


def _stored(store: Store, bin_start: int) -> bool:
    """Some value of the collector for that bin is stored."""
    return any(
        bin_start in store.points(key).times_s.tolist()
        for key in (s.key for s in store.series() if s.key.source == "rrc00")
    )


def _next_bin(store: Store) -> int | None:
    checkpoint = store.load_checkpoint("ris", "follow")
    return json.loads(checkpoint.cursor)["next_bin"] if checkpoint is not None else None


def _skipped(store: Store) -> int:
    return sum(f.records_skipped for f in store.sources())


def _unique(ids: list[str]) -> list[dict[str, object]]:
    """The rrc00 messages the server sent, each once, in order (pass k is pass 0 again)."""
    by_id = {str(d["id"]): d for d in RRC00}
    out, done = [], set()
    for sent in ids:
        if sent not in done:
            done.add(sent)
            base = sent.split("~")[0]
            if base in by_id:
                out.append(by_id[base])
    return out


def _assert_counts(
    store: Store,
    bin_start: int,
    messages: list[dict[str, object]],
    routes: dict[str, dict[str, tuple[int, ...]]],
) -> None:
    expected = expected_counts(routes, messages)
    got = {asn: _value(store, asn, bin_start) for asn in expected}
    assert got == {asn: float(n) for asn, n in expected.items()}
    start = expected_counts(ROUTES, [])
    assert expected.get(DOC_AS_UNKNOWN, 0) + 500 < start[DOC_AS_UNKNOWN]  # the stream withdrew them


def test_frames_of_both_formats_and_bad_ones() -> None:
    new = (DATA / "ws-bgpkit-parser-real-messages-2021-2025.jsonl").read_text().splitlines()[-1]
    message = read_frame(new)  # 2025: host "rrc25.ripe.net", 3 decimals, empty arrays, no origin
    assert isinstance(message, Message) and message.host == "rrc25" and message.ts == 1740561857.910
    assert message.changes == (RouteUpdate(1740561857, "2606:6dc0:1301::1", [bytes([0x80, 48, 0x26, 0x05,
                               0xDE, 0x00, 0x00, 0xBB])], [], ()),)  # fmt: skip
    as_set = read_frame((DATA / "update-with-as-set-rrc11-2019-11-15.json").read_text())
    assert isinstance(as_set, Message)
    (update,) = as_set.changes
    assert isinstance(update, RouteUpdate) and update.origins == (13340,) and len(update.announced) == 1
    mixed = read_frame((DATA / "ws-update-announce+withdraw-rrc13-2019-07-11.json").read_text())
    assert isinstance(mixed, Message) and len(mixed.changes[0].announced) == 8  # type: ignore[union-attr]
    down = '{"type":"ris_message","data":{"timestamp":1.5,"peer":"192.0.2.1","host":"rrc00",'
    assert read_frame(down + '"type":"RIS_PEER_STATE","state":"down"}}').changes == (
        PeerDown(1, "192.0.2.1"),
    )
    for name in ("ws-keepalive-rrc01-2019-07-11.json", "ws-ris_message-without-bgp-type-rrc21-2021.json"):
        frame = read_frame((DATA / name).read_text())
        assert isinstance(frame, Message) and frame.changes == ()
    error = read_frame((DATA / "ws-ris_error-slow-consumer-disconnect.json").read_text())
    assert isinstance(error, Control) and error.type == "ris_error"
    for bad in ("{", "[]", '{"type":"ris_message","data":{"timestamp":"x"}}',
                down + '"type":"UPDATE","withdrawals":["300.1.2.0/24"]}}'):  # fmt: skip
        with pytest.raises(BadMessage):
            read_frame(bad)


def test_subscription_and_prefixes_of_interest() -> None:
    from lightsout.sources.mrt import RouteTables
    from lightsout.sources.mrt.replay import text_origins
    from lightsout.sources.ris_live_stream import subscriptions
    from lightsout.sources.ris_live_sync import restrict

    update, state = subscriptions("rrc00", ("84.205.64.0/24", "2001:7fb:fe00::/48"))
    assert update["data"] == {
        "host": "rrc00",
        "type": "UPDATE",
        "prefix": ["84.205.64.0/24", "2001:7fb:fe00::/48"],
        "moreSpecific": True,
        "socketOptions": {"includeRaw": False, "acknowledge": False},
    }
    assert state["data"]["type"] == "RIS_PEER_STATE" and "prefix" not in subscriptions("rrc00", ())[0]["data"]
    tables = RouteTables()
    for text in ("84.205.64.0/24", "84.205.64.128/25", "84.205.0.0/16", "193.0.0.0/21", "2001:7fb:fe00::/48"):
        text_origins(tables, "192.0.2.1", text, (12654,))
    restrict(tables, ("84.205.64.0/24", "2001:7fb:fe00::/48"))
    assert tables.sizes == {"192.0.2.1": 3} and tables.peaks == {
        "192.0.2.1": 3
    }  # the two and a more-specific


def test_stream_with_drop_duplicates_malformed_and_skew(rib: Path, store: Store) -> None:
    """A drop at frame 1,500 and 40 frames sent again; a malformed frame; the values of the first
    two bins equal the independent count; nothing is applied twice; no gap."""
    with RisLiveReplay(
        passes=3, drop_at={1500}, rewind=40, malformed={300: '{"type": "ris_message", "da'}
    ) as ws:
        connector = _connector(ws.url, rib)
        try:
            results = _until(connector, store, lambda: (_next_bin(store) or 0) > T0 + 300)
        finally:
            connector.close()
        sent = list(ws.sent_ids)
    assert ws.connections == 2 and ws.subscriptions[0]["host"] == "rrc00"
    assert len(sent) > len(set(sent))  # the server did send duplicates
    _assert_counts(store, T0, _unique(sent), ROUTES)
    _assert_counts(store, T0 + 300, _unique(sent), ROUTES)
    cursor = json.loads(store.load_checkpoint("ris", "follow").cursor)  # type: ignore[union-attr]
    assert cursor["synced"] and cursor["gaps"] == []
    assert _skipped(store) == 1  # the malformed frame, with its position
    assert 0 < connector.totals["duplicates dropped"] <= 40
    # The collector's clock is seven years behind ours: the source is judged on its own clock.
    skew = next(r.clock_skew_s for r in reversed(results) if r.clock_skew_s is not None)
    assert skew is not None and skew < -2e8
    health = health_after(None, results[-1], datetime.now(UTC), timedelta(seconds=1), timedelta(minutes=15),
                          Backoff())  # fmt: skip
    assert health.state is HealthState.OK


def test_ris_error_and_lost_frames_are_a_gap_until_the_next_rib(
    rib: Path, store: Store, tmp_path: Path
) -> None:
    """A slow-consumer ris_error, then 200 frames lost: the tables are not carried across; no value
    until the next RIB dump (14:15, from the archive), then the values equal the independent count."""
    later = write_rib(tmp_path / "later" / "bview.20190523.1415.gz", T0 + 900, ROUTES_AFTER)
    archive = MrtArchiveReplay()
    archive.files = {"/ris/rrc00/2019.05/bview.20190523.1415.gz": later}
    with ReplayServer([archive]) as http, RisLiveReplay(passes=5, error_at={1200}, skip=200) as ws:
        connector = _connector(ws.url, rib, ris_url=f"{http.url}/ris")
        try:
            _until(connector, store, lambda: (_next_bin(store) or 0) > T0 + 900)
        finally:
            connector.close()
        sent = list(ws.sent_ids)
    assert _stored(store, T0) and not _stored(store, T0 + 300) and not _stored(store, T0 + 600)
    cursor = json.loads(store.load_checkpoint("ris", "follow").cursor)  # type: ignore[union-attr]
    assert len(cursor["gaps"]) == 1 and cursor["rib"] == "rrc00/rib/bview.20190523.1415.gz"
    gaps = gaps_of(store.load_checkpoint("ris", "follow"))  # what `lightsout sources` shows
    assert gaps is not None and gaps.count == 1 and gaps.latest is not None
    assert gaps.latest.start == datetime(2019, 5, 23, 14, 5, 47, 160000, tzinfo=UTC)
    _assert_counts(store, T0 + 900, _unique([i for i in sent if i.endswith(("~3", "~4"))]), ROUTES_AFTER)


def test_start_catches_up_from_the_latest_rib_dump_and_the_update_files(store: Store, tmp_path: Path) -> None:
    """The stream starts at 14:05:47: the archive's RIB dump of 14:00 and its update files of 14:00
    and 14:05 (the same messages, as MRT) bring the tables up to 14:10, where the stream takes over.
    The 14:05 file is published late: the source waits for it, keeping the stream meanwhile; rounds
    store one item each, so the three files span three rounds."""
    archive = MrtArchiveReplay()
    base = "/ris/rrc00/2019.05/"
    archive.files = {
        base + "bview.20190523.1400.gz": write_rib(tmp_path / "a" / "bview.20190523.1400.gz", T0, ROUTES),
        base + "updates.20190523.1400.gz": write_updates(tmp_path / "a" / "updates.20190523.1400.gz", 0),
    }
    late = write_updates(tmp_path / "a" / "updates.20190523.1405.gz", 300)
    with ReplayServer([archive]) as http, RisLiveReplay(passes=4, position=1000) as ws:
        connector = _connector(ws.url, None, ris_url=f"{http.url}/ris")
        try:
            _until(
                connector,
                store,
                lambda: str(connector.waiting).startswith("catching up") and ws.position > 3000,
            )
            assert _next_bin(store) is None  # nothing stored while waiting
            archive.files[base + "updates.20190523.1405.gz"] = late
            # one item a round: the synchronisation goes on across rounds
            _until(connector, store, lambda: (_next_bin(store) or 0) > T0 + 600, RoundLimits(max_items=1))
        finally:
            connector.close()
    cursor = json.loads(store.load_checkpoint("ris", "follow").cursor)  # type: ignore[union-attr]
    assert cursor["rib"] == "rrc00/rib/bview.20190523.1400.gz" and cursor["gaps"] == []
    files = sorted(f.path.rsplit("/", 1)[-1] for f in store.sources() if f.path.endswith(".gz"))
    assert files == ["bview.20190523.1400.gz", "updates.20190523.1400.gz", "updates.20190523.1405.gz"]
    assert connector.totals["messages before the RIB dump"] > 0  # the 14:05 ones: the file had them
    for bin_start in (T0, T0 + 300, T0 + 600):  # two bins from the files, one from the stream
        _assert_counts(store, bin_start, RRC00, ROUTES)


def test_killed_connector_resumes_without_doubling(rib: Path, store: Store) -> None:
    """Killed in the middle of the second bin: the restarted connector's stream starts inside what
    was stored; what was stored is not applied again, what was lost with the kill is."""
    with RisLiveReplay(passes=3, pause_at={1500}) as ws:
        first = _connector(ws.url, rib)
        try:
            _until(first, store, lambda: _next_bin(store) == T0 + 300)
        finally:
            first.close()  # killed: what it read after the stored bin is lost with it
        rows = len(store.sources())
        assert ws.position == 1500
        ws.rewind = ws.position - 900  # the new connection starts inside what was stored
        ws.hold.clear()
        second = _connector(ws.url, rib)
        try:
            _until(second, store, lambda: (_next_bin(store) or 0) > T0 + 300)
        finally:
            second.close()
        sent = list(ws.sent_ids)
    assert second.totals["duplicates dropped"] > 0
    _assert_counts(store, T0 + 300, _unique(sent), ROUTES)
    cursor = json.loads(store.load_checkpoint("ris", "follow").cursor)  # type: ignore[union-attr]
    assert cursor["gaps"] == []
    assert len(store.sources()) == rows + 1  # one more bin; the RIB dump is not read again


def _state_after() -> dict[str, dict[str, tuple[int, ...]]]:
    """The rrc00 tables after the recording, by prefix text as the recording writes them."""
    tables = {peer: dict(t) for peer, t in ROUTES.items()}
    for data in RRC00:
        table = tables.setdefault(str(data["peer"]), {})
        for text in data.get("withdrawals") or ():  # type: ignore[attr-defined]
            table.pop(text, None)
        for group in data.get("announcements") or ():  # type: ignore[attr-defined]
            for text in group["prefixes"]:
                last = data["path"][-1]  # type: ignore[index]
                table[text] = tuple(sorted(set(last))) if isinstance(last, list) else (int(last),)
    return tables


ROUTES_AFTER = _state_after()  # the archive's RIB dump of 14:15: the tables after the recording


def test_service_serves_the_stream_while_it_goes_on(rib: Path, tmp_path: Path) -> None:
    """`lightsout run` follows the replayed stream: the API shows AS64496's prefixes withdrawn by
    the recording (the value the independent count gives) while later bins keep coming in."""
    import os
    import signal
    import subprocess
    import sys

    from lightsout.service.holder import holder_path

    expected = expected_counts(ROUTES, RRC00)
    with RisLiveReplay(passes=48, pace_s=0.0005) as ws:
        config = tmp_path / "lightsout.toml"
        config.write_text(
            f"""
[store]
path = "e2e.duckdb"
[serve]
port = 0
[sources.ris]
kind = "ris-live"
collector = "rrc00"
url = "{ws.url}"
rib_file = "{rib}"
ris_url = ""
settle = "1s"
round = "1s"
""",
            encoding="utf-8",
        )
        store = tmp_path / "e2e.duckdb"
        proc = subprocess.Popen([sys.executable, "-m", "lightsout.cli", "run", "--config", str(config)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            url = None
            while url is None:
                assert proc.poll() is None and time.monotonic() < deadline, "the service did not start"
                try:
                    url = json.loads(holder_path(store).read_text())["url"]
                except (OSError, ValueError, KeyError):
                    time.sleep(0.1)
            query = {"entity": f"network/AS{DOC_AS_UNKNOWN}", "source": "rrc00", "signal": "bgp_prefixes",
                     "since": "2019-05-23T00:00:00Z", "until": "2019-05-24T00:00:00Z"}  # fmt: skip
            seen: list[int] = []
            while len(seen) < 3 or ws.position >= len(ws):  # three bins stored, the stream still going
                assert proc.poll() is None and time.monotonic() < deadline, f"bins seen: {seen}"
                answer = httpx.get(f"{url}/api/v1/signals", params=query)
                if answer.status_code == 200 and answer.json()["data"]:
                    series = answer.json()["data"][0]
                    seen = series["times_s"]
                    values = dict(zip(series["times_s"], series["mean"], strict=True))
                    if len(seen) > 1:  # the stream's first bin is stored (before that: the RIB's 2,357)
                        assert values[T0] == expected.get(DOC_AS_UNKNOWN, 0)
                time.sleep(0.2)
            sources = httpx.get(f"{url}/api/v1/sources").json()["data"]["sources"]
            assert [s["source"] for s in sources] == ["ris"] and sources[0]["state"] == "ok"
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output


def test_the_example_config_section_builds_the_connector(tmp_path: Path) -> None:
    from lightsout.service.config import ConfigError, load_config
    from lightsout.service.run import build_connector

    example = (Path(__file__).resolve().parents[1] / "lightsout.example.toml").read_text()
    section = example[example.index("# [sources.ris]") : example.index("# [sources.radar]")]
    lines = [line.removeprefix("# ") for line in section.splitlines() if not line.startswith("# # ")]
    path = tmp_path / "l.toml"
    path.write_text("\n".join(line for line in lines if not line.startswith("# ")), encoding="utf-8")
    config = load_config(path)
    connector = build_connector(config.source("ris"), config)
    assert isinstance(connector, RisLiveConnector)
    assert connector.settings.url == "wss://ris-live.ripe.net/v1/ws/?client=lightsout"
    assert (connector.collector, config.source("ris").every) == ("rrc00", timedelta(seconds=0.1))
    for bad, key in (('collector = "route-views2"', "collector"), ('url = "https://x"', "url"),
                     ('prefixes = ["10.0.0.0/33"]', "prefixes")):  # fmt: skip
        path.write_text(f'[sources.ris]\nkind = "ris-live"\ncollector = "rrc00"\n{bad}\n', encoding="utf-8")
        text = path.read_text().replace('collector = "rrc00"\ncollector', "collector")
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"sources\.ris\.{key}: "):
            build_connector(load_config(path).source("ris"), load_config(path))
