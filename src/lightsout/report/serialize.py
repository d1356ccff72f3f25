"""Records -> JSON-ready values and flat CSV rows (UTC ISO 8601 times, enum values)."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from lightsout.model import Event


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


EVENT_CSV_COLUMNS = [
    "event_id", "kind", "scope", "entity_id", "entity_name", "country_code", "start", "start_uncertainty_s",
    "end", "end_uncertainty_s", "mean_level_pct", "min_level_pct", "confidence", "signals", "affected",
    "affected_children", "affected_of", "schedule", "not_counted", "within_noise",
]  # fmt: skip


def event_csv_row(event: Event) -> list[str]:
    signals = ";".join(f"{e.signal.value}@{e.source}:{e.alerted_bins}bins,min{100 * e.min_ratio:.0f}%"
                       for e in event.evidence)  # fmt: skip
    schedule = (
        f"daily {event.schedule.start_local}-{event.schedule.end_local} {event.schedule.time_zone} "
        f"x{event.schedule.days}"
        if event.schedule
        else ""
    )
    return [
        event.event_id, event.kind.value, event.scope.value, event.entity_id, event.entity_name,
        event.country_code or "", event.start.isoformat(), str(event.start_uncertainty_s),
        event.end.isoformat() if event.end else "", str(event.end_uncertainty_s),
        f"{event.mean_level_pct:.1f}", f"{event.min_level_pct:.1f}", f"{event.confidence:.3f}", signals,
        ";".join(a.entity_id for a in event.affected), str(event.affected_children), str(event.affected_of),
        schedule, ";".join(a.entity_id for a in event.not_counted), str(event.within_noise).lower(),
    ]  # fmt: skip
