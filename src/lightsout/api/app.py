"""The FastAPI application: ``create_app(db_path, token)``.

Routes: :mod:`.routes` (reads), :mod:`.exports` (CSV/Parquet), :mod:`.writes` (ingest). Store
access: :mod:`.access`. Errors: :mod:`.errors`. docs/api.md describes the whole API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lightsout.api import exports, external, routes, sources, whoami, writes
from lightsout.api.access import StoreAccess
from lightsout.api.errors import install_error_handlers
from lightsout.api.pagecache import AccessLog, PageCache
from lightsout.api.params import reject_unknown_parameters
from lightsout.api.schemas import MODEL_FIELDS
from lightsout.api.state import ApiState
from lightsout.errors import UserError
from lightsout.store import StoreLocation
from lightsout.web.router import make_router

PREFIX = "/api/v1"
MIN_TOKEN_CHARS = 16
DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024

_SECURITY_HEADERS = {
    # Strings from data files (entity names) only ever leave as JSON or CSV; a browser must not
    # sniff them into HTML, and nothing here is meant to be framed or to load anything.
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Adds :data:`_SECURITY_HEADERS` to every answer (plain ASGI: streamed exports stay streamed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with its 422 answers removed (validation errors are 400s here) and the fields
    of the model's records described (``schemas.MODEL_FIELDS``)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for name, fields in MODEL_FIELDS.items():  # the model's dataclasses carry no descriptions
        properties = components.get(name, {}).get("properties", {})
        for field, description in fields.items():
            if field in properties:
                properties[field]["description"] = description
    app.openapi_schema = schema
    return schema


def create_app(
    db_path: StoreLocation,
    token: str | None,
    *,
    readers: int = 8,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    access: StoreAccess | None = None,
    base_url: str | None = None,
    log_access: bool = False,
    page_cache_s: float = 30.0,
) -> FastAPI:
    """The API over the store at ``db_path``. With ``token``, POST /api/v1/ingest accepts
    ``Authorization: Bearer <token>`` and the store is opened for writing (this process then holds
    DuckDB's write lock); without, writes answer 403 and the store is opened read-only.

    ``access``: the store access of a process that already holds the writer (``lightsout run``):
    the API reads through its pool and writes through its lock; the caller closes it.

    ``base_url``: where the dashboard is served, for the feed's links (never the request's Host
    header). ``log_access``: one line per request, client address truncated, no query string
    (:mod:`lightsout.api.pagecache`). ``page_cache_s``: how long a dashboard or feed page is kept
    at most (it is dropped at once by a write; 0 turns the cache off)."""
    token = token or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise UserError(
            f"token: use at least {MIN_TOKEN_CHARS} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    owned = access is None
    if access is None:
        access = StoreAccess(db_path, writable=token is not None, readers=readers)
    store_access = access

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                store_access.close()

    app = FastAPI(
        title="Lightsout",
        version=version("lightsout"),
        description=(
            "An open observatory for internet shutdowns. Every JSON answer is "
            '`{"data": ..., "meta": {...}}`; every error is `{"error": {"status", "message", "parameter"}}`. '
            "Times are UTC. See docs/api.md."
        ),
        docs_url=None,  # Swagger UI and ReDoc load from a CDN; /openapi.json is served instead
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_parameters)],
    )
    app.state.lightsout = ApiState(access=access, token=token, max_upload_bytes=max_upload_bytes)
    install_error_handlers(app)
    app.include_router(routes.router, prefix=PREFIX)
    app.include_router(exports.router, prefix=PREFIX)
    app.include_router(writes.router, prefix=PREFIX)
    app.include_router(sources.router, prefix=PREFIX)
    app.include_router(external.router, prefix=PREFIX)
    app.include_router(whoami.router, prefix=PREFIX)
    app.include_router(make_router(access.reading, base_url=base_url))  # the dashboard, same read pool
    if page_cache_s > 0:
        app.add_middleware(PageCache, generation=lambda: store_access.generation, ttl_s=page_cache_s)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"])
    app.add_middleware(SecurityHeaders)
    if log_access:
        app.add_middleware(AccessLog)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
