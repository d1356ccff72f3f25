"""The ingest pipeline: file -> reader -> one atomic write to the store.

A file is identified by the SHA-256 of its bytes. Its data and its ``sources`` row are written
in one transaction, so an ingest killed half-way leaves no trace and simply runs again, and
re-ingesting a file that is already stored (under any name) adds nothing.

What a reader gave is checked (:func:`check_parsed`) and made into the store's batch by
:func:`make_batch`, the one way every file goes in (the live sources' runner,
:mod:`lightsout.sources.pump`, makes its batches with it too). MRT files (here, in the parallel
ingest's workers, :mod:`lightsout.ingest_parallel`, from the archive follower,
:mod:`lightsout.sources.mrt_archive`, and RIS Live's RIB sync) are read with their points as
columns (``read_mrt(columns=True)``) and written as Arrow columns, never as one object per point.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from lightsout.errors import InputError
from lightsout.gcpause import gc_paused
from lightsout.model import Checkpoint, IngestReport, OoniVerdict, SourceFile
from lightsout.sources import Parsed, Progress, no_progress
from lightsout.sources.bounds import clean_records, drop_bad_columns, drop_bad_points, max_points
from lightsout.store import IngestBatch, Store


class InputFormat(enum.StrEnum):
    AUTO = "auto"
    CLOUDFLARE_RADAR = "cloudflare-radar"
    IODA = "ioda"
    MONASH = "monash"
    MRT = "mrt"
    OONI = "ooni"


_MAGIC = {b"\x1f\x8b": "gzip", b"BZ": "bzip2"}
# IODA API v2 envelopes (``type`` is the first member of every response) and the dashboard export.
_IODA_JSON = re.compile(rb'^\s*\{\s*"type"\s*:\s*"(signals|outages\.events)"')
# The same envelope with its keys sorted (jq -S): IODA's copyright line comes first.
_IODA_JSON_SORTED = re.compile(rb'^\s*\{\s*"copyright"\s*:\s*"[^"]*Georgia Tech Research Corporation')
# A Cloudflare API envelope holding outage annotations.
_RADAR_JSON = re.compile(rb'^\s*\{\s*"(success|errors|result)".{0,300}?"annotations"', re.DOTALL)
_IODA_CSV = re.compile(rb'^(\xef\xbb\xbf)?"?Time \(UTC\)"?,')
_MRT_TYPES = frozenset({5, 12, 13, 16, 17})  # BGP, TABLE_DUMP(_V2), BGP4MP(_ET): RFC 6396


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_input_file(path: Path) -> None:
    """Raise a one-line :class:`InputError` for anything that is not a readable, non-empty file."""
    if not path.exists():
        raise InputError(str(path), "", "no such file")
    if path.is_dir():
        raise InputError(str(path), "", "is a directory; give the files inside it")
    if path.stat().st_size == 0:
        raise InputError(str(path), "byte 0", "empty file")


def guess_format(path: Path) -> InputFormat:
    name = path.name.lower()
    with path.open("rb") as handle:
        start = handle.read(512)
    if _IODA_JSON.match(start) or _IODA_JSON_SORTED.match(start) or _IODA_CSV.match(start):
        return InputFormat.IODA
    if _RADAR_JSON.match(start):
        return InputFormat.CLOUDFLARE_RADAR
    if name.endswith(".csv"):
        return InputFormat.MONASH
    if name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz", ".pretty")):
        return InputFormat.OONI
    with path.open("rb") as handle:
        head = handle.read(16)
    if (
        head[:2] in _MAGIC
        or name.endswith((".mrt", ".gz", ".bz2"))
        or name.startswith(("updates.", "bview.", "rib."))
    ):
        return InputFormat.MRT
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return InputFormat.OONI
    if len(head) >= 12 and int.from_bytes(head[4:6], "big") in _MRT_TYPES:  # an uncompressed MRT header
        return InputFormat.MRT
    raise InputError(
        str(path), "byte 0", "cannot tell the format; pass --format ioda|cloudflare-radar|monash|mrt|ooni"
    )


def guess_format_or_none(path: Path) -> InputFormat | None:
    """The format of a readable, non-empty file, or None (the caller reports the problem later)."""
    try:
        check_input_file(path)
        return guess_format(path)
    except (InputError, OSError):
        return None


def _reader(fmt: InputFormat) -> Callable[[Path, Progress], Parsed]:
    """The reader of a format, imported on first use (the MRT library is slow to load)."""
    module = importlib.import_module(f"lightsout.sources.{fmt.value}")
    reader: Callable[[Path, Progress], Parsed] = getattr(module, f"read_{fmt.value}")
    return reader


def ingest_file(
    store: Store,
    path: Path,
    fmt: InputFormat = InputFormat.AUTO,
    progress: Progress = no_progress,
    entity: str | None = None,
) -> IngestReport:
    """Ingest one file. ``entity`` names the entity of a file that does not say it (an IODA
    dashboard export renamed by the user)."""
    check_input_file(path)
    if fmt == InputFormat.AUTO:
        fmt = guess_format(path)
    digest = sha256_of(path)
    report = IngestReport(path=str(path), format=fmt.value, sha256=digest)
    if store.has_source(digest):
        report.already_ingested = True
        return report
    if fmt == InputFormat.MRT:
        return _ingest_mrt(store, path, digest, report, progress)
    if fmt == InputFormat.IODA:
        from lightsout.sources.ioda import read_ioda

        parsed = read_ioda(path, progress, entity=entity)
    elif fmt == InputFormat.CLOUDFLARE_RADAR:
        from lightsout.sources.cloudflare_radar import read_cloudflare_radar

        parsed = read_cloudflare_radar(path, progress)
    elif fmt == InputFormat.OONI:
        return _ingest_ooni(store, path, digest, report, progress)
    else:
        parsed = _reader(fmt)(path, progress)
    return _write(store, path, digest, parsed, report)


def _ingest_mrt(
    store: Store, path: Path, digest: str, report: IngestReport, progress: Progress
) -> IngestReport:
    """An MRT file read (its points as columns) and written, Python's cyclic garbage collector
    paused throughout as :func:`~lightsout.sources.mrt.read_mrt` pauses it for the read: the
    read's ~50k AS entities and its tables, made while it was paused, were walked by the first
    collections after it (~0.06-0.13 CPU s of a full table's ingest; nothing they hold is cyclic)."""
    from lightsout.sources.mrt import read_mrt

    with gc_paused():
        # BGP update files continue the routing tables of the collector's previous file (kept in
        # memory for the next file of the collector ingested in this process: hand_over).
        parsed = read_mrt(path, progress, load_carry=store.load_carry, columns=True, hand_over=True)
        return _write(store, path, digest, parsed, report)


def _ingest_ooni(
    store: Store, path: Path, digest: str, report: IngestReport, progress: Progress
) -> IngestReport:
    """An OONI file streamed (lightsout.sources.ooni.OoniStream): each chunk of measurements is
    judged (lightsout.apps.stored) and written with its verdicts as it is read, all of it in one
    atomic write (Store.write_parts) that the file's source record closes."""
    from lightsout.apps.stored import judge_all
    from lightsout.sources.ooni import OoniStream

    stream = OoniStream(path, progress)
    provisional = SourceFile(digest, str(path.resolve()), "ooni-json", datetime.now(UTC), 0, 0, 0)
    written = 0
    final: Parsed | None = None

    def parts() -> Iterator[IngestBatch]:
        nonlocal written, final
        for chunk in stream:
            written += len(chunk)
            yield IngestBatch(provisional, measurements=chunk, verdicts=judge_all(chunk))
        parsed = check_parsed(stream.finish(), path)
        final = parsed
        yield IngestBatch(source_record(path, digest, parsed), parsed.entities)

    store.write_parts(parts())
    if final is None:  # stored meanwhile by another writer: write_parts added nothing
        report.already_ingested = True
        return report
    return fill_report(report, final, written)


def _write(
    store: Store, path: Path, digest: str, parsed: Parsed, report: IngestReport | None = None
) -> IngestReport:
    """Check what a reader made of a file and write it with its source record, atomically."""
    if report is None:
        report = IngestReport(path=str(path), format=parsed.format, sha256=digest)
    parsed = check_parsed(parsed, path)
    store.write_batch(make_batch(source_record(path, digest, parsed), parsed))
    return fill_report(report, parsed, len(parsed.measurements))


def make_batch(
    source: SourceFile,
    parsed: Parsed,
    checkpoint: Checkpoint | None = None,
    verdicts: list[OoniVerdict] | None = None,
) -> IngestBatch:
    """What a checked :class:`Parsed` puts in the store, with its source record (and a live
    source's checkpoint and verdicts). Points a reader gave as columns (``Parsed.point_columns``:
    every MRT read) go as Arrow columns, and the file's entities with them
    (:func:`lightsout.store.schema.columns_table`, :func:`~lightsout.store.schema.entity_columns`:
    the tables ``arrow_table`` makes of the rows, built from buffers): no object per point, and no
    ``pa.array``, whose first call imports pandas. Both backends store either form alike."""
    batch = IngestBatch(
        source,
        parsed.entities,
        parsed.points,
        parsed.measurements,
        parsed.carry,
        checkpoint=checkpoint,
        external_events=parsed.external_events,
        verdicts=verdicts or [],
    )
    if parsed.point_columns is not None:
        from lightsout.store.schema import columns_table, entity_columns

        batch.point_columns = columns_table(parsed.point_columns)
        batch.entity_columns, batch.entities = entity_columns(parsed.entities), []
    return batch


def check_parsed(parsed: Parsed, path: Path) -> Parsed:
    """The last line of defence, whatever the reader: no infinity, no bin before 1990 or in the
    future, no entity id the API cannot serve (lightsout.sources.bounds)."""
    parsed.points, dropped = drop_bad_points(parsed.points, str(path))
    parsed.skipped.extend(dropped)
    if parsed.point_columns is not None:
        parsed.point_columns, dropped = drop_bad_columns(parsed.point_columns, str(path))
        parsed.skipped.extend(dropped)
    points = point_count(parsed)
    parsed.entities, dropped, cleaned = clean_records(parsed.entities, str(path))
    parsed.skipped.extend(dropped)
    parsed.external_events, dropped, cleaned_events = clean_records(parsed.external_events, str(path))
    parsed.skipped.extend(dropped)
    if cleaned or cleaned_events:
        parsed.notes.append(
            f"{cleaned + cleaned_events:,} name(s) or description(s) with control characters, lone "
            "surrogates or too many characters: those characters replaced by U+FFFD or cut"
        )
    if points > max_points():
        raise InputError(
            str(path),
            "",
            f"{points:,} signal points exceed the limit of {max_points():,} per file "
            "(LIGHTSOUT_MAX_POINTS); split the file",
        )
    return parsed


def point_count(parsed: Parsed) -> int:
    """The points a reader gave, as objects or as columns."""
    return len(parsed.points) + (len(parsed.point_columns) if parsed.point_columns is not None else 0)


def source_record(path: Path, digest: str, parsed: Parsed) -> SourceFile:
    return SourceFile(
        sha256=digest,
        path=str(path.resolve()),
        format=parsed.format,
        ingested_at=datetime.now(UTC),
        records_read=parsed.records_read,
        records_skipped=len(parsed.skipped) + parsed.skipped_unlisted,
        points_written=point_count(parsed),
    )


def fill_report(report: IngestReport, parsed: Parsed, measurements: int) -> IngestReport:
    report.format = parsed.format
    report.records_read = parsed.records_read
    report.points_written = point_count(parsed)
    report.measurements_written = measurements
    report.entities_written = len(parsed.entities)
    report.external_events_written = len(parsed.external_events)
    report.skipped = parsed.skipped
    report.notes = parsed.notes
    return report
