"""Labelled outage windows (a CSV a user writes) and how detected intervals score against them.

CSV columns (header required, order free): ``entity``, ``start``, ``end`` (ISO 8601, UTC when no
offset), and optionally ``scope`` (national / regional / network) and ``recurring`` (true/false:
the window is one occurrence of a recurring cut, to be reported as one recurring event). Other
columns (a ``what`` or ``source``) are kept out of the way. ``entity`` is a Lightsout entity id
(``country/IQ``, ``region/VE-B``, ``network/AS12880``), an ISO 3166-1 code (``IQ``) or an AS
number (``AS12880``). ``start_utc`` / ``end_utc`` are accepted for ``start`` / ``end``.

Scoring, per entity: a window is *detected* when a detected interval overlaps it; its onset error
is the start of the earliest such interval minus the window's start; a detected interval that
overlaps no window of its entity is a *false event*.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lightsout.errors import InputError
from lightsout.model import Scope


@dataclass(frozen=True, slots=True)
class TruthWindow:
    entity_id: str
    start: datetime
    end: datetime
    scope: Scope | None = None
    recurring: bool = False


@dataclass(frozen=True, slots=True)
class Interval:
    """Something a detector reported for an entity: ``end`` None while it goes on."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Score:
    """How one detector (a signal and method, or the fused events) did against the windows."""

    label: str  # "fused events", or "<signal>/<source> <method>"
    windows: int
    detected: int
    missed: int
    false_events: int
    onset_errors_min: tuple[float, ...]  # per detected window, detected onset - labelled start
    missed_windows: tuple[str, ...] = ()
    false_starts: tuple[str, ...] = ()

    @property
    def max_abs_onset_error_min(self) -> float | None:
        return max((abs(e) for e in self.onset_errors_min), default=None)


def entity_id_of(text: str) -> str:
    text = text.strip()
    if "/" in text:
        return text
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return f"country/{text.upper()}"
    if re.fullmatch(r"(?i)as\d+", text):
        return f"network/AS{text[2:]}"
    raise ValueError(f"entity {text!r}: give an entity id (country/IQ), a country code or AS number")


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"", "0", "false", "no", "n"}


def read_truth_csv(path: Path, default_entity: str | None = None) -> list[TruthWindow]:
    """The windows of a CSV file; a bad row is a one-line error naming file and line."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(str(path), "", exc.strerror or "cannot read") from exc
    windows: list[TruthWindow] = []
    with handle:
        reader = csv.DictReader(handle)
        fields = {f.strip().lower(): f for f in reader.fieldnames or []}
        start_col = fields.get("start") or fields.get("start_utc")
        end_col = fields.get("end") or fields.get("end_utc")
        entity_col = fields.get("entity")
        if start_col is None or end_col is None or (entity_col is None and default_entity is None):
            raise InputError(str(path), "line 1", "needs the columns entity, start, end")
        for row in reader:
            line = f"line {reader.line_num}"
            try:
                entity = entity_id_of(row[entity_col] if entity_col else str(default_entity))
                start, end = _time(row[start_col]), _time(row[end_col])
                scope_text = (row.get(fields.get("scope", ""), "") or "").strip().lower()
                recurring_text = (row.get(fields.get("recurring", ""), "") or "").strip().lower()
                if recurring_text not in _TRUE | _FALSE:
                    raise ValueError(f"recurring {recurring_text!r}: true or false")
                window = TruthWindow(
                    entity, start, end, Scope(scope_text) if scope_text else None, recurring_text in _TRUE
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(str(path), line, str(exc)) from exc
            if end <= start:
                raise InputError(str(path), line, "end is not after start")
            windows.append(window)
    if not windows:
        raise InputError(str(path), "line 2", "no labelled windows")
    return windows


def _overlaps(interval: Interval, window: TruthWindow) -> bool:
    return interval.start < window.end and (interval.end is None or interval.end > window.start)


def score(label: str, windows: Sequence[TruthWindow], intervals: Iterable[Interval]) -> Score:
    """Score detected intervals of one entity against its labelled windows."""
    found = sorted(intervals, key=lambda i: i.start)
    errors: list[float] = []
    missed: list[str] = []
    for window in sorted(windows, key=lambda w: w.start):
        hits = [i for i in found if _overlaps(i, window)]
        if hits:
            errors.append(round((hits[0].start - window.start).total_seconds() / 60.0, 1))
        else:
            missed.append(f"{window.start:%Y-%m-%d %H:%M}")
    false = [i for i in found if not any(_overlaps(i, w) for w in windows)]
    return Score(
        label,
        len(windows),
        len(windows) - len(missed),
        len(missed),
        len(false),
        tuple(errors),
        tuple(missed),
        tuple(f"{i.start:%Y-%m-%d %H:%M}" for i in false),
    )
