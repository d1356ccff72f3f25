"""Compare the page the probe got with the control's: status, body size, headers, title.

The checks of Web Connectivity (ooni/probe-cli ``analysishttpdiff.go``, measurement-kit before it):
the pages are the same when the status codes match and at least one of body length (within 70%),
uncommon header names, or title words match. Each check is ``None`` when it cannot be made
(no control status, a truncated or undecodable body, no headers or no title on either side).
"""

from __future__ import annotations

from dataclasses import dataclass

from lightsout.apps.observations import ControlHttp, HttpObservation

BODY_PROPORTION_MATCH = 0.7
TITLE_MIN_WORD = 5  # characters; shorter words are not compared

# Headers most servers send: sharing them says nothing about being the same site.
COMMON_HEADERS = frozenset(
    {
        "date",
        "content-type",
        "server",
        "cache-control",
        "vary",
        "set-cookie",
        "location",
        "expires",
        "x-powered-by",
        "content-encoding",
        "last-modified",
        "accept-ranges",
        "pragma",
        "x-frame-options",
        "etag",
        "x-content-type-options",
        "age",
        "via",
        "p3p",
        "x-xss-protection",
        "content-language",
        "cf-ray",
        "strict-transport-security",
        "link",
        "x-varnish",
    }
)


@dataclass(frozen=True, slots=True)
class HttpComparison:
    status_match: bool | None
    body_proportion: float | None  # smaller / larger body length
    headers_match: bool | None
    uncommon_headers_shared: frozenset[str]
    title_match: bool | None
    title_words_differing: frozenset[str]

    @property
    def body_length_match(self) -> bool | None:
        return None if self.body_proportion is None else self.body_proportion > BODY_PROPORTION_MATCH

    @property
    def differs(self) -> bool:
        if self.status_match is not True:
            return True
        return not (self.body_length_match or self.headers_match or self.title_match)

    def describe(self) -> str:
        parts = []
        if self.status_match is False:
            parts.append("status differs")
        if self.body_proportion is not None:
            parts.append(f"body size ratio {self.body_proportion:.2f}")
        if self.headers_match is not None:
            parts.append("uncommon headers " + ("shared" if self.headers_match else "not shared"))
        if self.title_match is not None:
            parts.append("title " + ("matches" if self.title_match else "differs"))
        return ", ".join(parts) or "nothing comparable"


def compare_http(probe: HttpObservation, control: ControlHttp) -> HttpComparison:
    status_match: bool | None = None
    if probe.status and control.status and control.status > 0:
        same = probe.status == control.status
        # a failing control (non-2xx) that differs from the probe says nothing either way
        status_match = same if same or control.status // 100 == 2 else None

    proportion: float | None = None
    if (
        probe.body_length
        and control.body_length
        and probe.body_is_truncated is not True
        and probe.body_length > 0
        and control.body_length > 0
    ):
        small, large = sorted((probe.body_length, control.body_length))
        proportion = small / large

    headers_match: bool | None = None
    shared: frozenset[str] = frozenset()
    ours, theirs = probe.header_names, control.header_names
    if ours and theirs:
        shared = (ours - COMMON_HEADERS) & (theirs - COMMON_HEADERS)
        headers_match = ours == theirs or bool(shared)

    title_match: bool | None = None
    differing: frozenset[str] = frozenset()
    if probe.title and control.title and probe.body_is_truncated is not True:
        mine = _long_words(probe.title)
        other = _long_words(control.title)
        differing = mine ^ other
        title_match = not differing

    return HttpComparison(status_match, proportion, headers_match, shared, title_match, differing)


def _long_words(title: str) -> frozenset[str]:
    return frozenset(word.lower() for word in title.split(" ") if len(word) >= TITLE_MIN_WORD)
