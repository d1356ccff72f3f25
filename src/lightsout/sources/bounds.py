"""Bounds every reader applies to what strangers' files may make Lightsout do.

A live observatory reads files written by anyone (an OONI measurement comes from anyone's probe),
so no value in a file may make a reader use unbounded memory or time, or put into the store a
value that later breaks a page, an API answer or a chart. Each bound is one named constant here,
overridable by an environment variable for operators with unusual data:

* ``LIGHTSOUT_MAX_DECOMPRESSED_BYTES`` (default 4 GiB) and ``LIGHTSOUT_MAX_COMPRESSION_RATIO``
  (default 100): a compressed file may expand to at most ratio x its size (but always to 256 MiB)
  and never past the absolute cap. Real data compresses 4-20x; a gzip or bzip2 "bomb" (785 bytes
  of bzip2 that expand to 6.9 GB) stops at the limit with a one-line
  :class:`~lightsout.errors.InputError`, having held at most the limit in memory.
* ``LIGHTSOUT_MAX_DOCUMENT_BYTES`` (default 64 MiB): the largest single JSON document or JSONL
  line (a real OONI measurement is a few kB to a few MB).
* ``LIGHTSOUT_MAX_POINTS`` (default 10 million): signal points one file may produce (a Monash
  file of a year of hourly counties makes well under a million).
* ``MAX_SPAN``: the time one file's series may span when a reader fills gaps (Monash raw replies):
  rows far from the rest of the file are skipped, never filled up to year 9999.

Values that are accepted by Python but meaningless as measurements are skips with a reason (see
:func:`check_time`, :func:`check_name`, :func:`check_text`); :func:`drop_bad_points` is the last
line of defence the ingest pipeline applies to every reader's output.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import os
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from lightsout.model import Entity, ExternalEvent, SignalPoint, Skip
from lightsout.sources.columns import PointColumns

R = TypeVar("R", Entity, ExternalEvent)

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)  # before any dataset Lightsout reads
FUTURE_SLACK = timedelta(days=1)  # clocks and time zones: a bin may start up to a day ahead
MAX_SPAN = timedelta(days=366)
MAX_NAME_CHARS = 200  # entity names (regions, counties, networks)
MAX_TEXT_CHARS = 8192  # other text fields that are stored and listed (OONI input URLs)
MAX_ENTITY_ID_CHARS = 300  # the API's limit on an entity_id parameter
MAX_JSON_DEPTH = 64  # OONI measurements nest about 10 levels
MIN_DECOMPRESSED_LIMIT = 256 << 20


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        return default
    return value if value > 0 else default


def max_decompressed_bytes() -> int:
    return _env_int("LIGHTSOUT_MAX_DECOMPRESSED_BYTES", 4 << 30)


def decompressed_limit(compressed_bytes: int) -> int:
    """The most a compressed file of ``compressed_bytes`` may expand to (see the module docstring)."""
    ratio = _env_int("LIGHTSOUT_MAX_COMPRESSION_RATIO", 100)
    return min(max_decompressed_bytes(), max(MIN_DECOMPRESSED_LIMIT, ratio * compressed_bytes))


def too_large(what: str, limit: int) -> str:
    return (
        f"{what} expands past {limit:,} bytes, the most this file may "
        "(LIGHTSOUT_MAX_COMPRESSION_RATIO x its size, at most LIGHTSOUT_MAX_DECOMPRESSED_BYTES)"
    )


def max_document_bytes() -> int:
    return _env_int("LIGHTSOUT_MAX_DOCUMENT_BYTES", 64 << 20)


def max_points() -> int:
    return _env_int("LIGHTSOUT_MAX_POINTS", 10_000_000)


class BoundError(ValueError):
    """A value outside what Lightsout accepts; the message is the skip reason."""


def latest_allowed(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) + FUTURE_SLACK


def check_time(moment: datetime, what: str, now: datetime | None = None) -> datetime:
    """``moment`` (aware) if it lies between 1990 and a day from now, else :class:`BoundError`."""
    if moment < EARLIEST:
        raise BoundError(f"{what} {moment:%Y-%m-%d %H:%M} is before {EARLIEST:%Y}")
    if moment > latest_allowed(now):
        raise BoundError(f"{what} {moment:%Y-%m-%d %H:%M} is in the future")
    return moment


def epoch_to_utc(seconds: float, what: str) -> datetime:
    """A Unix time in seconds -> aware UTC, refusing what ``datetime`` cannot hold or Lightsout
    cannot mean (see :func:`check_time`)."""
    if not math.isfinite(seconds):
        raise BoundError(f"{what} is not a finite number")
    earliest, latest = EARLIEST.timestamp(), latest_allowed().timestamp()
    if not earliest <= seconds <= latest:
        when = "before 1990" if seconds < earliest else "in the future"
        raise BoundError(f"{what} {seconds:.12g} is {when}")
    return datetime.fromtimestamp(int(seconds), UTC)


def text_problem(text: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    """Why ``text`` cannot be stored and shown as it is, or None: lone surrogates (not Unicode
    text; UTF-8 cannot hold them), NUL and other control characters, more than ``limit`` chars."""
    if len(text) > limit:
        return f"{len(text):,} characters (at most {limit:,})"
    if text.isascii() and text.isprintable():  # the common case, checked in C: no Cc, no surrogate
        return None
    for char in text:
        if "\ud800" <= char <= "\udfff":
            return "a lone surrogate (not valid Unicode)"
        if unicodedata.category(char) == "Cc" and char not in "\t":
            return f"control character U+{ord(char):04X}"
    return None


def check_text(text: object, what: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` if it is a string :func:`text_problem` finds nothing wrong with (values from JSON
    may be anything: a number where a name should be is a :class:`BoundError` too)."""
    if not isinstance(text, str):
        raise BoundError(f"{what} is not text: {type(text).__name__}")
    problem = text_problem(text, limit)
    if problem is not None:
        raise BoundError(f"{what} has {problem}")
    return text


def check_name(text: object, what: str) -> str:
    """An entity name: non-blank text, at most :data:`MAX_NAME_CHARS`, no control characters."""
    if not isinstance(text, str):
        raise BoundError(f"{what} is not text: {type(text).__name__}")
    name = text.strip()
    if not name:
        raise BoundError(f"{what} is empty")
    if not name.strip("./\\ "):
        # "." or ".." would become a path segment of the entity id that URLs normalise away
        raise BoundError(f"{what} {name[:20]!r} is only dots and slashes")
    return check_text(name, what, MAX_NAME_CHARS)


def check_value(value: float, what: str, low: float | None = None, high: float | None = None) -> float:
    """A finite number within ``[low, high]`` (either bound optional)."""
    if not math.isfinite(value):
        raise BoundError(f"{what} is not a finite number")
    if low is not None and value < low:
        raise BoundError(f"{what} {value:g} is below {low:g}")
    if high is not None and value > high:
        raise BoundError(f"{what} {value:g} is above {high:g}")
    return value


def json_too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when a parsed JSON value nests containers more than ``limit`` levels (no recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[dict[Any, Any] | list[Any], int]] = [(value, 1)]  # containers only
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children: Iterable[object] = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def point_problem(point: SignalPoint, now: datetime | None = None) -> str | None:
    """Why a reader's point must not be stored, or None."""
    if not math.isfinite(point.value):
        return f"{point.signal.value} value is not a finite number"
    try:
        check_time(point.bin_start, "bin start", now)
    except BoundError as exc:
        return str(exc)
    if len(point.entity_id) > MAX_ENTITY_ID_CHARS:
        return f"entity id of {len(point.entity_id)} characters (at most {MAX_ENTITY_ID_CHARS})"
    if text_problem(point.entity_id, MAX_ENTITY_ID_CHARS) is not None:
        return "entity id holds characters the API cannot serve"
    return None


def drop_bad_points(points: list[SignalPoint], path: str) -> tuple[list[SignalPoint], list[Skip]]:
    """The points that pass :func:`point_problem`, and a skip per kind of problem (with a count)."""
    now = datetime.now(UTC)
    kept: list[SignalPoint] = []
    dropped: dict[str, int] = {}
    for point in points:
        problem = point_problem(point, now)
        if problem is None:
            kept.append(point)
        else:
            dropped[problem] = dropped.get(problem, 0) + 1
    skips = [
        Skip(path, "signal points", f"{count:,} point(s) left out: {reason}")
        for reason, count in dropped.items()
    ]
    return kept, skips


def drop_bad_columns(columns: PointColumns, path: str) -> tuple[PointColumns, list[Skip]]:
    """:func:`drop_bad_points` on points given as columns, with the same result: a vectorised
    screen (finite values, bin starts a second inside 1990..tomorrow, each distinct entity id
    checked once) passes the common rows; the few it flags are judged by :func:`point_problem`
    itself, so the reasons and counts are those of the objects."""
    import numpy as np

    now = datetime.now(UTC)
    earliest, latest = EARLIEST.timestamp(), latest_allowed(now).timestamp()
    starts = columns.bin_start_s
    if texts_clean(columns.words, MAX_ENTITY_ID_CHARS):  # the common case, screened in C
        bad_word = np.zeros(len(columns.words), dtype=bool)
    else:
        bad_word = np.fromiter(
            (text_problem(w, MAX_ENTITY_ID_CHARS) is not None for w in columns.words),
            dtype=bool,
            count=len(columns.words),
        )
    suspect = ~np.isfinite(columns.value) | (starts < earliest + 1) | (starts > latest - 1)
    if len(bad_word) and bad_word.any():
        suspect |= bad_word[columns.entity]
    flagged = np.flatnonzero(suspect).tolist()
    if not flagged:
        return columns, []
    keep = np.ones(len(columns), dtype=bool)
    dropped: dict[str, int] = {}
    for row, point in zip(flagged, columns.points(flagged), strict=True):
        problem = point_problem(point, now)
        if problem is not None:
            keep[row] = False
            dropped[problem] = dropped.get(problem, 0) + 1
    skips = [
        Skip(path, "signal points", f"{count:,} point(s) left out: {reason}")
        for reason, count in dropped.items()
    ]
    return columns.select(keep), skips


def clean_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` with lone surrogates and control characters (but tab) replaced by U+FFFD and cut
    to ``limit`` characters: what a display field from a stranger's file may hold."""
    if text_problem(text, limit) is None:
        return text
    out = [
        "\ufffd" if ("\ud800" <= c <= "\udfff" or (unicodedata.category(c) == "Cc" and c != "\t")) else c
        for c in text[:limit]
    ]
    return "".join(out)


def texts_clean(texts: list[str], limit: int) -> bool:
    """True when :func:`text_problem` finds nothing in any of ``texts``, screened in C: none longer
    than ``limit`` and their concatenation printable (``str.isprintable`` is False for every
    control character and lone surrogate, and for a few characters :func:`text_problem` lets
    pass, such as tab or U+200B: False only sends the caller to the exact check)."""
    return not texts or (max(map(len, texts)) <= limit and "".join(texts).isprintable())


def _suspects(records: Sequence[object]) -> list[int] | None:
    """Which of ``records`` (all of one dataclass) :func:`clean_records` must look at one by one:
    each text field's column screened at once (:func:`texts_clean`), and only a column that fails
    it looked through value by value, in C calls (52k AS entities of a full table: ~0.1 s of
    Python per record -> a few ms). None: records of several types (all are looked at)."""
    kinds = set(map(type, records))
    if len(kinds) != 1:
        return None if records else []
    kind = kinds.pop()
    ident = "entity_id" if kind is Entity else "event_id"
    suspects: set[int] = set()
    for f in dataclasses.fields(kind):
        values = list(map(operator.attrgetter(f.name), records))
        types = set(map(type, values))
        has_none = type(None) in types
        types.discard(type(None))
        if not any(issubclass(t, str) for t in types):
            continue  # no text in this field
        limit = MAX_NAME_CHARS if f.name in ("name", "entity_name") else MAX_TEXT_CHARS
        if f.name == ident:
            limit = min(limit, MAX_ENTITY_ID_CHARS)
        if not all(issubclass(t, str) for t in types):  # text mixed with other values: one by one
            suspects.update(i for i, v in enumerate(values) if isinstance(v, str))
            continue
        texts = [v or "" for v in values] if has_none else values
        if texts_clean(texts, limit):
            continue
        suspects.update(i for i, printable in enumerate(map(str.isprintable, texts)) if not printable)
        if max(map(len, texts)) > limit:
            suspects.update(i for i, size in enumerate(map(len, texts)) if size > limit)
    return sorted(suspects)


def clean_records(records: list[R], path: str) -> tuple[list[R], list[Skip], int]:
    """Entities or external events as they may be stored: a record whose id breaks the bounds is
    dropped (a skip); display text (names, descriptions) is cleaned (:func:`clean_text`).
    Returns the records, the skips and how many were cleaned. Only the records a screen of whole
    columns flags (:func:`_suspects`) are checked one by one; the others are kept as they are."""
    suspects = _suspects(records)
    if suspects is None:
        suspects = list(range(len(records)))
    if not suspects:
        return records, [], 0
    kept: list[R | None] = list(records)
    skips: list[Skip] = []
    cleaned = 0
    field_names: dict[type, tuple[str, ...]] = {}  # dataclasses.fields() per record costs ~10 us
    for at in suspects:
        record = records[at]
        ident = record.entity_id if isinstance(record, Entity) else record.event_id
        problem = text_problem(ident or "", MAX_ENTITY_ID_CHARS)
        if problem is not None:
            skips.append(Skip(path, f"{type(record).__name__.lower()} {ident[:40]!r}", f"id has {problem}"))
            kept[at] = None
            continue
        changes: dict[str, str] = {}
        names = field_names.get(type(record))
        if names is None:
            names = field_names[type(record)] = tuple(f.name for f in dataclasses.fields(record))
        for name in names:
            value = getattr(record, name)
            if isinstance(value, str):
                limit = MAX_NAME_CHARS if name in ("name", "entity_name") else MAX_TEXT_CHARS
                clean = clean_text(value, limit)
                if clean != value:
                    changes[name] = clean
        if changes:
            cleaned += 1
            kept[at] = dataclasses.replace(record, **changes)  # type: ignore[arg-type]
    return [r for r in kept if r is not None], skips, cleaned
