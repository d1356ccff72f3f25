"""RIS Live's connector state (:mod:`lightsout.sources.ris_live`): the checkpoint's cursor, which
says where the stored tables end, the identities of the last messages applied (a resumed stream
that sends one again proves it continues without loss) and the gaps; and the closed stretches of
bins (or MRT files) waiting to be fetched and parsed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightsout.model import Checkpoint, Skip
from lightsout.sources.mrt.updates import Change

SEEN_KEPT = 1000  # identities kept in the checkpoint (and at least this many in memory)
MAX_GAPS_KEPT = 50


@dataclass(slots=True)
class Cursor:
    collector: str
    synced: bool = False
    next_bin: int | None = None  # start of the first bin not in the stored tables
    last_ts: float | None = None  # newest message applied
    rib: str | None = None
    seen: list[str] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    gaps_total: int = 0

    def text(self) -> str:
        return json.dumps({"collector": self.collector, "synced": self.synced, "next_bin": self.next_bin,
                           "last_ts": self.last_ts, "rib": self.rib, "seen": self.seen[-SEEN_KEPT:],
                           "gaps": self.gaps, "gaps_total": self.gaps_total}, sort_keys=True)  # fmt: skip

    @classmethod
    def load(cls, checkpoint: Checkpoint | None, collector: str) -> Cursor:
        if checkpoint is None:
            return cls(collector)
        try:
            body = json.loads(checkpoint.cursor)
            if body.get("collector") != collector:
                return cls(collector)  # another collector's (or connector's) cursor: start afresh
            seen, gaps = list(body.get("seen") or []), list(body.get("gaps") or [])
            total = int(body.get("gaps_total") or len(gaps))
            return cls(collector, bool(body["synced"]), body.get("next_bin"), body.get("last_ts"),
                       body.get("rib"), seen, gaps, total)  # fmt: skip
        except (ValueError, TypeError, AttributeError, KeyError):
            return cls(collector)


@dataclass(slots=True)
class Batch:
    """A closed stretch of bins (or a RIB dump) waiting to be fetched and parsed."""

    first_bin: int
    bins: int
    changes: list[Change]
    cursor: str
    skipped: list[Skip]
    counts: dict[str, int]
    newest: float | None
    received: float | None  # our clock when the newest message arrived
    rib: Path | None = None  # the MRT file of a "rib" or "updates" batch
    rib_time: int | None = None
    archive_key: str | None = None  # its URL in the archive
    kind: str = "bins"  # "bins" (the stream's), "rib" or "updates" (the archive's MRT files)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
