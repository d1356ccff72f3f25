"""A collector's MRT files as one replay: update files continue the tables of the file before."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lightsout.ingest import ingest_file
from lightsout.model import SeriesKey, SignalKind
from lightsout.sources.mrt import RoutingTables, read_mrt
from lightsout.store import Store

RRC15 = "mrt/ripe-ris/rrc15/2010.02"


def test_update_file_continues_the_previous_tables(shared_data: Path, store: Store) -> None:
    first = ingest_file(store, shared_data / RRC15 / "updates.20100227.1600.gz")
    assert first.points_written > 0
    state = store.load_carry("mrt/rrc15")
    assert state is not None
    assert state.as_of == datetime(2010, 2, 27, 16, 5, tzinfo=UTC)  # the file's last record
    tables = RoutingTables.load(state.payload)
    assert max(tables.peaks.values()) == 48_720  # the busiest peer's table at its largest
    second = ingest_file(store, shared_data / RRC15 / "updates.20100227.1610.gz")
    assert any("continues the collector's tables" in note for note in second.notes)
    series = store.points(SeriesKey("network/AS4766", SignalKind.BGP_PREFIXES, "rrc15", 300))
    times = [datetime.fromtimestamp(int(t), UTC).strftime("%H:%M") for t in series.times_s]
    assert times == ["16:00", "16:05", "16:10", "16:15"]
    assert list(series.values) == [1430.0, 1430.0, 1430.0, 1430.0]
    # Read alone, the 16:10 file has no route of AS4766: the carried tables are what keeps it visible.
    alone = read_mrt(shared_data / RRC15 / "updates.20100227.1610.gz")
    assert not [p for p in alone.points if p.entity_id == "network/AS4766"]
    assert alone.carry is not None and alone.carry.key == "mrt/rrc15"


def test_out_of_order_file_is_replayed_on_its_own(shared_data: Path, store: Store) -> None:
    ingest_file(store, shared_data / RRC15 / "updates.20100227.1610.gz")
    earlier = ingest_file(store, shared_data / RRC15 / "updates.20100227.1600.gz")
    assert any("replayed on its own" in note for note in earlier.notes)
    series = store.points(SeriesKey("network/AS4766", SignalKind.BGP_PREFIXES, "rrc15", 300))
    assert list(series.values) == [1430.0, 1430.0]  # only the 16:00 file's own bins


def test_a_gap_of_years_does_not_carry(shared_data: Path, store: Store) -> None:
    ingest_file(store, shared_data / "mrt/ripe-ris/rrc00/2000.01/updates.20000102.2014.gz")
    later = ingest_file(store, shared_data / "mrt/ripe-ris/rrc00/2000.03/updates.20000325.0345.gz")
    assert any("more than 8 h after the stored tables" in note for note in later.notes)
