"""Statements in the manner of NetBlocks: wording from the event, evidence behind every number."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lightsout.detect.run import detect_batch
from lightsout.detect.service import list_events
from lightsout.errors import UserError
from lightsout.ingest import ingest_file
from lightsout.model import (
    Affected,
    Entity,
    EntityKind,
    Event,
    EventKind,
    Occurrence,
    Schedule,
    Scope,
    SignalEvidence,
    SignalKind,
    SourceFile,
)
from lightsout.report.context import data_end, events_with_own_alerts, find_event
from lightsout.report.statement import Statement, duration_text, make_statement, pct
from lightsout.store import Store, open_store

MONASH = "monash-ip-observatory"


@pytest.fixture(scope="module")
def iran(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(tmp_path_factory.mktemp("iran") / "iran.duckdb")
    ingest_file(store, shared_data / MONASH / "irn-2019-11-11_gif.csv")
    detect_batch(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def bago(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(tmp_path_factory.mktemp("bago") / "bago.duckdb")
    ingest_file(store, shared_data / MONASH / "mmr-2021-04-09_Bago.csv")
    detect_batch(store)
    yield store
    store.close()


def _statement(store: Store, event: Event) -> Statement:
    entities = {e.entity_id: e for e in store.entities()}
    return make_statement(event, entities, store.sources(), data_end(store.series(event.entity_id)))


def test_iran_reads_like_netblocks(iran: Store) -> None:
    event = next(e for e in list_events(iran) if e.scope == Scope.NATIONAL)
    statement = _statement(iran, event)
    assert statement.headline == (
        "Metrics show a nationwide internet shutdown in Iran since 17:30 UTC on 16 November 2019; "
        "connectivity at 7% of ordinary levels."
    )
    assert statement.body.startswith(
        "All 30 provinces are affected. Below them, 73 of 73 counties show the fall"
    )
    assert "At its lowest, connectivity fell to 2%." in statement.body
    assert "still going on where the data end (03:30 UTC on 20 November 2019)" in statement.body


def test_every_number_has_evidence(iran: Store) -> None:
    event = next(e for e in list_events(iran) if e.scope == Scope.NATIONAL)
    evidence = "\n".join(_statement(iran, event).evidence)
    # the level: which signal, source, bins, how many alerted bins
    assert "Level 7% (mean) and 2% (lowest)" in evidence
    assert (
        "Signal connectivity_index from Monash IP Observatory (source 'monash'), 1-hour bins: 82 alerted"
        in (evidence)
    )
    # the baseline method, the start and its uncertainty, the affected count, the confidence
    assert "seasonal moving median of the same time of day (±1 bin) over the previous 7 days" in evidence
    assert "Start: 17:30 UTC on 16 November 2019" in evidence and "within 1 hour before it" in evidence
    assert "30 of the 30 direct sub-entities" in evidence
    assert f"Confidence {event.confidence:.2f}" in evidence
    # the data file, by name and SHA-256, as the store's sources table records it
    source = iran.sources()[0]
    assert f"irn-2019-11-11_gif.csv (format monash-regional_county, sha256 {source.sha256}" in evidence


def test_regional_event_seen_only_in_counties_says_so(iran: Store) -> None:
    """Iran's regional events are county alerts clustered per province: the province's own index did
    not alert, so the statement speaks of the counties, not of the province as a whole."""
    events = list_events(iran)
    event = next(e for e in events if e.entity_id == "region/IR-06")  # Khuzestan, 15-16 Nov
    own = events_with_own_alerts(iran, events)
    assert event.event_id not in own and next(e for e in events if e.scope == Scope.NATIONAL).event_id in own
    entities = {e.entity_id: e for e in iran.entities()}
    statement = make_statement(event, entities, iran.sources(), own_alerts=False)
    assert statement.headline == (
        "Metrics show a major internet outage in 2 counties of Khuzestan, Iran from 17:30 UTC on 15 November "
        "to 06:30 UTC on 16 November 2019; connectivity there at 47% of ordinary levels."
    )
    assert statement.body.startswith("2 of 6 counties are affected: ")
    assert "It lasted 13 hours." in statement.body
    evidence = "\n".join(statement.evidence)
    assert "over the alerted bins of connectivity_index of the 2 counties." in evidence
    assert "Only sub-entities alerted: Khuzestan's own series did not alert" in evidence
    # were the province's own series to alert, it would be named as a whole
    assert make_statement(event, entities).headline.startswith(
        "Metrics show a major internet outage in Khuzestan"
    )


def test_bago_nightly_cuts_have_their_schedule(bago: Store) -> None:
    event = max(
        (e for e in list_events(bago) if e.entity_id == "region/MM-02" and e.schedule is not None),
        key=lambda e: e.schedule.days if e.schedule else 0,
    )
    assert event.schedule is not None and event.schedule.days == 65
    statement = _statement(bago, event)
    assert statement.headline.startswith(
        "Metrics show nightly internet cuts in Bago, Myanmar from 01:00 to 09:00 local time (Asia/Yangon) "
        "on 65 days between 16 February and 27 April 2021; reachable addresses at "
    )
    assert statement.headline.endswith("of ordinary levels during the cuts.")
    assert "Its only county with data, Pegu, is affected." in statement.body
    evidence = "\n".join(statement.evidence)
    assert "Occurrences: 65, the first from 18:30 UTC on 15 February 2021" in evidence
    assert "Schedule: 65 occurrences" in evidence


def test_find_event_by_unique_prefix(iran: Store) -> None:
    events = list_events(iran)
    national = next(e for e in events if e.scope == Scope.NATIONAL)
    assert find_event(events, national.event_id[:7]) == national
    with pytest.raises(UserError, match="ambiguous"):
        find_event(events, "ev-")
    with pytest.raises(UserError, match="no event 'ev-nothing'"):
        find_event(events, "ev-nothing")


# -- wording rules on made-up events -----------------------------------------------------------------

START = datetime(2024, 3, 1, 22, 0, tzinfo=UTC)


def _event(**changes: object) -> Event:
    base = Event(
        event_id="ev-000000000000",
        kind=EventKind.OUTAGE,
        entity_id="country/XX",
        entity_name="Testland",
        country_code="XX",
        scope=Scope.NATIONAL,
        start=START,
        start_uncertainty_s=300,
        end=START + timedelta(hours=5, minutes=30),
        end_uncertainty_s=300,
        mean_level_pct=40.0,
        min_level_pct=12.0,
        confidence=0.5,
        evidence=(
            SignalEvidence(
                SignalKind.BGP_SLASH24S, "rrc15", 300, 66, 0.4, 0.12, START, START + timedelta(hours=5)
            ),
        ),
        affected=(),
        affected_children=0,
        affected_of=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {},
            "Metrics show a major nationwide internet disruption in Testland from 22:00 UTC on 1 March to "
            "03:30 UTC on 2 March 2024; routed address space at 40% of ordinary levels.",
        ),
        # the scale (docs/reporting.md): above 75% of ordinary is degraded connectivity, not an outage
        ({"mean_level_pct": 80.0}, "Metrics show degraded internet connectivity nationwide in Testland from"),
        ({"mean_level_pct": 70.0}, "Metrics show a partial nationwide internet disruption in Testland"),
        (
            {
                "scope": Scope.REGIONAL,
                "entity_id": "region/IR-20",
                "entity_name": "Semnan",
                "country_code": "IR",
                "mean_level_pct": 80.0,
                "min_level_pct": 70.0,
            },
            "Metrics show degraded internet connectivity in Semnan, Iran",
        ),
        (
            {"mean_level_pct": 10.0, "end": None},
            "Metrics show a nationwide internet shutdown in Testland since 22:00 UTC on 1 March 2024;",
        ),
        (
            {
                "scope": Scope.REGIONAL,
                "entity_id": "region/XX-1",
                "entity_name": "North",
                "mean_level_pct": 20.0,
            },
            "Metrics show a near-total internet outage in North, XX from 22:00",
        ),
        (
            {"scope": Scope.NETWORK, "entity_id": "network/AS64500", "entity_name": "Example Net"},
            "Metrics show a major outage on AS64500 (Example Net) in XX from",
        ),
        (
            {"end": START + timedelta(hours=2)},
            "Metrics show a major nationwide internet disruption in Testland "
            "from 22:00 UTC on 1 March to 00:00 UTC on 2 March 2024;",
        ),
    ],
)
def test_wording_rules(changes: dict[str, object], expected: str) -> None:
    entities = {
        "network/AS64500": Entity(
            "network/AS64500", EntityKind.NETWORK, "AS64500", "Example Net", "XX", None, 64500
        )
    }
    assert make_statement(_event(**changes), entities).headline.startswith(expected)


def test_a_fall_within_ordinary_noise_is_degraded_and_noisy_counties_are_not_affected() -> None:
    """Texas Panhandle counties whose index swings 50-100 all week do not count as affected when they
    touch 60%; a region whose own series ordinarily dips to 90% and falls to 75% is not an outage."""
    region = Entity("region/XX-1", EntityKind.REGION, "XX-1", "North", "XX", "country/XX")
    deep = Entity("county/XX-1/a", EntityKind.COUNTY, "a", "Deep", "XX", "region/XX-1")
    noisy = Entity("county/XX-1/b", EntityKind.COUNTY, "b", "Noisy", "XX", "region/XX-1")
    entities = {e.entity_id: e for e in (region, deep, noisy)}
    event = _event(
        scope=Scope.REGIONAL,
        entity_id=region.entity_id,
        entity_name="North",
        mean_level_pct=45.0,
        min_level_pct=20.0,
        affected=(
            Affected(deep.entity_id, "Deep", START, None, 0.2),
            Affected(noisy.entity_id, "Noisy", START, None, 0.6),
        ),
        affected_children=2,
        affected_of=2,
    )
    # Noisy ordinarily dips to 62.5% of its median: only a fall below 0.8 x 62.5 = 50% counts, 60% does not
    noise = {region.entity_id: 95.0, deep.entity_id: 95.0, noisy.entity_id: 62.5}
    statement = make_statement(event, entities, noise=noise)
    assert "1 of 2 counties is affected: Deep." in statement.body
    evidence = "\n".join(statement.evidence)
    assert (
        "Not counted as affected: 1 sub-entity whose lowest level stayed within their own ordinary swing "
        "(5th percentile of the 7 days before, as % of the median; beyond noise below 0.8 x that): "
        "Noisy (60%, ordinarily down to 62%)." in evidence
    )
    # seen only in the counties, all within their own swing: none is named affected, and it says so
    only_noisy = replace(event, affected=(event.affected[1],), affected_children=1, min_level_pct=60.0)
    quiet = make_statement(only_noisy, entities, noise=noise, own_alerts=False)
    assert quiet.headline.startswith(
        "Metrics show no fall beyond ordinary variation in North, XX from "
    ) and quiet.headline.endswith("1 county dipped (Noisy, to 60%), within its own ordinary swing.")
    assert "affected:" not in quiet.body and "Noisy" not in quiet.body
    assert "Affected: 1 of the 2 direct sub-entities" in evidence
    # without noise figures both count, as before
    assert "All 2 counties are affected." in make_statement(event, entities).body
    shallow = replace(event, mean_level_pct=70.0, min_level_pct=74.0, affected=())
    assert make_statement(shallow, entities).headline.startswith(
        "Metrics show a partial internet outage in North"
    )
    beyond = make_statement(shallow, entities, noise={region.entity_id: 95.0})  # 74 < 0.8 x 95 = 76
    assert beyond.headline.startswith("Metrics show a partial internet outage")
    assert make_statement(shallow, entities, noise={region.entity_id: 99.0}).headline.startswith(
        "Metrics show a partial internet outage"
    )
    assert make_statement(shallow, entities, noise={region.entity_id: 90.0}).headline.startswith(
        "Metrics show degraded internet connectivity in North"  # 74 >= 0.8 x 90 = 72: within its swing
    )


def test_same_day_span_and_degradation() -> None:
    degradation = _event(
        kind=EventKind.DEGRADATION,
        start=datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
        end=datetime(2024, 3, 1, 11, 0, tzinfo=UTC),
        mean_level_pct=180.0,
        min_level_pct=240.0,
        evidence=(
            SignalEvidence(
                SignalKind.MEDIAN_RTT_MS, "monash", 3600, 2, 1.8, 1.7, START, START + timedelta(hours=1)
            ),
        ),
    )
    statement = make_statement(degradation)
    assert statement.headline == (
        "Metrics show degraded internet performance in Testland from 09:00 to 11:00 UTC on 1 March 2024; "
        "round-trip time at 180% of ordinary levels (peak 240%)."
    )
    assert "evidence of degradation, not of an outage" in "\n".join(statement.evidence)
    assert "the degradation began within 5 minutes" in "\n".join(statement.evidence)


def test_affected_counts_per_kind_and_daily_schedule() -> None:
    entities = {
        "country/XX": Entity("country/XX", EntityKind.COUNTRY, "XX", "Testland", "XX", None),
        **{
            f"network/AS{n}": Entity(
                f"network/AS{n}", EntityKind.NETWORK, f"AS{n}", f"Net {n}", "XX", "country/XX", n
            )
            for n in (1, 2, 3, 4)
        },
    }
    affected = tuple(
        Affected(f"network/AS{n}", f"Net {n}", START, START + timedelta(hours=1), 0.1) for n in (1, 3)
    )
    occurrences = tuple(
        Occurrence(START + timedelta(days=d, hours=12), START + timedelta(days=d, hours=14), 0.05)
        for d in range(5)
    )
    event = _event(
        affected=affected,
        affected_children=2,
        affected_of=4,
        occurrences=occurrences,
        schedule=Schedule("UTC", "10:00", "12:00", 5),
        start=occurrences[0].start,
        end=occurrences[-1].end,
        mean_level_pct=5.0,
    )
    statement = make_statement(event, entities)
    assert statement.headline.startswith(
        "Metrics show daily internet cuts in Testland from 10:00 to 12:00 local time (UTC) on 5 days between "
        "2 March and 6 March 2024;"
    )
    assert "2 of 4 networks are affected: Net 1, Net 3." in statement.body


def test_small_formatters() -> None:
    assert pct(7.2) == "7%" and pct(0.2) == "under 1%" and pct(0.0) == "0%"
    assert duration_text(timedelta(days=3, hours=9, minutes=5)) == "3 days 9 hours 5 minutes"
    assert duration_text(timedelta(hours=1)) == "1 hour"


def test_text_output_has_headline_evidence_and_attribution() -> None:
    source = SourceFile("ab" * 32, "/data/x.mrt", "mrt", START, 10, 0, 10)
    text = make_statement(_event(), sources=[source]).text()
    assert text.splitlines()[0].startswith("Metrics show")
    assert "Evidence:\n- Level 40% (mean)" in text
    assert f"x.mrt (format mrt, sha256 {'ab' * 32}" in text
    assert text.rstrip().endswith("Data: RIPE RIS rrc15. Analysis: Lightsout.")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("ioda", "address blocks answering IODA's probes at 40% of ordinary levels"),
        ("probing-ams", "address blocks answering our probes at 40% of ordinary levels"),
        ("probing", "address blocks answering our probes at 40% of ordinary levels"),
    ],
)
def test_probed_blocks_are_worded_by_who_probed(source: str, words: str) -> None:
    """IODA's ping-slash24 series is not "our probes" (issue 11)."""
    evidence = SignalEvidence(
        SignalKind.PROBING_UP_SLASH24S, source, 600, 12, 0.4, 0.12, START, START + timedelta(hours=2)
    )
    statement = make_statement(_event(evidence=(evidence,)))
    assert words in statement.headline
    if source == "ioda":
        assert "our probes" not in statement.text()
