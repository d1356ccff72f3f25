"""What the routes need from the application, typed (``app.state`` itself is untyped)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from lightsout.api.access import StoreAccess


@dataclass(frozen=True, slots=True)
class ApiState:
    access: StoreAccess
    token: str | None  # None: writes disabled
    max_upload_bytes: int


def api_state(request: Request) -> ApiState:
    state = request.app.state.lightsout
    assert isinstance(state, ApiState)
    return state


def store_access(request: Request) -> StoreAccess:
    return api_state(request).access
