"""The web dashboard: server-rendered HTML pages over the store (see :func:`make_router`)."""

from __future__ import annotations

from lightsout.web.router import StoreOpener, make_router

__all__ = ["StoreOpener", "make_router"]
