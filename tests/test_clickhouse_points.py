"""The ClickHouse backend's columnar point path (lightsout.store.clickhouse_points), without a
server: the figures of each series computed on Arrow columns equal those counted point by point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lightsout.model import SignalKind, SignalPoint
from lightsout.store.clickhouse_points import insert_data, point_table, series_figures
from lightsout.store.clickhouse_sql import micros
from lightsout.store.clickhouse_summary import Summary, batch_summaries
from lightsout.store.schema import arrow_table

T0 = datetime(2019, 11, 16, tzinfo=UTC)
BGP = SignalKind.BGP_SLASH24S


def point(entity_id: str, hour: int, value: float) -> SignalPoint:
    return SignalPoint(entity_id, BGP, "rrc15", T0 + timedelta(hours=hour), 3600, value)


def test_rows_and_columns_give_the_same_table_rows_first() -> None:
    rows = [point("country/IR", 0, 1.0), point("country/IR", 1, 2.0)]
    columns = arrow_table(SignalPoint, [point("network/AS12880", 0, 7.0)])
    table = point_table(rows, columns)
    assert table["entity_id"].to_pylist() == ["country/IR", "country/IR", "network/AS12880"]
    assert table["bin_start"].to_pylist() == [micros(T0), micros(T0 + timedelta(hours=1)), micros(T0)]
    data = insert_data(table, gen=42)
    assert data[0].tolist() == [b"country/IR", b"country/IR", b"network/AS12880"]
    assert data[1].tolist() == [BGP.value.encode()] * 3 and data[-1].tolist() == [42] * 3
    assert data[5].tolist() == [1.0, 2.0, 7.0]


def test_a_bin_given_twice_counts_once_with_its_last_value() -> None:
    # Series interleaved (not one run per series), and IR's hour 0 given twice: the cheap check
    # cannot vouch for the layout, so the bins are counted.
    rows = [
        point("country/IR", 0, 5.0),
        point("network/AS12880", 0, 1.0),
        point("country/IR", 1, 6.0),
        point("country/IR", 0, 9.0),
        point("network/AS12880", 1, 2.0),
    ]
    table = point_table(rows, None)
    figures = series_figures(table)
    assert [(f.key[0], f.rows, f.bins) for f in figures] == [("country/IR", 3, 2), ("network/AS12880", 2, 2)]
    summaries = batch_summaries(table, figures)
    first, second = micros(T0), micros(T0 + timedelta(hours=1))
    assert summaries[("country/IR", BGP.value, "rrc15", 3600)] == Summary(2, first, second, 6.0, 9.0)
    assert summaries[("network/AS12880", BGP.value, "rrc15", 3600)] == Summary(2, first, second, 1.0, 2.0)


def test_series_one_after_another_with_rising_bins() -> None:
    rows = [point("country/IR", h, float(h)) for h in range(3)]
    rows += [point("country/IQ", h, 1.0) for h in range(2)]
    figures = series_figures(point_table(rows, None))
    assert [(f.key[0], f.rows, f.bins, f.min_value, f.max_value) for f in figures] == [
        ("country/IQ", 2, 2, 1.0, 1.0),
        ("country/IR", 3, 3, 0.0, 2.0),
    ]
    # The same bin twice in a row is not "rising": counted, not trusted.
    again = series_figures(point_table([point("country/IR", 0, 1.0), point("country/IR", 0, 2.0)], None))
    assert [(f.rows, f.bins) for f in again] == [(2, 1)]
