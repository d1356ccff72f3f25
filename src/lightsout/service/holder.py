"""Which ``lightsout run`` holds a store: a small JSON file beside the store
(``<store>.service.json``: pid, URL, start time, control token), written once the service listens
and removed when it stops. A file left by a killed service names a dead pid and is ignored.

The control token is a fresh random secret of each run, in a file only its owner may read (mode
0600): a command of the same user on the same machine proves with it that it may hand the service
work (``lightsout backfill`` through ``POST /api/v1/backfills``), as Jupyter's runtime files do.

DuckDB lets one process open a file while another writes it only through that process, so every
other command meeting the lock says, in one line, which service holds the store and where its API
is (:func:`held_message`), instead of DuckDB's raw lock error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Holder:
    pid: int
    url: str
    started_at: str
    control_token: str | None = None  # None: a service of an older version (no control endpoint)


def holder_path(store: Path) -> Path:
    return store.with_name(store.name + ".service.json")


def write_holder(store: Path, url: str, started_at: str, control_token: str) -> None:
    path = holder_path(store)
    tmp = path.with_name(path.name + ".tmp")
    body = {"pid": os.getpid(), "url": url, "started_at": started_at, "control_token": control_token}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # also when an old .tmp was left with other permissions
        handle.write(json.dumps(body))
    tmp.replace(path)


def remove_holder(store: Path) -> None:
    path = holder_path(store)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def read_holder(store: Path) -> Holder | None:
    """The live service holding ``store``, if any (a file naming a dead process is ignored)."""
    try:
        data = json.loads(holder_path(store).read_text(encoding="utf-8"))
        token = data.get("control_token")
        holder = Holder(int(data["pid"]), str(data["url"]), str(data["started_at"]),
                        str(token) if token else None)  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(holder.pid):
        return None
    return holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def held_message(store: Path) -> str | None:
    holder = read_holder(store)
    if holder is None:
        return None
    return (
        f"the store {store} is held by `lightsout run` (pid {holder.pid}, {holder.url}); read it through "
        f"its API and dashboard there, or stop the service (kill {holder.pid}) to use this command"
    )
