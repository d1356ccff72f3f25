"""Command-line parameters shared by every command: parsed into typed values at the edge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from lightsout.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def _store_location(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A DuckDB file path or a ``clickhouse://host:port/database`` URL, as a StoreLocation."""
    if value is None:
        return None
    from lightsout.store.location import parse_location

    try:
        return parse_location(value)
    except UserError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def db_option(func: F) -> F:
    """``--db FILE|URL`` (env ``LIGHTSOUT_DB``): the store, a DuckDB file or a ClickHouse database."""
    return click.option(
        "--db",
        metavar="FILE|URL",
        default=None,
        callback=_store_location,
        envvar="LIGHTSOUT_DB",
        help="Store: a DuckDB file (default: lightsout.duckdb in the user data directory) or "
        "clickhouse://host:port/database; env LIGHTSOUT_DB.",
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


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """``--since`` and ``--until`` as times; a window that ends before it starts is refused."""
    start, end = parse_time(since), parse_time(until)
    if start is not None and end is not None and start >= end:
        raise UserError(f"--since {since} is not before --until {until}: the window is empty")
    return start, end


def parse_country(text: str | None) -> str | None:
    """An ISO 3166-1 code (alpha-2 or alpha-3) or a country's name ("Iran", "Venezuela") -> alpha-2."""
    if text is None:
        return None
    import pycountry

    from lightsout.attribution.places import country_alpha2

    alpha2 = country_alpha2(text)
    if alpha2 is None:
        try:
            alpha2 = str(pycountry.countries.lookup(text.strip()).alpha_2)
        except LookupError:
            hint = "give an ISO 3166-1 code (IR, IRN) or its name"
            raise UserError(f"unknown country {text!r}: {hint}") from None
    return alpha2
