"""Ingest from an inbox directory without letting one bad file stop the rest.

A long-running service (``lightsout watch --inbox``) reads files written by strangers. A file
that cannot be read (an :class:`~lightsout.errors.InputError`) or that makes a reader fail in a
way nobody foresaw (any other exception: a bug, but one file's bug) is **quarantined**: moved
to ``<inbox>/quarantine/`` beside a ``<name>.reason`` text file saying why and when, and
reported once. The files after it are ingested as usual, and a restart does not meet it again.

A file that kills the process outright (the kernel's out-of-memory killer, a crash in a native
library) cannot be caught. Before each file the inbox writes a marker (``.ingesting``) naming it;
a process that starts and finds the marker knows the previous one died on that file. After
:data:`DEATHS_BEFORE_QUARANTINE` such deaths the file is quarantined at start, so the service
stops crashing on it (one death is forgiven: an operator's Ctrl-C or a reboot is not the file's
fault). Moving a file back from the quarantine directory retries it.

Writers should put a file in the inbox whole: write it elsewhere (or as ``NAME.part``, which is
never read) and rename it in. A file read while still being written is damaged, and quarantined.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lightsout.errors import UserError
from lightsout.ingest import InputFormat, ingest_file
from lightsout.model import IngestReport
from lightsout.store import Store

log = logging.getLogger(__name__)

QUARANTINE_DIR = "quarantine"
MARKER = ".ingesting"
DEATHS_BEFORE_QUARANTINE = 2
# Names a writer uses while a file is still arriving, and our own bookkeeping: never ingested.
_NOT_YET = (".part", ".tmp", ".partial", ".crdownload", ".reason")


@dataclass(frozen=True, slots=True)
class InboxResult:
    """What became of one inbox file: ingested (``report``) or quarantined (``error``, ``moved_to``)."""

    path: Path
    report: IngestReport | None
    error: str | None = None
    moved_to: Path | None = None

    @property
    def quarantined(self) -> bool:
        return self.error is not None


Ingest = Callable[[Store, Path], IngestReport]


def _default_ingest(store: Store, path: Path) -> IngestReport:
    return ingest_file(store, path, InputFormat.AUTO)


class Inbox:
    """The files of one directory, ingested in name order; bad ones quarantined (module docstring)."""

    def __init__(
        self, directory: Path, quarantine: Path | None = None, ingest: Ingest = _default_ingest
    ) -> None:
        if not directory.is_dir():
            raise UserError(f"{directory}: no such inbox directory")
        self.directory = directory
        self.quarantine = quarantine or directory / QUARANTINE_DIR
        self._ingest = ingest
        self._marker = self.directory / MARKER
        self._deaths: dict[str, int] = {}  # file name -> deaths seen while ingesting it
        self._unmovable: set[tuple[str, int, int]] = set()  # quarantined in place: name, size, mtime

    def pending(self) -> list[Path]:
        """The inbox's files to look at, in name order (hidden and partial files left alone)."""
        files = []
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(".") or path.name.endswith(_NOT_YET) or not path.is_file():
                continue
            if self._key(path) in self._unmovable:
                continue
            files.append(path)
        return files

    def recover(self) -> list[InboxResult]:
        """At start: a marker left behind names the file the previous process died on."""
        try:
            text = self._marker.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("cannot read %s: %s", self._marker, exc)
            return []
        deaths_text, _, name = text.strip().partition("\t")
        deaths = (int(deaths_text) if deaths_text.isdigit() else 0) + 1
        path = self.directory / name
        if not name or "/" in name or not path.is_file():
            self._clear_marker()
            return []
        if deaths < DEATHS_BEFORE_QUARANTINE:
            self._deaths[name] = deaths
            self._clear_marker()
            return []
        self._clear_marker()
        reason = f"the process died {deaths} times while ingesting this file (out of memory or a crash)"
        return [self._quarantine(path, reason)]

    def ingest(self, store: Store, path: Path) -> InboxResult:
        """Ingest one inbox file, or quarantine it; never raises for what the file holds."""
        if not path.is_file():  # taken away since it was listed: nothing to do, nothing to report
            return InboxResult(path, None)
        self._write_marker(path.name)
        try:
            report = self._ingest(store, path)
        except UserError as exc:
            return self._quarantine(path, str(exc))
        except Exception as exc:  # a reader's bug, met on this file: the file goes, the service stays
            log.error("internal error ingesting %s", path, exc_info=exc)
            detail = "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]
            reason = f"internal error while reading it: {detail[:500]}"
            return self._quarantine(path, reason, traceback.format_exc())
        finally:
            self._clear_marker()
        self._deaths.pop(path.name, None)
        return InboxResult(path, report)

    def round(self, store: Store, stop: Callable[[], bool] = lambda: False) -> list[InboxResult]:
        """Every pending file once, in order, until ``stop()`` says to stop."""
        results = []
        for path in self.pending():
            if stop():
                break
            results.append(self.ingest(store, path))
        return results

    # -- bookkeeping -------------------------------------------------------------------------------

    @staticmethod
    def _key(path: Path) -> tuple[str, int, int]:
        try:
            stat = path.stat()
        except OSError:
            return (path.name, -1, -1)
        return (path.name, stat.st_size, stat.st_mtime_ns)

    def _write_marker(self, name: str) -> None:
        try:
            self._marker.write_text(f"{self._deaths.get(name, 0)}\t{name}\n", encoding="utf-8")
        except OSError as exc:
            log.warning("cannot write %s: %s", self._marker, exc)

    def _clear_marker(self) -> None:
        try:
            self._marker.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove %s: %s", self._marker, exc)

    def _quarantine(self, path: Path, reason: str, detail: str = "") -> InboxResult:
        """Move ``path`` into the quarantine directory beside a ``.reason`` file; when it cannot be
        moved, remember it for this process so it is still reported only once."""
        self._deaths.pop(path.name, None)
        now = datetime.now(UTC)
        try:
            self.quarantine.mkdir(parents=True, exist_ok=True)
            target = self.quarantine / path.name
            if target.exists():
                target = self.quarantine / f"{now:%Y%m%dT%H%M%S.%f}-{path.name}"
            os.replace(path, target)
        except OSError as exc:
            log.warning("cannot move %s to %s: %s", path, self.quarantine, exc)
            self._unmovable.add(self._key(path))
            return InboxResult(path, None, reason, None)
        note = f"{now:%Y-%m-%dT%H:%M:%SZ} quarantined {path.name}: {reason}\n" + (
            f"\n{detail}" if detail else ""
        )
        try:
            target.with_name(target.name + ".reason").write_text(note, encoding="utf-8")
        except OSError as exc:
            log.warning("cannot write the reason for %s: %s", target, exc)
        return InboxResult(path, None, reason, target)
