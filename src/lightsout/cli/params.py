"""Command-line parameters shared by every command: parsed into typed values at the edge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from lightsout.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    """``--db FILE`` (env ``LIGHTSOUT_DB``): the store file."""
    return click.option(
        "--db",
        type=click.Path(path_type=Path),
        default=None,
        envvar="LIGHTSOUT_DB",
        help="Store file (default: lightsout.duckdb in the user data directory; env LIGHTSOUT_DB).",
    )(func)


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time; UTC unless it carries an offset."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"not an ISO 8601 time: {text!r} (e.g. 2019-11-16 or 2019-11-16T12:00)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_country(text: str | None) -> str | None:
    """An ISO 3166-1 code (alpha-2 or alpha-3) -> alpha-2."""
    if text is None:
        return None
    from lightsout.attribution.places import country_alpha2

    alpha2 = country_alpha2(text)
    if alpha2 is None:
        raise UserError(f"unknown ISO 3166-1 country code {text!r}")
    return alpha2
