"""Reader of OONI measurements (the OONI data format, ooni/spec ``data-formats/df-000-base.md``).

Ingest only: every measurement is kept raw (``raw_json``) with the few fields needed to list it
(test, probe country and network, start time, input). Judging what a measurement says about
blocking is a separate stage.

Accepted layouts, told apart by content rather than by file name:

* one measurement as a JSON document, compact or pretty-printed (``report1.json.pretty``);
* a JSON array of measurements;
* JSONL: one measurement per line, blank lines ignored (OONI's own ``*.jsonl.gz`` dumps);
* any of these gzip-compressed (recognised by the gzip magic bytes).

A record is a measurement when it is a JSON object with a string ``test_name`` and a
``test_keys`` member (both required by the base data format). Test names Lightsout does not know
are kept. ``test_keys`` is what tells a raw measurement from the look-alikes OONI publishes
beside them: rows of its fastpath table (``detector_query_*.json``: ``test_name``, ``probe_cc``
and start time but no ``test_keys`` nor ``probe_asn``), blocking fingerprints
(``fingerprints_*.json``) and the minipipeline's observations and analysis. A file holding only
such records raises :class:`InputError` ("not an OONI measurement"); in a file that also holds
measurements each is a :class:`Skip`.

``measurement_id`` is ``measurement_uid`` when the record has one (of the shared real data, only
three 2017-2019 web_connectivity records do), else the SHA-256 of the record's canonical JSON (keys sorted, no
spaces, ASCII escapes, ``1.0`` written ``1``), so the same measurement read from a compact and a
pretty-printed file gets the same id; a repeated id within one file is skipped as a duplicate.

**Streaming.** :class:`OoniStream` reads a file record by record and hands the measurements out in
chunks (at most ``CHUNK_MEASUREMENTS`` or about ``CHUNK_BYTES`` of raw JSON), so memory stays
bounded whatever the size of the file (an OONI day file holds hundreds of thousands of
measurements): one JSONL line or one JSON document at a time (``LIGHTSOUT_MAX_DOCUMENT_BYTES``),
one chunk, the file's entities (one per country and network seen), the first ``MAX_LISTED_SKIPS``
skips with their positions (the rest counted by reason), and, for the duplicate check, a 16-byte
digest of each of the first ``MAX_TRACKED_IDS`` ids (about 10 MB; past them a repeat within the
file is no longer reported, and the store still keeps one copy). :func:`read_ooni` collects the
chunks, for callers that want the whole file in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightsout.attribution.entities import make_asn_network, make_country
from lightsout.attribution.places import country_alpha2
from lightsout.errors import InputError
from lightsout.model import Entity, OoniMeasurement, Skip
from lightsout.sources import Parsed, Progress, no_progress
from lightsout.sources.bounds import (
    MAX_NAME_CHARS,
    BoundError,
    check_text,
    check_time,
    decompressed_limit,
    json_too_deep,
    max_decompressed_bytes,
    max_document_bytes,
    text_problem,
    too_large,
)

_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_MAGIC = {b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"(\xb5/\xfd": "zstd", b"PK\x03\x04": "zip"}
_STREAM_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError
_PROGRESS_EVERY = 1 << 18  # bytes between progress reports in line mode
CHUNK_MEASUREMENTS = 1000  # measurements handed out at once by OoniStream
CHUNK_BYTES = 16 << 20  # ... or fewer, when their raw JSON reaches this size
MAX_TRACKED_IDS = 250_000  # ids whose digest is kept for the duplicate check (about 40 B each)
MAX_LISTED_SKIPS = 10_000  # skips listed with their position; the rest are counted by reason
_ASN = re.compile(r"(?:AS)?(\d{1,10})", re.IGNORECASE)
_MAX_ASN = 2**32 - 1
# Country codes OONI uses that ISO 3166-1 does not assign: ZZ is "unknown"; XK (Kosovo) is the
# user-assigned code OONI and MaxMind give Kosovo, so it is kept.
_UNKNOWN_CC = "ZZ"
_EXTRA_CC = frozenset({"XK"})
# Keys of the minipipeline's golden outputs (ooni/probe-cli internal/minipipeline).
_MINIPIPELINE_KEYS = frozenset({"DNSLookupFailures", "DNSLookupSuccesses", "KnownTCPEndpoints",
                                "ControlExpectations", "DNSLookupSuccess", "DNSLookupUnexpectedFailure"})


class _NotJSON(ValueError):
    """A value that cannot be parsed; the message is the skip reason, ``where`` the parser's position."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(reason)
        self.where = where


def read_ooni(path: Path, progress: Progress = no_progress) -> Parsed:
    """Read the OONI measurements of one file (see the module docstring for the layouts)."""
    stream = OoniStream(path, progress)
    measurements = [m for chunk in stream for m in chunk]
    parsed = stream.finish()
    parsed.measurements = measurements
    return parsed


class OoniStream:
    """The measurements of one file, read as a stream (module docstring): iterate once for the
    chunks, then :meth:`finish` for the rest of what was read (counts, skips, entities, notes;
    ``measurements`` left empty). A file that is not OONI data at all raises :class:`InputError`,
    from the constructor, the iteration or :meth:`finish` (when no record was a measurement)."""

    def __init__(self, path: Path, progress: Progress = no_progress) -> None:
        name = str(path)
        if not path.exists():
            raise InputError(name, "", "no such file")
        if path.is_dir():
            raise InputError(name, "", "is a directory; give the files inside it")
        self.path = path
        self.total = path.stat().st_size
        if self.total == 0:
            raise InputError(name, "byte 0", "empty file")
        self.progress = progress
        self._reader: _Reader | None = None

    def __iter__(self) -> Iterator[list[OoniMeasurement]]:
        name, total = str(self.path), self.total
        with self.path.open("rb") as raw:
            head = raw.read(8)
            raw.seek(0)
            for magic, kind in _OTHER_MAGIC.items():
                if head.startswith(magic):
                    raise InputError(name, "byte 0", f"{kind}-compressed; decompress it first (gzip is read)")
            compressed = head.startswith(_GZIP_MAGIC)
            stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            reader = self._reader = _Reader(name, compressed)
            limit = decompressed_limit(total) if compressed else max_decompressed_bytes()
            yield from reader.read(_Lines(stream, name, limit), raw, total, self.progress)
            if reader.pending:
                yield reader.take()
        self.progress(total, total)

    def finish(self) -> Parsed:
        if self._reader is None:
            raise RuntimeError("OoniStream.finish() before the stream was read")
        return self._reader.finish()


@dataclass(slots=True)
class _Reader:
    path: str
    compressed: bool
    parsed: Parsed = field(default_factory=lambda: Parsed(format="ooni-json"))
    pending: list[OoniMeasurement] = field(default_factory=list)  # the chunk being filled
    pending_bytes: int = 0
    pending_ids: set[str] = field(default_factory=set)
    seen: set[bytes] = field(default_factory=set)  # digests of the ids kept so far (MAX_TRACKED_IDS)
    kept: int = 0  # measurements kept in all
    tests: Counter[str] = field(default_factory=Counter)
    unlisted: Counter[str] = field(default_factory=Counter)  # skips past MAX_LISTED_SKIPS, by reason
    asn_countries: dict[int, set[str]] = field(default_factory=dict)
    asn_names: dict[int, Counter[str]] = field(default_factory=dict)  # probe_network_name seen per ASN
    countries: set[str] = field(default_factory=set)
    skip_reasons: Counter[str] = field(default_factory=Counter)  # of records that are not measurements
    first_skip: Skip | None = None
    no_cc: int = 0
    no_asn: int = 0
    no_start: int = 0
    bad_network_names: int = 0

    # -- layouts -------------------------------------------------------------------------------

    def read(
        self, stream: _Lines, raw: io.BufferedIOBase, total: int, progress: Progress
    ) -> Iterator[list[OoniMeasurement]]:
        """Decide between one JSON document and JSONL from the first non-blank line; the
        measurements in chunks."""
        line_no = 0
        first: bytes | None = b""
        try:
            for line in stream:
                line_no += 1
                if line is None or line.strip():
                    first = line
                    break
        except _STREAM_ERRORS as exc:
            raise InputError(self.path, f"line {line_no + 1}", self._unreadable(exc)) from None
        if first is None:
            raise InputError(self.path, f"line {line_no}", stream.overlong_reason())
        if not first:
            raise InputError(self.path, "line 1", "empty file (only blank lines)")
        try:
            _loads(first)
        except _NotJSON:
            # Not a complete value on its own line: a pretty-printed document, or JSONL whose
            # first line is damaged. Try the document first.
            yield from self._read_document(stream, first, line_no)
        else:
            yield from self._read_lines(_chain(first, line_no, stream), raw, total, progress)

    def _read_document(
        self, stream: _Lines, first: bytes, first_line: int
    ) -> Iterator[list[OoniMeasurement]]:
        try:
            rest = stream.read_up_to(stream.line_limit - len(first))
        except _STREAM_ERRORS as exc:
            raise InputError(self.path, f"line {first_line}", self._unreadable(exc)) from None
        if rest is None:
            # Larger than one document may be: JSONL whose first line is damaged, or too big.
            yield from self._read_lines(_chain(first, first_line, stream))
            if self.kept:
                return
            reason = f"not valid JSON, or {stream.overlong_reason()}"
            raise InputError(self.path, f"line {first_line}", reason)
        blob = b"\n" * (first_line - 1) + first + rest
        try:
            value = _loads(blob)
        except _NotJSON as exc:
            # JSONL with a damaged line keeps what the other lines hold; anything else is not JSON.
            yield from self._read_lines(_chain(first, first_line, iter(rest.splitlines(keepends=True))))
            if self.kept:
                return
            raise InputError(self.path, exc.where or f"line {first_line}", str(exc)) from None
        self._set_format("json")
        if isinstance(value, list):
            for index, item in enumerate(value, start=1):
                self._record(item, f"record {index}")
                if self.full():
                    yield self.take()
        else:
            self._record(value, "record 1")

    def _read_lines(
        self, lines: Iterator[tuple[int, bytes | None]], raw: io.BufferedIOBase | None = None, total: int = 0,
        progress: Progress = no_progress,
    ) -> Iterator[list[OoniMeasurement]]:
        line_no = 0
        reported = 0
        values = 0
        try:
            for line_no, line in lines:
                position = f"line {line_no}"
                if line is None:
                    values += 1
                    self.parsed.records_read += 1
                    self._skip(position, f"{_OVERLONG_LINE} ({max_document_bytes():,} bytes, "
                                         "LIGHTSOUT_MAX_DOCUMENT_BYTES)")
                    continue
                if not line.strip():
                    continue
                values += 1
                try:
                    value = _loads(line.rstrip())
                except _NotJSON as exc:
                    self.parsed.records_read += 1
                    self._skip(position, str(exc))
                    continue
                if isinstance(value, list):  # a whole array on one line
                    for index, item in enumerate(value, start=1):
                        self._record(item, f"{position}, record {index}")
                else:
                    self._record(value, position)
                if self.full():
                    yield self.take()
                if raw is not None:
                    done = raw.tell()
                    if done - reported >= _PROGRESS_EVERY:
                        progress(min(done, total), total)
                        reported = done
        except _STREAM_ERRORS as exc:
            # A truncated or corrupt gzip stream: what came before is good; say where it stopped.
            self.parsed.records_read += 1
            self._skip(f"line {line_no + 1}", f"{self._unreadable(exc)}; the rest of the file is lost")
        self._set_format("json" if values == 1 else "jsonl")  # one line: a compact JSON document

    def _unreadable(self, exc: BaseException) -> str:
        return f"damaged gzip stream ({exc})" if self.compressed else f"cannot read ({exc})"

    def _set_format(self, kind: str) -> None:
        self.parsed.format = f"ooni-{kind}" + ("-gzip" if self.compressed else "")

    # -- records -------------------------------------------------------------------------------

    def _record(self, value: object, position: str) -> None:
        self.parsed.records_read += 1
        reason = _not_a_measurement(value)
        if reason is not None or not isinstance(value, dict):
            self._skip(position, reason or "not an object")
            return
        if json_too_deep(value):
            self._skip(position, "nested more than 64 levels deep (a measurement nests about 10)")
            return
        try:
            measurement = _measurement(value)
        except BoundError as exc:
            self._skip(position, str(exc))
            return
        if self._repeated(measurement.measurement_id):
            self._list(Skip(self.path, position, "duplicate measurement (same id as an earlier record)"))
            return
        self.pending.append(measurement)
        self.pending_bytes += len(measurement.raw_json)
        self.kept += 1
        self.tests[measurement.test_name] += 1
        if measurement.probe_cc is None:
            self.no_cc += 1
        else:
            self.countries.add(measurement.probe_cc)
        if measurement.probe_asn is None:
            self.no_asn += 1
        else:
            ccs = self.asn_countries.setdefault(measurement.probe_asn, set())
            if measurement.probe_cc is not None:
                ccs.add(measurement.probe_cc)
            network = value.get("probe_network_name")
            if isinstance(network, str) and text_problem(network, MAX_NAME_CHARS) is not None:
                self.bad_network_names += 1
            elif isinstance(network, str) and network.strip():
                self.asn_names.setdefault(measurement.probe_asn, Counter())[" ".join(network.split())] += 1
        if measurement.measurement_start is None:
            self.no_start += 1

    def _repeated(self, measurement_id: str) -> bool:
        """Whether the id was kept before in this file (module docstring: within bounds)."""
        if measurement_id in self.pending_ids:
            return True
        key = hashlib.blake2b(measurement_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if key in self.seen:
            return True
        if len(self.seen) < MAX_TRACKED_IDS:
            self.seen.add(key)
        self.pending_ids.add(measurement_id)
        return False

    def full(self) -> bool:
        return len(self.pending) >= CHUNK_MEASUREMENTS or self.pending_bytes >= CHUNK_BYTES

    def take(self) -> list[OoniMeasurement]:
        chunk = self.pending
        self.pending, self.pending_bytes, self.pending_ids = [], 0, set()
        return chunk

    def _skip(self, position: str, reason: str) -> None:
        skip = Skip(self.path, position, reason)
        self._list(skip)
        self.skip_reasons[reason] += 1
        if self.first_skip is None:
            self.first_skip = skip

    def _list(self, skip: Skip) -> None:
        if len(self.parsed.skipped) < MAX_LISTED_SKIPS:
            self.parsed.skipped.append(skip)
        else:
            self.unlisted[skip.reason] += 1

    # -- result --------------------------------------------------------------------------------

    def finish(self) -> Parsed:
        parsed = self.parsed
        if not self.kept:
            first = self.first_skip
            if first is None:  # e.g. an empty JSON array
                raise InputError(self.path, "record 1", "not an OONI measurement: no records in the file")
            reason, count = self.skip_reasons.most_common(1)[0]
            records = "1 record" if parsed.records_read == 1 else f"{parsed.records_read} records"
            raise InputError(
                self.path, first.position,
                f"not an OONI measurement: {records}, none a measurement ({count} x {reason})",
            )
        entities: list[Entity] = [make_country(cc) for cc in sorted(self.countries)]
        for asn in sorted(self.asn_countries):
            ccs = self.asn_countries[asn]
            # A network seen in several countries belongs to none of them (see Entity).
            names = self.asn_names.get(asn)
            name = names.most_common(1)[0][0] if names else None
            entities.append(make_asn_network(
                asn, next(iter(ccs)) if len(ccs) == 1 else None, name, place=len(ccs) == 1
            ))
        parsed.entities = entities
        parsed.notes.append(
            "measurements by test: " + ", ".join(f"{name} {n}" for name, n in sorted(self.tests.items()))
        )
        if self.unlisted:
            parsed.skipped_unlisted = sum(self.unlisted.values())
            reasons = "; ".join(f"{n:,} x {reason}" for reason, n in self.unlisted.most_common(5))
            parsed.notes.append(
                f"{parsed.skipped_unlisted:,} more record(s) skipped past the first {MAX_LISTED_SKIPS:,} "
                f"listed: {reasons}"
            )
        for count, what in ((self.no_cc, "no known probe_cc"), (self.no_asn, "no probe_asn"),
                            (self.no_start, "no readable measurement_start_time"),
                            (self.bad_network_names, "a probe_network_name left out (control characters, "
                             f"lone surrogates or over {MAX_NAME_CHARS} characters)")):
            if count:
                parsed.notes.append(f"{count} measurement(s) with {what}")
        return parsed


def _chain(
    first: bytes, first_line: int, rest: Iterable[bytes | None]
) -> Iterator[tuple[int, bytes | None]]:
    """Number the lines again, from the first non-blank one already read."""
    yield first_line, first
    yield from enumerate(rest, start=first_line + 1)


def _reject_constant(name: str) -> Any:
    raise _NotJSON(f"not valid JSON: {name} is not a JSON value")


def _loads(data: bytes) -> Any:
    """Parse JSON (UTF-8, BOM allowed); NaN and Infinity are refused, as JSON does."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except _NotJSON:
        raise
    except json.JSONDecodeError as exc:
        raise _NotJSON(f"not valid JSON: {exc.msg}", f"line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise _NotJSON("not valid JSON: not UTF-8 text") from None
    except RecursionError:
        raise _NotJSON("not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise _NotJSON(f"not valid JSON: {exc}") from None


def _not_a_measurement(value: object) -> str | None:
    """Why a JSON value is not an OONI measurement, or None when it is one."""
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
            type(value), "null"
        )
        return f"a JSON {kind}, not an object"
    if "test_name" not in value:
        if {"pattern", "location_found"} <= value.keys():
            return "a blocking fingerprint, not a measurement"
        if _MINIPIPELINE_KEYS & value.keys():
            return "minipipeline observations or analysis, not a measurement"
        return "no test_name: not an OONI measurement"
    if not isinstance(value["test_name"], str) or not value["test_name"].strip():
        return "test_name is not a non-empty string"
    if "test_keys" not in value:
        return "no test_keys: a summary row (e.g. OONI API or fastpath table), not a raw measurement"
    return None


def _measurement(record: dict[str, Any]) -> OoniMeasurement:
    """The record's listed fields; :class:`BoundError` when one cannot be stored and shown."""
    uid = record.get("measurement_uid")
    if isinstance(uid, str) and uid.strip():
        measurement_id = check_text(uid.strip(), "measurement_uid", 200)
    else:
        measurement_id = _record_sha256(record)
    version = record.get("test_version")
    if isinstance(version, bool) or not isinstance(version, str | int | float):
        version = None
    start = measurement_start(record.get("measurement_start_time"))
    text_input = _input(record.get("input"))
    return OoniMeasurement(
        measurement_id=measurement_id,
        test_name=check_text(record["test_name"], "test_name", 100),
        test_version=None if version is None else check_text(str(version), "test_version", 100),
        probe_cc=probe_cc(record.get("probe_cc")),
        probe_asn=probe_asn(record.get("probe_asn")),
        measurement_start=None if start is None else check_time(start, "measurement_start_time"),
        input=None if text_input is None else check_text(text_input, "input"),
        raw_json=_compact(record),
    )


def _record_sha256(record: dict[str, Any]) -> str:
    canonical = json.dumps(_canonical(record), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _canonical(value: Any) -> Any:
    """The value with numbers compared as JSON numbers: 1.0 is written 1 (as RFC 8785 does).

    OONI's pretty-printed copies (``report1.json.pretty``) write ``1.0`` as ``1``.
    """
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _compact(value: Any) -> str:
    """Compact JSON, UTF-8 where it can be; ASCII escapes when the value holds lone surrogates."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text


def probe_cc(value: object) -> str | None:
    """ISO 3166-1 alpha-2 (upper case) of the probe, None for OONI's 'ZZ' and anything unknown."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    if len(code) != 2 or code == _UNKNOWN_CC:
        return None
    if code in _EXTRA_CC or country_alpha2(code) == code:
        return code
    return None


def probe_asn(value: object) -> int | None:
    """AS number from 'AS1234' (or 1234); None for OONI's 'AS0' (unknown) and anything invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (match := _ASN.fullmatch(value.strip())):
        number = int(match.group(1))
    else:
        return None
    return number if 0 < number <= _MAX_ASN else None


def measurement_start(value: object) -> datetime | None:
    """measurement_start_time ('YYYY-MM-DD HH:MM:SS', UTC per the data format) as aware UTC."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        pass
    try:  # ISO 8601 variants ('2023-01-01T00:00:00Z') written by other tools
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _input(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _compact(value)


_OVERLONG_LINE = "a line longer than one document may be"


class _Lines:
    """The lines of a (decompressed) stream, within bounds: a line longer than
    :func:`~lightsout.sources.bounds.max_document_bytes` is read past and yielded as ``None``, and
    more than ``cap`` bytes in all raises
    :class:`InputError` (a gzip bomb stops there, not when memory runs out)."""

    def __init__(self, stream: io.BufferedIOBase, path: str, cap: int) -> None:
        self.stream = stream
        self.path = path
        self.line_limit = max_document_bytes()
        self.cap = cap
        self.total = 0
        self._pending = io.BytesIO()  # bytes read ahead by read_up_to, read again as lines

    def overlong_reason(self) -> str:
        return f"{_OVERLONG_LINE} ({self.line_limit:,} bytes, LIGHTSOUT_MAX_DOCUMENT_BYTES)"

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.cap:
            where = f"byte {self.total:,} (decompressed)"
            raise InputError(self.path, where, too_large("the file", self.cap))
        return data

    def _readline(self, limit: int) -> bytes:
        """One line of at most ``limit`` bytes, read in pieces of at most 1 MiB, each counted."""
        pieces = [self._pending.readline(limit)]
        size = len(pieces[0])
        while not pieces[-1].endswith(b"\n") and size < limit:
            piece = self._count(self.stream.readline(min(limit - size, 1 << 20)))
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        return b"".join(pieces)

    def __iter__(self) -> Iterator[bytes | None]:
        while True:
            line = self._readline(self.line_limit + 1)
            if not line:
                return
            if len(line) <= self.line_limit:
                yield line
                continue
            while line and not line.endswith(b"\n"):  # read past the rest of the long line
                line = self._readline(1 << 20)
            yield None

    def read_up_to(self, size: int) -> bytes | None:
        """The rest of the stream when it holds at most ``size`` bytes; else None, and the bytes
        read so far are read again by the next iteration."""
        ahead = self._pending.read()
        data = ahead + self._count(self.stream.read(max(0, size - len(ahead)) + 1))
        if len(data) <= size:
            return data
        self._pending = io.BytesIO(data)
        return None
