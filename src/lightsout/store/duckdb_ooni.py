"""OONI measurements in the DuckDB backend: the streamed write of a file's measurements, committed
chunk by chunk while pending (``DuckDBStore.write_parts``), and the filter of every read of them,
which leaves pending measurements out."""

from __future__ import annotations

from typing import Any

import duckdb

from lightsout.model import OoniMeasurement, OoniVerdict
from lightsout.store.base import IngestBatch, MeasurementFilter
from lightsout.store.schema import arrow_table

MEASUREMENT_FILTER = (
    "(? IS NULL OR probe_cc = ?) AND (? IS NULL OR probe_asn = ?) AND (? IS NULL OR test_name = ?) "
    "AND (?::TIMESTAMPTZ IS NULL OR measurement_start >= ?) "
    "AND (?::TIMESTAMPTZ IS NULL OR measurement_start < ?)"
)
# Measurements of a file whose write is under way are not shown (DuckDBStore.write_parts).
NOT_PENDING = " AND measurement_id NOT IN (SELECT measurement_id FROM ooni_pending)"


def only_measurements(part: IngestBatch) -> bool:
    """A part of OONI measurements (and their verdicts) only: committed on its own, pending."""
    return bool(part.measurements) and not (
        part.entities or part.points or part.carry or part.checkpoint or part.external_events
        or part.entity_columns is not None or part.point_columns is not None
    )


def filter_values(query: MeasurementFilter) -> list[Any]:
    """The values of :data:`MEASUREMENT_FILTER`'s parameters."""
    q = query
    return [q.country, q.country, q.asn, q.asn, q.test_name, q.test_name, q.since, q.since, q.until, q.until]


def write_pending(con: duckdb.DuckDBPyConnection, part: IngestBatch) -> None:
    """A part of measurements and verdicts, its new measurements marked pending."""
    con.register("ooni_arrow", arrow_table(OoniMeasurement, part.measurements))
    con.register("verdicts_arrow", arrow_table(OoniVerdict, part.verdicts))
    try:
        # New: not visible yet (not stored, or stored by a write that is pending or was killed).
        new = (
            "NOT EXISTS (SELECT 1 FROM ooni_measurements m WHERE m.measurement_id = {c}.measurement_id "
            "AND NOT EXISTS (SELECT 1 FROM ooni_pending p WHERE p.measurement_id = m.measurement_id))"
        )
        con.execute(
            "INSERT INTO ooni_pending SELECT DISTINCT ?, measurement_id FROM ooni_arrow a WHERE "
            + new.format(c="a"),
            [part.source.sha256],
        )
        con.execute(
            "INSERT INTO ooni_verdicts SELECT * FROM verdicts_arrow v WHERE "
            + new.format(c="v")
            + " ON CONFLICT DO NOTHING"
        )
        con.execute("INSERT INTO ooni_measurements SELECT * FROM ooni_arrow ON CONFLICT DO NOTHING")
    finally:
        con.unregister("ooni_arrow")
        con.unregister("verdicts_arrow")


def discard_pending(con: duckdb.DuckDBPyConnection, sha: str) -> None:
    """Remove what a failed write committed (best effort: what is left stays invisible)."""
    try:
        con.begin()
        for table in ("ooni_verdicts", "ooni_measurements"):
            con.execute(
                f"DELETE FROM {table} WHERE measurement_id IN "
                "(SELECT measurement_id FROM ooni_pending WHERE sha256 = ?)",
                [sha],
            )
        con.execute("DELETE FROM ooni_pending WHERE sha256 = ?", [sha])
        con.commit()
    except duckdb.Error:
        con.rollback()


def measurement_page(con: duckdb.DuckDBPyConnection, where: str, values: list[Any]) -> list[OoniMeasurement]:
    """One page of measurements: the ids picked from the narrow columns (``where``, then
    ``LIMIT``: the last value), and only theirs read whole (raw JSON: kilobytes each)."""
    rows = con.execute(
        "SELECT * FROM ooni_measurements WHERE measurement_id IN (SELECT measurement_id FROM "
        f"ooni_measurements m WHERE {where} ORDER BY measurement_start, measurement_id LIMIT ?) "
        "ORDER BY measurement_start, measurement_id",
        values,
    ).fetchall()
    return [OoniMeasurement(*row) for row in rows]
