"""Readers of input files. Each turns one file into a :class:`Parsed`: typed records plus the
records it had to skip (file and position, reason). A reader never writes to the store; the
ingest pipeline (:mod:`lightsout.ingest`) does that, atomically, once the whole file is read.

A reader raises :class:`lightsout.errors.InputError` only when nothing useful can be read
(empty file, wrong columns, not the format at all); a damaged record is a :class:`Skip`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lightsout.model import Entity, ExternalEvent, OoniMeasurement, SignalPoint, Skip
from lightsout.sources.columns import PointColumns

# Called with (units done, units total) as a reader makes progress; units are bytes of input.
Progress = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@dataclass(frozen=True, slots=True)
class CarryState:
    """State a reader hands from one file to the next of the same stream (e.g. a BGP collector's
    routing tables, so that an update file continues the RIB dump before it). Stored with the
    file's data in one transaction."""

    key: str  # the stream, e.g. "mrt/rrc15"
    as_of: datetime  # the state holds everything up to this time
    payload: bytes


# What a reader may ask of the store: the last state of a stream, if any.
LoadCarry = Callable[[str], CarryState | None]


def no_carry(key: str) -> CarryState | None:
    """The default: every file starts from nothing."""
    return None


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
    carry: CarryState | None = None  # state to hand to the next file of the same stream
    external_events: list[ExternalEvent] = field(default_factory=list)  # other observatories' outages
    skipped_unlisted: int = 0  # skips counted but not listed in ``skipped`` (a reader's bound on memory)
    # the points as columns instead of ``points`` (read_mrt(columns=True): every MRT ingest)
    point_columns: PointColumns | None = None
