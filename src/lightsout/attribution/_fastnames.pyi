"""Types of the C extension built from _fastnames.pyx (optional: entities.py falls back to Python)."""

from typing import Any, TypeVar

T = TypeVar("T")

class NetworkTable:
    def __init__(
        self,
        body: bytes,
        asns_at: int,
        rows: int,
        country_at: int,
        countries: list[str | None],
        labels_at: int,
        labels_end: int,
    ) -> None: ...
    def entities(self, cls: type[T], kind: Any, asns: list[int]) -> list[T]: ...
    def row(self, asn: int) -> tuple[str, str | None] | None: ...
