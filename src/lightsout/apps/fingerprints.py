"""OONI's blocking fingerprints: known blockpage DNS answers and HTTP responses.

The lists are package data (``data/fingerprints_*.json``, see ``data/README.md``). A match is
*confirming* evidence of blocking only when the fingerprint says so for this probe: its scope is
national (``nat``) or an ISP's (``isp``), or the probe's country is one of its expected countries
(the rule of OONI's fastpath, ``is_confirmed``). Other matches are hints: ``vbw`` (vague blocking
words such as "Access Denied"), filtering products and institutions elsewhere; scope ``fp`` marks
known *false positives* (CDN challenge pages, generic 404s), which clear a suspicious response
rather than convict it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources

from lightsout.apps import _json as js
from lightsout.apps.observations import HttpObservation

_REGEXP_WINDOW = 256 * 1024  # regexp fingerprints look at the first 256 KiB of a body


@dataclass(frozen=True, slots=True)
class Fingerprint:
    name: str
    scope: str  # nat, isp, prod, inst, vbw, fp, ...
    location: str  # "dns", "body", "header.location", ...
    pattern_type: str  # full, prefix, contains, regexp
    pattern: str
    expected_countries: frozenset[str]
    regexp: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def false_positive(self) -> bool:
        return self.scope == "fp"

    def confirms(self, probe_cc: str | None) -> bool:
        """Whether a match is proof of blocking for a probe in ``probe_cc``."""
        if self.false_positive:
            return False
        if probe_cc is not None and probe_cc != "ZZ" and probe_cc in self.expected_countries:
            return True
        return self.scope in ("nat", "isp")

    def describe(self) -> str:
        where = f", {', '.join(sorted(self.expected_countries))}" if self.expected_countries else ""
        return f"{self.name} ({self.scope}{where})"

    def matches_text(self, value: str) -> bool:
        if self.pattern_type == "full":
            return value == self.pattern
        if self.pattern_type == "prefix":
            return value.startswith(self.pattern)
        if self.pattern_type == "contains":
            return self.pattern in value
        if self.regexp is not None:
            return self.regexp.search(value) is not None
        return False

    def matches_body(self, body: bytes) -> bool:
        pattern = self.pattern.encode("utf-8")
        if self.pattern_type == "full":
            return body == pattern
        if self.pattern_type == "prefix":
            return body.startswith(pattern)
        if self.pattern_type == "contains":
            return pattern in body
        if self.regexp is not None:
            return self.regexp.search(body[:_REGEXP_WINDOW].decode("utf-8", errors="replace")) is not None
        return False


class FingerprintDB:
    """DNS and HTTP fingerprints, with the matching rules of OONI's fastpath."""

    def __init__(self, dns: Sequence[Fingerprint], http: Sequence[Fingerprint], skipped: Sequence[str] = ()):
        self._dns: dict[str, list[Fingerprint]] = {}
        for fp in dns:
            self._dns.setdefault(fp.pattern, []).append(fp)
        self._body = [fp for fp in http if fp.location == "body"]
        self._headers = [fp for fp in http if fp.location.startswith("header.")]
        # What match_http compares, prepared once: each body pattern's bytes, each header's name.
        self._body_patterns = [(fp, fp.pattern_type, fp.pattern.encode("utf-8")) for fp in self._body]
        self._header_names = [(fp, fp.location[len("header.") :].lower()) for fp in self._headers]
        self.dns_count = len(dns)
        self.http_count = len(http)
        self.skipped = tuple(skipped)  # records that could not be used, with why

    def match_dns(self, address: str) -> tuple[Fingerprint, ...]:
        return tuple(self._dns.get(address, ()))

    def match_http(self, response: HttpObservation) -> tuple[Fingerprint, ...]:
        """The fingerprints the response matches, body ones first, each list in its order
        (:meth:`Fingerprint.matches_body` and :meth:`Fingerprint.matches_text`, with what they
        compare prepared once per response: this runs for every response of every measurement)."""
        found: list[Fingerprint] = []
        body = response.body
        if body:
            text: str | None = None
            for fp, kind, pattern in self._body_patterns:
                if kind == "full":
                    hit = body == pattern
                elif kind == "prefix":
                    hit = body.startswith(pattern)
                elif kind == "contains":
                    hit = pattern in body
                elif fp.regexp is not None:
                    if text is None:
                        text = body[:_REGEXP_WINDOW].decode("utf-8", errors="replace")
                    hit = fp.regexp.search(text) is not None
                else:
                    hit = False
                if hit:
                    found.append(fp)
        if self._header_names:
            first: dict[str, str] = {}  # as HttpObservation.header: the first of each name
            for key, header in response.headers:
                first.setdefault(key.lower(), header)
            for fp, name in self._header_names:
                value = first.get(name)
                if value is not None and fp.matches_text(value):
                    found.append(fp)
        return tuple(found)


def read_fingerprints(dns_json: bytes, http_json: bytes) -> FingerprintDB:
    """Build the database from the two JSON lists (OONI fastpath format)."""
    skipped: list[str] = []
    dns = list(_parse(dns_json, "dns", skipped))
    http = list(_parse(http_json, "http", skipped))
    return FingerprintDB(
        [fp for fp in dns if fp.location == "dns"], [fp for fp in http if fp.location != "dns"], skipped
    )


@functools.cache
def load_fingerprints() -> FingerprintDB:
    """The fingerprints shipped with Lightsout, read on first use."""
    data = resources.files("lightsout.apps") / "data"
    return read_fingerprints(
        (data / "fingerprints_dns.json").read_bytes(), (data / "fingerprints_http.json").read_bytes()
    )


def _parse(blob: bytes, kind: str, skipped: list[str]) -> Iterable[Fingerprint]:
    try:
        records = json.loads(blob)
    except ValueError as exc:
        skipped.append(f"fingerprints_{kind}.json: not JSON ({exc})")
        return
    for index, item in enumerate(js.items(records)):
        record = js.obj(item)
        name = js.text(js.get(record, "name"))
        pattern = js.text(js.get(record, "pattern"))
        location = js.text(js.get(record, "location_found"))
        pattern_type = js.text(js.get(record, "pattern_type"))
        if record is None or not name or not pattern or not location or not pattern_type:
            skipped.append(f"fingerprints_{kind}.json[{index}]: missing name, pattern or location")
            continue
        regexp = None
        if pattern_type == "regexp":
            try:
                regexp = re.compile(pattern, re.DOTALL)
            except re.error as exc:
                skipped.append(f"{name}: regexp does not compile ({exc})")
                continue
        elif pattern_type not in ("full", "prefix", "contains"):
            skipped.append(f"{name}: unknown pattern_type {pattern_type!r}")
            continue
        countries = js.text(record.get("expected_countries")) or ""
        yield Fingerprint(
            name=name,
            scope=js.text(record.get("scope")) or "",
            location=location.lower(),
            pattern_type=pattern_type,
            pattern=pattern,
            expected_countries=frozenset(c.strip().upper() for c in countries.split(",") if c.strip()),
            regexp=regexp,
        )
