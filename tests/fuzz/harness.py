"""One fuzz input through the whole ingest: write it to a file, ingest it into a store, check the
outcome (shared by tests/fuzz/test_fuzz_readers.py and bench/fuzz_readers.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from lightsout.errors import InputError
from lightsout.ingest import InputFormat, ingest_file
from lightsout.sources.bounds import point_problem
from lightsout.store import Store

FORMATS = {"monash": InputFormat.MONASH, "ooni": InputFormat.OONI, "mrt": InputFormat.MRT,
           "ioda": InputFormat.IODA}


def ingest_one(store: Store, reader: str, name: str, data: bytes) -> str:
    """'ingested', 'already' or 'refused: <error>'; any other exception propagates (a crash).
    Checks the one-line error and that every stored point of the file is within bounds."""
    with tempfile.TemporaryDirectory(prefix="lightsout-fuzz-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            report = ingest_file(store, path, FORMATS[reader])
        except InputError as exc:
            message = str(exc)
            assert "\n" not in message and message.startswith(str(path)), message
            return f"refused: {exc.message}"
    if report.already_ingested:
        return "already"
    for skip in report.skipped:
        assert skip.position is not None and skip.reason, skip
    return "ingested"


def stored_points_within_bounds(store: Store) -> None:
    for summary in store.series():
        for point_time, value in zip(*_points(store, summary.key), strict=True):
            assert point_time is not None and value == value, (summary.key, point_time, value)
    for summary in store.series():
        assert summary.first.year >= 1990, summary


def _points(store: Store, key: object) -> tuple[list[float], list[float]]:
    series = store.points(key)  # type: ignore[arg-type]
    return list(series.times_s), list(series.values)


__all__ = ["FORMATS", "ingest_one", "point_problem", "stored_points_within_bounds"]
