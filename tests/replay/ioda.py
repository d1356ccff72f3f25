"""IODA's API v2, replayed from ``../shared/data/api-samples/ioda/recorded`` and Iraq's August 2023
series (``../shared/data/ioda/iraq-2023-08-exams``, written in the API's own shape; see those READMEs).

``/v2/signals/raw/{type}/{codes}?from=&until=&datasource=`` answers, for each requested code, the
recorded series of that datasource cut to the bins in ``[from, until)`` (value *i* at
``from + i*step``, as the API lays them out), in the API's envelope; ``from``/``until`` missing is the
API's parameter error. ``/v2/entities/query?entityType=region&relatedTo=country/NZ`` answers the
recorded regions of New Zealand.
``/v2/outages/events?from=&until=&entityType=&entityCode=&format=ioda`` answers the recorded events
(format=ioda) of those entities that overlap the window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .server import Reply, Request

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RECORDED = DATA / "api-samples" / "ioda" / "recorded"
IRAQ = DATA / "ioda" / "iraq-2023-08-exams" / "signals-raw-country-IQ-2023-08-20_2023-08-30.json"
COPYRIGHT = "This data is Copyright (c) 2021-2025 Georgia Tech Research Corporation. All Rights Reserved."
SIGNAL_FILES = (
    "country-bgp",
    "country-ping-slash24",
    "country-merit-nt",
    "nz-gtr-norm",
    "asn-bgp",
    "region-bgp",
)


def _envelope(kind: str, data: Any, error: str | None = None) -> Reply:
    return Reply.json(
        {"type": kind, "error": error, "data": data, "copyright": COPYRIGHT}, 400 if error else 200
    )


class IodaReplay:
    def __init__(self) -> None:
        self.series: list[dict[str, Any]] = []
        for name in SIGNAL_FILES:
            for group in json.loads((RECORDED / f"{name}.json").read_text())["data"]:
                self.series.extend(group)
        for group in json.loads(IRAQ.read_text())["data"]:
            self.series.extend(group)
        self.events: list[dict[str, Any]] = json.loads((RECORDED / "country-events.json").read_text())["data"]
        self.regions: list[dict[str, Any]] = json.loads((RECORDED / "nz-regions.json").read_text())["data"]

    def __call__(self, request: Request) -> Reply | None:
        if request.path.startswith("/v2/signals/raw/"):
            return self._signals(request)
        if request.path == "/v2/outages/events":
            return self._events(request)
        if request.path == "/v2/entities/query":
            return self._entities(request)
        return None

    def _entities(self, request: Request) -> Reply:
        """Regions of a country (``entityType=region&relatedTo=country/NZ``), from the recording."""
        if request.arg("entityType") != "region":
            return _envelope("entities.lookup", [])
        country = (request.arg("relatedTo") or "").removeprefix("country/").upper()
        rows = [r for r in self.regions if r["attrs"].get("country_code") == country]
        return _envelope("entities.lookup", rows)

    @staticmethod
    def _span(request: Request) -> tuple[int, int] | None:
        try:
            return int(request.arg("from") or ""), int(request.arg("until") or "")
        except ValueError:
            return None

    def _signals(self, request: Request) -> Reply:
        kind, _, codes = request.path.removeprefix("/v2/signals/raw/").partition("/")
        span = self._span(request)
        if span is None:
            return _envelope("signals", None, "Invalid parameters: from and until are required")
        start, stop = span
        datasource = request.arg("datasource")
        data = []
        for code in codes.split(","):
            group = []
            for s in self.series:
                if s["entityType"] != kind or s["entityCode"].upper() != code.upper():
                    continue
                if datasource and s["datasource"] != datasource:
                    continue
                step = s["step"]
                first = max(0, -(-(start - s["from"]) // step))
                last = min(len(s["values"]), -(-(stop - s["from"]) // step))
                if last <= first:
                    continue
                cut = dict(s, values=s["values"][first:last])
                cut["from"], cut["until"] = s["from"] + first * step, s["from"] + last * step
                group.append(cut)
            if group:
                data.append(group)
        return _envelope("signals", data)

    def _events(self, request: Request) -> Reply:
        span = self._span(request)
        if span is None:
            return _envelope("outages.events", None, "Invalid parameters: from and until are required")
        start, stop = span
        kind = request.arg("entityType")
        codes = {c.upper() for c in (request.arg("entityCode") or "").split(",") if c}
        data = [
            e
            for e in self.events
            if (kind is None or e["entity"]["type"] == kind)
            and (not codes or e["entity"]["code"].upper() in codes)
            and e["from"] < stop
            and e["until"] > start
        ]
        return _envelope("outages.events", data)
