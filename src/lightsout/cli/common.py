"""What every command module shares: the consoles, time formatting, the store and entity look-ups."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import Progress, TaskID

from lightsout.errors import UserError
from lightsout.model import Entity
from lightsout.store import Store, StoreLocation, open_store

# Piped output gets a 100-column page rather than rich's 80-column default; tables are made to fit it.
console = Console(width=None if sys.stdout.isatty() else 100)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 100)


def advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


def utc_text(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def resolve_entity(store: Store, text: str) -> Entity:
    """Accept ``country/IR``, ``IR``, ``IRN``, ``IR-23``, ``AS12880``, ``12880`` or a name (``Iran``)."""
    candidates = [text]
    upper = text.strip().upper()
    if "/" not in text:
        if upper.startswith("AS") and upper[2:].isdigit():
            candidates.append(f"network/{upper}")
        elif upper.isdigit():
            candidates.append(f"network/AS{upper}")
        elif len(upper) in (2, 3) and upper.isalpha():
            from lightsout.attribution.places import country_alpha2

            candidates.append(f"country/{country_alpha2(upper) or upper}")
        else:
            candidates += [f"region/{upper}", f"county/{text}", f"network/{text}"]
    for candidate in candidates:
        entity = store.entity(candidate)
        if entity is not None:
            return entity
    # a name: "Iran", "Khuzestan", "Myanma Post Telecommunication" (countries first, then regions...)
    wanted = text.strip().casefold()
    named = [e for e in store.entities() if e.name.casefold() == wanted]
    if not named:
        import pycountry

        try:
            code = str(pycountry.countries.lookup(text.strip()).alpha_2)
        except LookupError:
            code = ""
        named = [e for e in [store.entity(f"country/{code}")] if e is not None] if code else []
    if named:
        order = {"country": 0, "region": 1, "county": 2, "network": 3}
        return min(named, key=lambda e: (order.get(e.kind.value, 9), e.entity_id))
    raise UserError(f"no entity {text!r} in the store; `lightsout entities` lists them")


def open_db(db: StoreLocation | None, read_only: bool = True) -> Store:
    return open_store(db, read_only=read_only)


