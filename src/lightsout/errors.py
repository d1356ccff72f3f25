"""Errors a user can act on. Anything else escaping to the CLI is a bug (and shows a traceback)."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user asked for: bad argument, unknown entity, missing file."""


class InputError(UserError):
    """Input that cannot be read at all: names the file and the position."""

    def __init__(self, path: str, position: str, message: str) -> None:
        self.path = path
        self.position = position
        self.message = message
        super().__init__(f"{path}: {position}: {message}" if position else f"{path}: {message}")
