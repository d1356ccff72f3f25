"""Readers of input files. Each turns one file into a :class:`Parsed`: typed records plus the
records it had to skip (file and position, reason). A reader never writes to the store; the
ingest pipeline (:mod:`lightsout.ingest`) does that, atomically, once the whole file is read.

A reader raises :class:`lightsout.errors.InputError` only when nothing useful can be read
(empty file, wrong columns, not the format at all); a damaged record is a :class:`Skip`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lightsout.model import Entity, OoniMeasurement, SignalPoint, Skip

# Called with (units done, units total) as a reader makes progress; units are bytes of input.
Progress = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@dataclass(slots=True)
class Parsed:
    """What a reader got out of one file."""

    format: str
    records_read: int = 0
    entities: list[Entity] = field(default_factory=list)
    points: list[SignalPoint] = field(default_factory=list)
    measurements: list[OoniMeasurement] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
