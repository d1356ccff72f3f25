"""Query strings -> typed values, at the edge. Every failure is an :class:`ApiError` (400) naming
the parameter; nothing downstream sees a raw string."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from lightsout.api.errors import ApiError

TIME_HELP = "ISO 8601 time, UTC unless an offset is given (2019-07-22, 2019-07-22T19:00, ...Z, ...+03:30)."


def parse_time(text: str | None, parameter: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(
            400, f"{parameter}: not an ISO 8601 time: {text[:80]!r} (e.g. 2019-07-22T19:00Z)", parameter
        ) from None


def parse_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is not None and end is not None and start >= end:
        raise ApiError(400, "since must be before until", "since")
    return start, end


def parse_country(text: str | None) -> str | None:
    """ISO 3166-1 alpha-2 or alpha-3 -> alpha-2."""
    if text is None:
        return None
    from lightsout.attribution.places import country_alpha2

    alpha2 = country_alpha2(text) if text.isascii() else None
    if alpha2 is None:
        raise ApiError(400, f"country: unknown ISO 3166-1 code {text[:80]!r} (e.g. VE or VEN)", "country")
    return alpha2


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_parameters(request: Request) -> None:
    """A misspelt filter (``?contry=VE``) would otherwise be ignored and answer with everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    for name in request.query_params:
        if name not in known:
            expected = ", ".join(sorted(known)) or "none"
            raise ApiError(
                400, f"unknown parameter {name[:80]!r}; this endpoint takes: {expected}", name[:80]
            )
        if len(request.query_params.getlist(name)) > 1:
            raise ApiError(400, f"{name}: given more than once", name)
