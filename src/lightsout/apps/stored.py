"""Verdicts judged once, at ingest, and stored beside their measurements.

Judging a measurement (:func:`lightsout.apps.verdict.analyse`) takes milliseconds; the blocking
views (``lightsout blocking``, ``lightsout events``, the API, the dashboard) read every verdict
of a country each time. So the ingest judges each new measurement once and stores the verdict
(:class:`lightsout.model.OoniVerdict`, table ``ooni_verdicts``), and readers read verdicts.

**The analysis version.** A stored verdict names the analysis that judged it:
:func:`analysis_version`, a digest of the source of every module of the analysis and of the
fingerprint lists it uses. Readers take only verdicts of the running analysis; a measurement
without one (ingested before verdicts were stored, or judged by an analysis that has changed
since) is judged on read, as before, so a reader is never wrong, only slower.
:func:`rederive` (``lightsout blocking --reanalyse``) judges those again and stores the new verdicts.
Any edit of the analysis, even a comment, makes a new version: a needless re-derivation is cheap
beside a stale verdict published as true.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from importlib import resources
from typing import TypeVar

from lightsout.apps.finding import Method, Status
from lightsout.apps.fingerprints import FingerprintDB
from lightsout.apps.observations import SUPPORTED_TESTS
from lightsout.apps.verdict import Verdict, analyse
from lightsout.model import OoniMeasurement, OoniVerdict
from lightsout.store.base import MeasurementFilter, Store

PAGE_SIZE = 1000  # measurements per page (raw JSON: kilobytes each)
VERDICT_PAGE_SIZE = 20_000  # stored verdicts per page (a few hundred bytes each: fewer, larger pages)
ANALYSIS_SCHEME = 1  # bump when the stored form of a verdict changes meaning
# The modules of lightsout.apps that do not decide a verdict; every other one does.
_NOT_ANALYSIS = frozenset({"__init__.py", "aggregate.py", "stored.py"})
_ANALYSIS_DATA = ("fingerprints_dns.json", "fingerprints_http.json")
Row = TypeVar("Row", OoniMeasurement, OoniVerdict)


@functools.cache
def analysis_version() -> str:
    """``"<scheme>-<16 hex digits>"``: the digest of the analysis's code and data (module docstring)."""
    package = resources.files("lightsout.apps")
    digest = hashlib.sha256()
    modules = {item.name: item for item in package.iterdir() if item.name.endswith(".py")}
    for name in sorted(modules.keys() - _NOT_ANALYSIS):
        digest.update(name.encode() + b"\0" + modules[name].read_bytes() + b"\0")
    for name in _ANALYSIS_DATA:
        digest.update(name.encode() + b"\0" + (package / "data" / name).read_bytes() + b"\0")
    return f"{ANALYSIS_SCHEME}-{digest.hexdigest()[:16]}"


def to_stored(verdict: Verdict, analysis: str | None = None) -> OoniVerdict:
    return OoniVerdict(
        measurement_id=verdict.measurement_id,
        analysis=analysis or analysis_version(),
        test_name=verdict.test_name,
        target=verdict.target,
        status=verdict.status.value,
        method=None if verdict.method is None else verdict.method.value,
        reason=verdict.reason,
        probe_cc=verdict.probe_cc,
        probe_asn=verdict.probe_asn,
        measurement_start=verdict.start,
        fingerprint=verdict.fingerprint,
        report_id=verdict.report_id,
        measurement_uid=verdict.measurement_uid,
    )


def from_stored(row: OoniVerdict) -> Verdict:
    return Verdict(
        measurement_id=row.measurement_id,
        test_name=row.test_name,
        target=row.target,
        status=Status(row.status),
        method=None if row.method is None else Method(row.method),
        reason=row.reason,
        probe_cc=row.probe_cc,
        probe_asn=row.probe_asn,
        start=row.measurement_start,
        fingerprint=row.fingerprint,
        report_id=row.report_id,
        measurement_uid=row.measurement_uid,
    )


def judge_all(measurements: Iterable[OoniMeasurement]) -> list[OoniVerdict]:
    """The stored form of the verdict on each measurement, by the running analysis."""
    analysis = analysis_version()
    return [to_stored(analyse(m), analysis) for m in measurements]


def pages(fetch: Callable[[MeasurementFilter], list[Row]], query: MeasurementFilter) -> Iterator[Row]:
    """Every row ``fetch`` returns for ``query`` with a start time, oldest first, page by page.

    ``fetch`` returns pages ordered by start time (then id); the next page starts at the last time
    seen (``since`` is inclusive), skipping the ids already returned at that time. A page made only
    of one instant is widened until the instant is read whole.
    """
    cursor = query.since
    seen: set[str] = set()
    limit = query.limit
    while True:
        rows = fetch(
            MeasurementFilter(query.country, query.asn, query.test_name, cursor, query.until, limit)
        )
        for row in rows:
            if row.measurement_start is not None and row.measurement_id not in seen:
                yield row
        if len(rows) < limit:
            return
        last = rows[-1].measurement_start
        if last is None:  # untimed rows sort last: every timed one has been read
            return
        at_last = {row.measurement_id for row in rows if row.measurement_start == last}
        if last == cursor:
            seen |= at_last
            limit *= 2
            continue
        cursor, seen, limit = last, at_last, query.limit


def stored_verdicts(
    store: Store,
    country: str | None = None,
    asn: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    fingerprints: FingerprintDB | None = None,
) -> Iterator[Verdict]:
    """The verdict on every timed measurement of the analysed tests matching the filter: stored
    verdicts of the running analysis, and the others judged now (module docstring). With
    ``fingerprints`` other than the shipped ones, every measurement is judged now."""
    analysis = analysis_version()
    for test_name in sorted(SUPPORTED_TESTS):
        query = MeasurementFilter(country, asn, test_name, since, until, PAGE_SIZE)
        if fingerprints is not None:
            for measurement in pages(store.measurements, query):
                yield analyse(measurement, fingerprints)
            continue
        wide = MeasurementFilter(country, asn, test_name, since, until, VERDICT_PAGE_SIZE)
        for row in pages(lambda q: store.verdicts(q, analysis), wide):
            yield from_stored(row)
        for measurement in pages(lambda q: store.unjudged(q, analysis), query):
            yield analyse(measurement)


def rederive(store: Store, batch: int = PAGE_SIZE, progress: Callable[[int], None] | None = None) -> int:
    """Judge every stored measurement that has no verdict of the running analysis and store the
    verdicts (``batch`` per transaction); returns how many. Re-running finds nothing left to do."""
    analysis = analysis_version()
    done = 0
    while True:
        # Every pass asks again from the start: what was judged is no longer unjudged.
        rows = store.unjudged(MeasurementFilter(limit=batch), analysis)
        if not rows:
            return done
        store.save_verdicts([to_stored(analyse(m), analysis) for m in rows])
        done += len(rows)
        if progress is not None:
            progress(done)
