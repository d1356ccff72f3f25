"""One JSON envelope for every error: ``{"error": {"status", "message", "parameter"}}``.

FastAPI's own handlers answer 422 with a list of pydantic errors and 404/405 with ``{"detail"}``;
they are replaced here so that a client meets a single shape, whatever went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lightsout.api.schemas import ErrorBody, ErrorEnvelope
from lightsout.errors import UserError

log = logging.getLogger("lightsout.api")


class ApiError(Exception):
    """An error a client can act on; becomes the error envelope with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        parameter: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter
        self.headers = dict(headers) if headers else None


def error_response(
    status: int, message: str, parameter: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorBody(status=status, message=message, parameter=parameter))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _location(loc: Sequence[Any]) -> str | None:
    """``("query", "max_points")`` -> ``max_points``; body and nested locations joined by dots."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "header", "cookie", "body"):
        parts = parts[1:]
    return ".".join(parts) or None


def _validation_message(error: Mapping[str, Any], parameter: str | None) -> str:
    kind = error.get("type", "")
    name = parameter or "request"
    if kind == "missing":
        return f"{name}: required"
    message = str(error.get("msg", "invalid value"))
    given = error.get("input")
    if isinstance(given, str | int | float) and len(str(given)) <= 80:
        return f"{name}: {message} (got {given!r})"
    return f"{name}: {message}"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.parameter, exc.headers)


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(400, str(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:
        return error_response(400, "invalid request")
    first = errors[0]
    parameter = _location(first.get("loc", ()))
    return error_response(400, _validation_message(first, parameter), parameter)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    message = str(exc.detail) if exc.detail else phrase
    if status == 404 and message == phrase:
        message = f"no such endpoint: {request.url.path} (GET /openapi.json lists them)"
    elif status == 405 and message == phrase:
        allowed = (exc.headers or {}).get("allow") or (exc.headers or {}).get("Allow") or ""
        message = f"method {request.method} not allowed on {request.url.path}" + (
            f"; allowed: {allowed}" if allowed else ""
        )
    return error_response(status, message, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug. Starlette logs the traceback and re-raises after this answer; the client learns nothing
    # about the internals.
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
