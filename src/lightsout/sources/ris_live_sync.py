"""How a RIS Live source's tables get synchronised: the RIB dump to start from and the archive's
update files that bring it up to the stream (see :mod:`lightsout.sources.ris_live`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lightsout.sources.mrt import RIS_INTERVAL_S, RouteTables

if TYPE_CHECKING:
    from lightsout.sources.mrt_archive import ArchiveFile


@dataclass(frozen=True, slots=True)
class CatchUp:
    """The latest RIB dump at or before the stream's start and the update files after it, the last
    of which covers the stream's first message: the tables are then whole up to ``until``."""

    rib: ArchiveFile
    updates: list[ArchiveFile]
    until: datetime  # the end of the last update file (the RIB dump's time without any)


def catch_up(files: list[ArchiveFile], first: datetime, slack: timedelta) -> CatchUp | str | None:
    """The plan to reach the stream's first message ``first`` from the archive's ``files``; a text
    saying what is not published yet (try again later); None when it cannot be done (no dump at or
    before the stream, or update files missing after it: wait for the next dump instead)."""
    step = timedelta(seconds=RIS_INTERVAL_S)
    ribs = [f for f in files if f.kind == "rib" and f.time <= first + slack]
    if not ribs:
        return None
    rib = max(ribs, key=lambda f: f.time)
    if first <= rib.time + slack:
        return CatchUp(rib, [], rib.time)
    updates = sorted((f for f in files if f.kind == "updates" and f.time >= rib.time), key=lambda f: f.time)
    expected, chosen = rib.time, []
    for archive_file in updates:
        if archive_file.time > expected:
            return None  # files missing: the tables cannot be carried across them
        if archive_file.time < expected:
            continue
        chosen.append(archive_file)
        expected = archive_file.time + step
        if expected > first:
            return CatchUp(rib, chosen, expected)
    return (
        f"catching up from the RIB dump of {rib.time:%Y-%m-%d %H:%M} UTC: the archive's update files "
        f"reach {expected:%H:%M} UTC, the stream started at {first:%H:%M:%S} UTC"
    )


def restrict(tables: RouteTables, prefixes: tuple[str, ...]) -> None:
    """Keep only the routes to ``prefixes`` and their more-specifics (what the subscription
    brings), so the full-feed test and the counts see the same prefixes as the stream."""
    import ipaddress

    import numpy as np

    from lightsout.sources.mrt.tables import key_text

    nets = [ipaddress.ip_network(p, strict=False) for p in prefixes]
    n = len(tables.keys)
    keep = np.zeros(tables.capacity, dtype=bool)
    for pid, key in enumerate(tables.keys):
        net = ipaddress.ip_network(key_text(key))
        keep[pid] = any(net.version == m.version and net.subnet_of(m) for m in nets)  # type: ignore[arg-type]
    for peer, table in tables.tables.items():
        column = np.frombuffer(table, dtype=np.uint32)
        column[~keep[: len(column)]] = 0
        tables.sizes[peer] = int(np.count_nonzero(column[:n]))
    tables.peaks = dict(tables.sizes)
    tables.peaks_v4, tables.peaks_v6 = tables.family_sizes()
    tables.known_asns.clear()
    tables.known_countries.clear()


def first_record_time(path: Path) -> int | None:
    """The header time of a MRT file's first record."""
    from lightsout.sources.bounds import decompressed_limit
    from lightsout.sources.mrt import iter_decompressed

    with path.open("rb") as handle:
        for piece in iter_decompressed(handle.read, str(path), [], decompressed_limit(path.stat().st_size)):
            if len(piece) >= 4:
                return int.from_bytes(piece[:4], "big")
    return None
