"""App and website blocking events (``lightsout.apps.aggregate.BlockingEvent``) as the API, the
dashboard and ``lightsout events --with-blocking`` serve them.

One record shape for all of them (:class:`BlockingItem`, the fields of ``lightsout blocking
--format json``'s events), one filter (:func:`blocking_matches`) and the CSV row of ``lightsout
events --format csv --with-blocking``. No FastAPI here: the command line imports this module.

Filters mean what they mean for outage events (``EventFilter``): ``since`` keeps events still going
on at or after it (ongoing, or ended after it), ``until`` events that started before it. Events are
always computed from every stored measurement, then filtered, so an event that began before
``since`` keeps its real start and an event ended by a measurement after ``until`` keeps its end.
(``lightsout blocking --since/--until`` differs: it judges only the measurements in that window.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lightsout.apps.aggregate import BlockingEvent
from lightsout.apps.finding import Method
from lightsout.report.serialize import to_jsonable


class BlockingItem(BaseModel):
    """One blocking event: consecutive blocked verdicts for one target seen from one network, with
    every method seen and its counts, and whether it clears the evidence bar (see docs/apps.md).
    Text from measurements (``target``, ``reason``, and the
    ``statement`` quoting the target) is untrusted."""

    country: str | None = Field(description="The probes' country, ISO 3166-1 alpha-2.")
    asn: int | None = Field(description="The probes' network (AS number).")
    target: str = Field(description="The URL tested, or the app's name (WhatsApp, Telegram, Signal...).")
    test_name: str = Field(description="The OONI test of the first blocked measurement.")
    method: Method = Field(description="How the latest blocked measurement was blocked.")
    methods: dict[str, int] = Field(description="Every method seen, with its number of measurements.")
    start: datetime = Field(description="The first blocked measurement.")
    last_blocked: datetime = Field(description="The last blocked measurement.")
    end: datetime | None = Field(
        description="The measurement that showed it accessible again; null: open at the end of the data."
    )
    ongoing: bool = Field(description="Open at the end of the data (see live for whether data are recent).")
    live: bool = Field(description="The target was measured on this network within the last 2 days.")
    meets_bar: bool = Field(
        description="Clears the evidence bar: 3 blocked measurements on 2 days, or an OONI fingerprint."
    )
    days: int = Field(description="Different UTC days with a blocked measurement.")
    accessible: int = Field(description="Accessible measurements of the target on this network, in all.")
    series_measurements: int = Field(description="Measurements of the target on this network, in all.")
    explorer_urls: list[str] = Field(
        description="Per blocked measurement, its OONI Explorer page ('' if OONI did not publish it)."
    )
    measurements: int = Field(description="Blocked measurements merged into the event.")
    measurement_ids: list[str] = Field(description="Their OONI measurement ids, oldest first.")
    fingerprint: str | None = Field(description="The OONI fingerprint that confirmed it, if one did.")
    reason: str = Field(description="The latest blocked verdict's reason.")
    statement: str = Field(
        description='One sentence: "Telegram blocked on AS9198 in KZ by TLS interference since ..."'
    )

    @classmethod
    def of(cls, event: BlockingEvent) -> BlockingItem:
        return cls(
            country=event.country,
            asn=event.asn,
            target=event.target,
            test_name=event.test_name,
            method=event.method,
            methods={m.value: n for m, n in event.methods},
            start=event.start,
            last_blocked=event.last_blocked,
            end=event.end,
            ongoing=event.ongoing,
            live=event.live(),
            meets_bar=event.meets_bar,
            days=event.days,
            accessible=event.accessible,
            series_measurements=event.series_measurements,
            explorer_urls=list(event.explorer_urls),
            measurements=event.measurements,
            measurement_ids=list(event.measurement_ids),
            fingerprint=event.fingerprint,
            reason=event.reason,
            statement=event.statement(),
        )


def blocking_json(event: BlockingEvent) -> dict[str, Any]:
    """The item as the command line prints it: times as ``datetime.isoformat()`` (``+00:00``), like
    the outage events beside it."""
    return {name: to_jsonable(value) for name, value in BlockingItem.of(event).model_dump().items()}


def blocking_matches(
    event: BlockingEvent,
    country: str | None = None,
    asn: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> bool:
    """The filters of ``GET /api/v1/blocking`` (see the module docstring for ``since``/``until``)."""
    if country is not None and event.country != country:
        return False
    if asn is not None and event.asn != asn:
        return False
    if since is not None and event.end is not None and event.end <= since:
        return False
    return until is None or event.start < until


def select_blocking(
    events: list[BlockingEvent],
    country: str | None = None,
    asn: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[BlockingEvent]:
    return [e for e in events if blocking_matches(e, country, asn, since, until)]


# `lightsout events --format csv --with-blocking`: the outage columns, then these. Outage rows leave
# them empty; blocking rows have kind "blocking", scope "network" and leave the outage-only
# columns (id, levels, confidence, signals, affected, schedule) empty.
BLOCKING_CSV_COLUMNS = [
    "target", "method", "asn", "test_name", "last_blocked", "measurements", "fingerprint", "statement",
]  # fmt: skip
_RISKY = ("=", "+", "-", "@", "\t", "\r", "\n")


def _cell(text: str) -> str:
    """A cell from a measurement, kept from running as a spreadsheet formula (as
    ``lightsout.api.exports.safe_cell`` does for the API's exports)."""
    return "'" + text if text.startswith(_RISKY) else text


def blocking_csv_row(event: BlockingEvent, outage_columns: list[str]) -> list[str]:
    """One row under ``outage_columns + BLOCKING_CSV_COLUMNS``."""
    known = {
        "kind": "blocking",
        "scope": "network",
        "entity_id": f"network/AS{event.asn}" if event.asn is not None else "",
        "country_code": event.country or "",
        "start": event.start.isoformat(),
        "end": event.end.isoformat() if event.end else "",
    }
    return [known.get(name, "") for name in outage_columns] + [
        _cell(event.target),
        event.method.value,
        str(event.asn) if event.asn is not None else "",
        event.test_name,
        event.last_blocked.isoformat(),
        str(event.measurements),
        event.fingerprint or "",
        _cell(event.statement()),
    ]
