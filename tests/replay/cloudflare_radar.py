"""Cloudflare Radar's API, replayed for the connector's tests.

No complete recording of Radar exists (``../shared/data/api-samples/cloudflare-radar/README.md``):

* ``/client/v4/radar/annotations/outages`` answers the annotations quoted in Cloudflare's docs
  (``docs-quoted/annotations-outages-limit=5-dateRange=7d-2022-11.json``, two real outages of 2022)
  that overlap ``[dateStart, dateEnd)``, in the documented envelope.
* ``/client/v4/radar/http/timeseries?location=IQ`` is DERIVED: Google's traffic to Iraq as IODA
  recorded it (``gtr-norm`` of ``../shared/data/ioda/iraq-2023-08-exams``, 5-minute values averaged
  into hours), laid out as Radar lays out its answers (``timestamps``, numeric-string ``values``,
  ``meta.aggInterval``) and normalised the way Radar's ``MIN0_MAX`` is: each answer divided by its
  own maximum. ``underlying`` holds the hourly values, so a test can check what the connector makes
  of answers on different scales.

Every request must carry ``Authorization: Bearer <token>`` (else HTTP 403 with Radar's error
envelope), as the real API requires.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .server import Reply, Request

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ANNOTATIONS = (
    DATA / "api-samples/cloudflare-radar/docs-quoted/annotations-outages-limit=5-dateRange=7d-2022-11.json"
)
IRAQ = DATA / "ioda" / "iraq-2023-08-exams" / "signals-raw-country-IQ-2023-08-20_2023-08-30.json"
PREFIX = "/client/v4/radar"


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _error(status: int, code: int, message: str) -> Reply:
    return Reply.json(
        {"success": False, "errors": [{"code": code, "message": message}], "result": None}, status
    )


def hourly_iraq_traffic() -> dict[int, float]:
    """epoch of the hour -> mean of IODA's 5-minute ``gtr-norm`` values in it (12 per hour)."""
    series = next(s for g in json.loads(IRAQ.read_text())["data"] for s in g if s["datasource"] == "gtr-norm")
    hours: dict[int, list[float]] = {}
    for i, value in enumerate(series["values"]):
        if value is not None:
            when = series["from"] + i * series["step"]
            hours.setdefault(when - when % 3600, []).append(value)
    return {hour: sum(v) / len(v) for hour, v in sorted(hours.items()) if len(v) == 12}


class RadarReplay:
    def __init__(self, token: str) -> None:
        self.token = token
        self.annotations: list[dict[str, Any]] = json.loads(ANNOTATIONS.read_text())["result"]["annotations"]
        self.underlying = {"IQ": hourly_iraq_traffic()}

    def __call__(self, request: Request) -> Reply | None:
        if not request.path.startswith(PREFIX):
            return None
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(403, 10000, "Authentication error")
        if request.path == f"{PREFIX}/annotations/outages":
            return self._annotations(request)
        if request.path == f"{PREFIX}/http/timeseries":
            return self._timeseries(request)
        return _error(404, 7003, "Not found")

    def _annotations(self, request: Request) -> Reply:
        start, end = _time(request.arg("dateStart")), _time(request.arg("dateEnd"))
        limit = int(request.arg("limit") or "5")
        rows = [
            a
            for a in self.annotations
            if (end is None or _time(a["startDate"]) < end)  # type: ignore[operator]
            and (start is None or a["endDate"] is None or _time(a["endDate"]) > start)  # type: ignore[operator]
        ]
        return Reply.json({"success": True, "errors": [], "result": {"annotations": rows[:limit]}})

    def _timeseries(self, request: Request) -> Reply:
        """One series per ``name`` (``location``/``dateStart``/``dateEnd`` by position), normalised
        together: MIN0_MAX over every series of the request, as Radar does (see the module doc)."""
        names = request.query.get("name") or ["serie_0"]
        locations, starts, ends = (request.query.get(k, []) for k in ("location", "dateStart", "dateEnd"))
        if request.arg("aggInterval") != "1h" or not (
            len(names) == len(locations) == len(starts) == len(ends)
        ):
            return _error(400, 2001, "Input Validation Error")
        picked: dict[str, list[tuple[int, float]]] = {}
        for name, location, start_text, end_text in zip(names, locations, starts, ends, strict=True):
            start, end = _time(start_text), _time(end_text)
            if start is None or end is None:
                return _error(400, 2001, "Input Validation Error")
            hours = self.underlying.get(location.upper(), {})
            picked[name] = [(t, v) for t, v in hours.items() if start.timestamp() <= t < end.timestamp()]
        top = max((v for series in picked.values() for _, v in series), default=1.0)
        result: dict[str, Any] = {
            name: {
                "timestamps": [
                    datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t, _ in series
                ],
                "values": [f"{v / top:.6f}" for _, v in series],
            }
            for name, series in picked.items()
        }
        result["meta"] = {"aggInterval": "ONE_HOUR", "normalization": "MIN0_MAX"}
        return Reply.json({"success": True, "errors": [], "result": result})
