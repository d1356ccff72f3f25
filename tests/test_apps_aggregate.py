"""Verdicts merged into blocking events, as timelines (alertmanager style) and through a real store."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lightsout.apps import Method, Status, Verdict
from lightsout.apps.aggregate import blocking_events, iter_measurements, make_events, make_series
from lightsout.ingest import ingest_file
from lightsout.model import OoniMeasurement, SourceFile
from lightsout.store import IngestBatch, Store

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def verdict(
    hours: float | None,
    status: Status,
    method: Method | None = None,
    target: str = "Telegram",
    asn: int | None = 9198,
    cc: str | None = "KZ",
    reason: str = "r",
) -> Verdict:
    return Verdict(
        measurement_id=f"m-{target}-{asn}-{hours}",
        test_name="telegram",
        target=target,
        status=status,
        method=method,
        reason=reason,
        probe_cc=cc,
        probe_asn=asn,
        start=None if hours is None else at(hours),
    )


BAR = "the bar is 3 blocked measurements on 2 days or an OONI fingerprint: not a finding of blocking"
B, A, D, I = Status.BLOCKED, Status.ACCESSIBLE, Status.DOWN, Status.INCONCLUSIVE  # noqa: E741


def test_consecutive_blocked_verdicts_merge_and_accessible_ends_them() -> None:
    timeline = [
        verdict(0, B, Method.TLS),
        verdict(1, B, Method.TLS),
        verdict(2, I),
        verdict(3, B, Method.TLS, reason="last"),
        verdict(4, A),
        verdict(5, B, Method.DNS),
        verdict(6, D),
        verdict(7, B, Method.DNS),
    ]
    first, second = make_events(reversed(timeline))  # input order does not matter
    assert (first.method, first.start, first.last_blocked, first.end, first.measurements) == (
        Method.TLS,
        at(0),
        at(3),
        at(4),
        3,
    )
    assert first.reason == "last" and not first.ongoing
    assert (second.method, second.start, second.last_blocked, second.end, second.measurements) == (
        Method.DNS,
        at(5),
        at(7),
        None,
        2,
    )
    assert second.ongoing
    # one day of measurements is below the evidence bar, and the statement says so with its counts
    assert not first.meets_bar and not second.meets_bar
    assert second.statement() == (
        "Below the evidence bar: Telegram looked blocked on AS9198 in KZ by DNS tampering from "
        "2024-03-01 15:00 UTC, still blocked at the end of the data (2024-03-01 17:00 UTC) "
        "(2 blocked of 8 measurements, 1 accessible, on 1 day); " + BAR
    )
    assert first.statement() == (
        "Below the evidence bar: Telegram looked blocked on AS9198 in KZ by TLS interference from "
        "2024-03-01 10:00 UTC until 2024-03-01 14:00 UTC (3 blocked of 8 measurements, 1 accessible, "
        "on 1 day); " + BAR
    )


def test_the_evidence_bar_and_ongoing_only_when_live() -> None:
    """Three blocked measurements on three days clear the bar; "ongoing" needs live data."""
    days = [verdict(0, B, Method.TLS), verdict(24, B, Method.TLS), verdict(48, B, Method.TLS), verdict(49, D)]
    (event,) = make_events(days)
    assert event.meets_bar and (event.measurements, event.days, event.accessible) == (3, 3, 0)
    assert event.statement(now=at(24 * 365)) == (
        "Telegram blocked on AS9198 in KZ by TLS interference from 2024-03-01 10:00 UTC, still blocked at "
        "the end of the data (2024-03-03 11:00 UTC) (3 blocked of 4 measurements, 0 accessible, on 3 days)"
    )
    assert event.statement(now=at(50)) == (
        "Telegram blocked on AS9198 in KZ by TLS interference since 2024-03-01 10:00 UTC, ongoing "
        "(3 blocked of 4 measurements, 0 accessible, on 3 days)"
    )
    # one measurement, even confirmed by nothing, is never "blocked ... since 2017 ... ongoing"
    (one,) = make_events([verdict(0, B, Method.DNS)])
    assert one.statement(now=at(1)).startswith("Below the evidence bar: ")


def test_copies_of_one_ooni_measurement_count_once() -> None:
    """report1.json and report1.json.pretty: the same (report_id, input, start), two store ids."""
    copy = replace(verdict(0, B, Method.DNS), report_id="r1", measurement_id="a")
    again = replace(copy, measurement_id="b")
    (event,) = make_events([copy, again])
    assert event.measurements == 1 and event.measurement_ids == ("a",)
    assert event.explorer_urls == ("https://explorer.ooni.org/measurement/r1",)
    # copies that disagree are one inconclusive verdict: no event, nothing counted twice
    fine = replace(copy, measurement_id="c", status=A, method=None)
    assert make_events([copy, fine]) == []
    (series,) = make_series([copy, fine])
    assert series.count(I) == 1 and "copies of one OONI measurement disagree" in series.latest.reason


def test_a_change_of_method_stays_one_event_naming_both() -> None:
    """Not a DNS event and a TLS event for the same target in the same run: one, saying both."""
    (event,) = make_events(
        [verdict(0, B, Method.DNS), verdict(1, B, Method.TLS), verdict(1.5, B, Method.TLS)]
    )
    assert event.methods == ((Method.TLS, 2), (Method.DNS, 1)) and event.method is Method.TLS
    assert "by TLS interference (2 measurements) and DNS tampering (1) from" in event.statement()


def test_an_accessible_verdict_of_the_same_minute_does_not_split_an_event() -> None:
    (event,) = make_events([verdict(0, B, Method.DNS), verdict(0.005, A), verdict(0.01, B, Method.TLS)])
    assert (event.measurements, event.accessible, event.end) == (2, 1, None)


def test_series_are_per_country_network_and_target() -> None:
    verdicts = [
        verdict(0, B, Method.TLS),
        verdict(1, B, Method.TLS, asn=48716),
        verdict(2, B, Method.TLS, target="WhatsApp"),
        verdict(3, A, asn=48716),
        verdict(4, B, Method.TLS, asn=None, cc=None),
        verdict(None, B, Method.TLS),  # no time: cannot be placed
    ]
    series = make_series(verdicts)
    assert [(s.country, s.asn, s.target, len(s.verdicts)) for s in series] == [
        (None, None, "Telegram", 1),
        ("KZ", 9198, "Telegram", 1),
        ("KZ", 9198, "WhatsApp", 1),
        ("KZ", 48716, "Telegram", 2),
    ]
    assert series[3].count(Status.ACCESSIBLE) == 1 and series[3].latest.status is Status.ACCESSIBLE
    events = make_events(verdicts)
    assert [(e.asn, e.target, e.ongoing) for e in events] == [
        (9198, "Telegram", True),
        (48716, "Telegram", False),
        (9198, "WhatsApp", True),
        (None, "Telegram", True),
    ]
    assert (
        events[3]
        .statement()
        .startswith(
            "Below the evidence bar: Telegram looked blocked on an unknown network by TLS interference on"
        )
    )


def test_no_blocked_verdicts_no_events() -> None:
    assert make_events([verdict(0, A), verdict(1, D), verdict(2, I)]) == []


# -- through the store ----------------------------------------------------------------------------


def _telegram(shared_data: Path, web_blocked: bool) -> dict[str, Any]:
    record = json.loads((shared_data / "ooni/fastpath/telegram_nourl.json").read_text())
    for request in record["test_keys"]["requests"]:
        host = request["request"]["headers"]["Host"]
        request["request"]["url"] = f"https://{host}/"
        if web_blocked and host == "web.telegram.org":
            request["failure"] = "connection_reset"
    return record


def _write(store: Store, measurements: list[OoniMeasurement], name: str) -> None:
    source = SourceFile(
        sha256=name * 8,
        path=name,
        format="ooni-json",
        ingested_at=T0,
        records_read=len(measurements),
        records_skipped=0,
        points_written=0,
    )
    store.write_batch(IngestBatch(source=source, measurements=measurements))


def _measurement(
    record: dict[str, Any], measurement_id: str, hours: float, asn: int = 9198
) -> OoniMeasurement:
    return OoniMeasurement(
        measurement_id=measurement_id,
        test_name=record["test_name"],
        test_version=record["test_version"],
        probe_cc="KZ",
        probe_asn=asn,
        measurement_start=at(hours),
        input=None,
        raw_json=json.dumps(record),
    )


def test_blocking_events_from_the_store(store: Store, shared_data: Path) -> None:
    blocked = _telegram(shared_data, web_blocked=True)
    fine = _telegram(shared_data, web_blocked=False)
    _write(
        store,
        [
            _measurement(blocked, "t1", 0),
            _measurement(blocked, "t2", 6),
            _measurement(fine, "t3", 12),
            _measurement(blocked, "t4", 24),
            _measurement(fine, "other-net", 1, asn=48716),
        ],
        "a",
    )
    events = blocking_events(store)
    assert [e.statement() for e in events] == [
        "Below the evidence bar: Telegram looked blocked on AS9198 in KZ by TLS interference from "
        "2024-03-01 10:00 UTC until 2024-03-01 22:00 UTC (2 blocked of 4 measurements, 1 accessible, "
        "on 1 day); " + BAR,
        "Below the evidence bar: Telegram looked blocked on AS9198 in KZ by TLS interference on "
        "2024-03-02 10:00 UTC, at the end of the data (1 blocked of 4 measurements, 1 accessible, on 1 day); "
        + BAR,
    ]
    assert events[0].measurement_ids == ("t1", "t2")
    assert "Telegram Web failed (connection_reset" in events[0].reason
    assert blocking_events(store, asn=48716) == []
    assert len(blocking_events(store, since=at(20))) == 1


def test_real_measurements_make_real_events(store: Store, shared_data: Path) -> None:
    for name in ("web_connectivity_ir_fp.json", "whatsapp.json", "signal_679.json"):
        ingest_file(store, shared_data / "ooni/fastpath" / name)
    ingest_file(store, shared_data / "ooni/wc05_qa/dnsBlockingNXDOMAIN.json")
    statements = [e.statement() for e in blocking_events(store)]
    assert statements == [
        "https://www.facebook.com/ blocked on AS197207 in IR by DNS tampering on 2022-08-15 19:01 UTC, at "
        "the end of the data (1 blocked of 1 measurement, 0 accessible, on 1 day; OONI fingerprint "
        "ooni.ir_10dot10_ipv4_1)",
        "Below the evidence bar: https://www.example.com/ looked blocked on AS137 in IT by DNS tampering on "
        "2024-02-12 20:33 UTC, at the end of the data (1 blocked of 1 measurement, 0 accessible, on 1 day); "
        + BAR,
    ]
    (iran,) = blocking_events(store, country="IR")
    assert iran.fingerprint == "ooni.ir_10dot10_ipv4_1"


def test_paging_reads_every_measurement_once_even_at_one_instant(store: Store, shared_data: Path) -> None:
    record = _telegram(shared_data, web_blocked=False)
    same_instant = [_measurement(record, f"same-{i}", 0) for i in range(5)]
    later = [_measurement(record, f"later-{i}", 1 + i) for i in range(3)]
    _write(store, [*same_instant, *later], "b")
    ids = [m.measurement_id for m in iter_measurements(store, page_size=2)]
    assert sorted(ids) == sorted(m.measurement_id for m in [*same_instant, *later])
    assert len(ids) == len(set(ids))
    assert [m.measurement_id for m in iter_measurements(store, since=at(2), page_size=1)] == [
        "later-1",
        "later-2",
    ]
