"""Total accessors for untyped JSON: each returns the typed value or ``None``, never raises.

OONI measurements come from many probe versions, some buggy; any key can be missing, null or of
another type. These helpers are the one place where JSON values are looked at; everything past
:mod:`lightsout.apps.observations` sees typed records only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

JsonObject = Mapping[str, Any]


def obj(value: object) -> JsonObject | None:
    return value if isinstance(value, dict) else None


def items(value: object) -> Sequence[object]:
    """A JSON array's items; anything else (null, missing, an object) reads as no items."""
    return value if isinstance(value, list) else ()


def text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def boolean(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def get(mapping: JsonObject | None, *keys: str) -> object:
    """``mapping[k1][k2]...``, or ``None`` where a level is missing or not an object."""
    value: object = mapping
    for key in keys:
        level = obj(value)
        if level is None:
            return None
        value = level.get(key)
    return value
