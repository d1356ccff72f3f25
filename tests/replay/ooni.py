"""The OONI API, replayed from ``../shared/data/api-samples/ooni`` (recorded by OONI Explorer's own
record/replay helper; see that folder's README for provenance, formats and terms).

``/api/v1/measurements`` is answered from the pool of every recorded measurement row (the three
recorded listings, plus one row per recorded ``measurement_meta``), filtered, ordered and paged the
way the real API does it: ``probe_cc``, ``probe_asn``, ``test_name``, ``since``/``until`` (date or
date-time; a span over 180 days is HTTP 400 as in the real API), ``order_by=measurement_start_time``,
``order`` asc|desc, ``offset``/``limit``, ``metadata.next_url`` pointing at ``api.ooni.io`` (as the real
one does) and null on the last page. ``/api/v1/measurement_meta?measurement_uid=...&full=true``
answers the recorded body, or ``{"raw_measurement": ""}`` for an unknown uid (as recorded).

``release_until`` holds back rows that started later, so a test can make measurements "arrive"
while the service runs.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .server import Reply, Request

DATA = Path(os.environ.get("LIGHTSOUT_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
DEFAULT_DIR = DATA / "api-samples" / "ooni"
MAX_SPAN = timedelta(days=180)


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class OoniReplay:
    def __init__(self, data_dir: Path = DEFAULT_DIR) -> None:
        self.data_dir = data_dir
        self.meta: dict[str, bytes] = {}
        rows: dict[str, dict[str, Any]] = {}
        for path in sorted((data_dir / "bodies").glob("measurements__*.body.json")):
            for row in json.loads(path.read_bytes())["results"]:
                rows[row["measurement_uid"]] = row
        for path in sorted((data_dir / "bodies").glob("measurement_meta__*.body.json")):
            body = path.read_bytes()
            meta = json.loads(body)
            uid = meta.get("measurement_uid")
            if not uid:
                continue
            self.meta[uid] = body
            rows[uid] = _listing_row(meta)
        self.rows = sorted(rows.values(), key=lambda r: (r["measurement_start_time"], r["measurement_uid"]))
        self.release_until: datetime | None = None

    def __call__(self, request: Request) -> Reply | None:
        if request.path == "/api/v1/measurements":
            return self._measurements(request)
        if request.path == "/api/v1/measurement_meta":
            uid = request.arg("measurement_uid")
            if not uid and not request.arg("report_id"):
                return Reply.json({"detail": "Either report_id or measurement_uid must be provided"}, 400)
            return Reply(200, self.meta.get(uid or "", b'{"raw_measurement":""}'))
        return None

    def _measurements(self, request: Request) -> Reply:
        try:
            until = _time(request.arg("until") or datetime.now(UTC).date().isoformat())
            since = _time(request.arg("since") or (until - timedelta(days=30)).isoformat())
            offset = int(request.arg("offset") or 0)
            limit = int(request.arg("limit") or 100)
        except ValueError as exc:
            return Reply.json({"detail": f"bad parameter: {exc}"}, 400)
        if until - since > MAX_SPAN:
            return Reply.json({"detail": "Time range must not exceed 6 months (180 days)"}, 400)
        filters = {name: request.arg(name) for name in ("probe_cc", "probe_asn", "test_name")}
        selected = [
            r
            for r in self.rows
            if since <= _time(r["measurement_start_time"]) <= until
            and (self.release_until is None or _time(r["measurement_start_time"]) <= self.release_until)
            and all(value is None or str(r[name]) == value for name, value in filters.items())
        ]
        if request.arg("order") != "asc":
            selected.reverse()
        page = selected[offset : offset + limit]
        more = offset + limit < len(selected)
        query = {k: v[-1] for k, v in request.query.items()}
        query["offset"] = str(offset + limit)
        next_url = f"https://api.ooni.io/api/v1/measurements?{urllib.parse.urlencode(query)}"
        metadata = {
            "count": -1,
            "current_page": offset // max(limit, 1) + 1,
            "limit": limit,
            "next_url": next_url if more else None,
            "offset": offset,
            "pages": -1,
            "query_time": 0.001,
        }
        return Reply.json({"metadata": metadata, "results": page})


def _listing_row(meta: dict[str, Any]) -> dict[str, Any]:
    """A ``/measurements`` row for a ``measurement_meta`` record (the listing's own field formats)."""
    start = _time(meta["measurement_start_time"])
    uid = meta["measurement_uid"]
    return {
        "anomaly": meta["anomaly"],
        "confirmed": meta["confirmed"],
        "failure": meta["failure"],
        "input": meta.get("input"),
        "probe_asn": f"AS{meta['probe_asn']}",
        "probe_cc": meta["probe_cc"],
        "report_id": meta["report_id"],
        "scores": json.loads(meta["scores"]) if meta.get("scores") else {},
        "test_name": meta["test_name"],
        "measurement_url": f"https://api.ooni.io/api/v1/raw_measurement?measurement_uid={uid}",
        "measurement_start_time": start.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "measurement_uid": uid,
    }
