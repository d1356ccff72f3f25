"""Typed observations of one OONI measurement: what the probe saw, one record per operation.

``make_observations(measurement)`` reads ``OoniMeasurement.raw_json`` of the tests Lightsout
analyses (``web_connectivity`` 0.0-0.5, ``whatsapp``, ``telegram``, ``signal``,
``facebook_messenger``) into frozen records (defined in :mod:`lightsout.apps.records`):

* :class:`DnsObservation` - one lookup (``test_keys.queries[]``): host, resolver, answers, failure;
* :class:`TcpObservation` - one connect (``test_keys.tcp_connect[]``): ip, port, failure;
* :class:`TlsObservation` - one handshake (``test_keys.tls_handshakes[]``): endpoint, SNI, failure;
* :class:`HttpObservation` - one request (``test_keys.requests[]``): URL, status, body length,
  title, headers, failure, truncation, whether the body came base64-encoded or is binary;
* :class:`WebControl` - what Web Connectivity's test helper saw (``test_keys.control``).

Field names are translated once here (``code`` -> ``status``, ``tags: ["depth=1"]`` -> ``depth``).
Nothing raises on bad input: a missing key, a null, a wrong type or undecodable base64 gives
``None`` fields and a line in ``Observations.problems``. A test name or version outside the list
above gives ``Observations.unsupported`` (the reason) and no records.

Web Connectivity 0.5 tags each record with the redirect ``depth`` and with ``classic`` when it
follows the system resolver's addresses (the path a browser takes); 0.4 and older have no tags:
their requests are listed last-first, so depth is counted from the end of the list.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from dataclasses import dataclass

from lightsout.apps import _json as js
from lightsout.apps.netaddr import is_number, normalise_host, split_endpoint, url_host
from lightsout.apps.records import (
    ENCRYPTED_ENGINES,
    SYSTEM_ENGINES,
    BodyFormat,
    ControlAddress,
    ControlEndpoint,
    ControlHttp,
    DnsAnswer,
    DnsObservation,
    HttpObservation,
    Observations,
    TcpObservation,
    TlsObservation,
    WebControl,
)
from lightsout.model import OoniMeasurement

# The records are defined in lightsout.apps.records and named here too, where they are made.
__all__ = [
    "ENCRYPTED_ENGINES",
    "SUPPORTED_TESTS",
    "SYSTEM_ENGINES",
    "BodyFormat",
    "ControlAddress",
    "ControlEndpoint",
    "ControlHttp",
    "DnsAnswer",
    "DnsObservation",
    "HttpObservation",
    "Observations",
    "TcpObservation",
    "TlsObservation",
    "WebControl",
    "make_observations",
    "parse_version",
]

# test name -> newest major.minor version whose data format this module knows.
SUPPORTED_TESTS: dict[str, tuple[int, int]] = {
    "web_connectivity": (0, 5),
    "whatsapp": (0, 99),
    "telegram": (0, 99),
    "signal": (0, 99),
    "facebook_messenger": (0, 99),
}
_TITLE = re.compile(r"<title>([^<]{1,512})</title>", re.IGNORECASE)


def make_observations(measurement: OoniMeasurement) -> Observations:
    """Parse ``measurement.raw_json``; never raises (see the module docstring)."""
    try:
        raw = json.loads(measurement.raw_json)
    except (ValueError, RecursionError):
        return _observations(measurement, None, None, "raw_json is not valid JSON")
    record = js.obj(raw)
    if record is None:
        return _observations(measurement, None, None, "raw_json is not a JSON object")
    software = (
        " ".join(
            part
            for part in (js.text(record.get("software_name")), js.text(record.get("software_version")))
            if part
        )
        or None
    )
    engine_version = js.text(js.get(record, "annotations", "engine_version"))
    reason = _unsupported_reason(measurement.test_name, measurement.test_version)
    if reason is not None:
        return _identified(_observations(measurement, software, engine_version, reason), record)
    test_keys = js.obj(record.get("test_keys"))
    if test_keys is None:
        missing = "test_keys is missing or not an object"
        return _identified(_observations(measurement, software, engine_version, missing), record)
    records = _Parser(measurement, test_keys).parse()
    return _identified(_observations(measurement, software, engine_version, None, records), record)


def _identified(obs: Observations, record: js.JsonObject) -> Observations:
    """``obs`` with OONI's identity of the measurement and the probe's network check, when present."""
    return dataclasses.replace(
        obs,
        report_id=js.text(record.get("report_id")) or None,
        measurement_uid=js.text(record.get("measurement_uid")) or None,
        network_check=js.text(js.get(record, "annotations", "lightsout_network_check")) or None,
        network_check_reason=js.text(js.get(record, "annotations", "lightsout_network_check_reason")) or None,
    )


@dataclass(frozen=True, slots=True)
class _Records:
    dns: tuple[DnsObservation, ...] = ()
    tcp: tuple[TcpObservation, ...] = ()
    tls: tuple[TlsObservation, ...] = ()
    http: tuple[HttpObservation, ...] = ()
    control: WebControl | None = None
    problems: tuple[str, ...] = ()
    uses_classic_tags: bool = False


def _observations(
    m: OoniMeasurement,
    software: str | None,
    engine_version: str | None,
    unsupported: str | None,
    records: _Records = _Records(),
) -> Observations:
    return Observations(
        measurement_id=m.measurement_id,
        test_name=m.test_name,
        test_version=m.test_version,
        input=m.input,
        probe_cc=m.probe_cc,
        probe_asn=m.probe_asn,
        start=m.measurement_start,
        software=software,
        engine_version=engine_version,
        unsupported=unsupported,
        dns=records.dns,
        tcp=records.tcp,
        tls=records.tls,
        http=records.http,
        control=records.control,
        problems=records.problems,
        uses_classic_tags=records.uses_classic_tags,
    )


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``"0.5.28"`` -> (0, 5, 28); None when it is not dotted numbers."""
    if not text:
        return None
    parts = text.strip().split(".")
    if not all(is_number(part) for part in parts):
        return None
    return tuple(int(part) for part in parts)


def _unsupported_reason(test_name: str, test_version: str | None) -> str | None:
    newest = SUPPORTED_TESTS.get(test_name)
    if newest is None:
        known = ", ".join(sorted(SUPPORTED_TESTS))
        return f"test {test_name!r} is not analysed (analysed: {known})"
    version = parse_version(test_version)
    if version is None:
        return f"{test_name}: test_version {test_version!r} is not a version number"
    if version[:2] > newest:
        known = f"{newest[0]}.{newest[1]}"
        return f"{test_name} {test_version}: newer than the data formats known here (up to {known})"
    return None


@dataclass(frozen=True, slots=True)
class _Tags:
    depth: int | None
    classic: bool
    fetch_body: bool | None


def _tags(value: object) -> _Tags:
    depth: int | None = None
    classic = False
    fetch_body: bool | None = None
    for tag in js.items(value):
        if not isinstance(tag, str):
            continue
        if tag == "classic":
            classic = True
        elif tag.startswith("depth=") and is_number(tag[6:]):
            depth = int(tag[6:])
        elif tag in ("fetch_body=true", "fetch_body=false"):
            fetch_body = tag == "fetch_body=true"
    return _Tags(depth, classic, fetch_body)


class _Parser:
    def __init__(self, measurement: OoniMeasurement, test_keys: js.JsonObject) -> None:
        self.measurement = measurement
        self.tk = test_keys
        self.problems: list[str] = []
        self.any_classic = False

    def parse(self) -> _Records:
        dns = tuple(self._dns())
        tcp = tuple(self._tcp())
        tls = tuple(self._tls())
        http = tuple(self._http())
        control = self._control() if self.measurement.test_name == "web_connectivity" else None
        return _Records(dns, tcp, tls, http, control, tuple(self.problems), self.any_classic)

    def _entries(self, key: str) -> list[tuple[int, js.JsonObject]]:
        value = self.tk.get(key)
        if value is not None and not isinstance(value, list):
            self.problems.append(f"test_keys.{key}: not a list")
        found = []
        for index, item in enumerate(js.items(value)):
            entry = js.obj(item)
            if entry is None:
                self.problems.append(f"test_keys.{key}[{index}]: not an object")
                continue
            found.append((index, entry))
        return found

    def _note_tags(self, tags: _Tags) -> None:
        self.any_classic = self.any_classic or tags.classic

    # -- DNS -------------------------------------------------------------------------------

    def _dns(self) -> list[DnsObservation]:
        input_host = url_host(self.measurement.input)
        found = []
        for index, entry in self._entries("queries"):
            tags = _tags(entry.get("tags"))
            self._note_tags(tags)
            hostname = js.text(entry.get("hostname"))
            host = normalise_host(hostname) if hostname else None
            depth = tags.depth
            if depth is None and host is not None and host == input_host:
                depth = 0  # 0.4 and older resolve the input's host first and tag nothing
            answers = []
            for answer_index, item in enumerate(js.items(entry.get("answers"))):
                answer = _answer(item)
                if answer is None:
                    self.problems.append(
                        f"test_keys.queries[{index}].answers[{answer_index}]: no address or name"
                    )
                    continue
                answers.append(answer)
            resolver = (
                js.text(entry.get("resolver_address")) or js.text(entry.get("resolver_hostname")) or None
            )
            found.append(
                DnsObservation(
                    hostname=host,
                    query_type=js.text(entry.get("query_type")),
                    engine=js.text(entry.get("engine")),
                    resolver=resolver,
                    answers=tuple(answers),
                    failure=_failure(entry.get("failure")),
                    depth=depth,
                    transaction_id=js.integer(entry.get("transaction_id")),
                    classic=tags.classic,
                )
            )
        return found

    # -- TCP / TLS ---------------------------------------------------------------------------

    def _tcp(self) -> list[TcpObservation]:
        found = []
        for index, entry in self._entries("tcp_connect"):
            ip = js.text(entry.get("ip"))
            port = js.integer(entry.get("port"))
            if ip is None or port is None:
                self.problems.append(f"test_keys.tcp_connect[{index}]: no ip or port")
                continue
            status = js.obj(entry.get("status"))
            if status is None:
                self.problems.append(f"test_keys.tcp_connect[{index}]: no status")
            failure = _failure(js.get(status, "failure"))
            success = js.boolean(js.get(status, "success"))
            if success is None:
                success = status is not None and failure is None
            elif success and failure is not None:
                success = False  # contradictory record: trust the failure
            if not success and failure is None:
                failure = "unknown_failure: connect did not succeed"
            tags = _tags(entry.get("tags"))
            self._note_tags(tags)
            found.append(
                TcpObservation(
                    ip=ip.strip("[]"),
                    port=port,
                    failure=failure,
                    success=success,
                    depth=tags.depth,
                    transaction_id=js.integer(entry.get("transaction_id")),
                    classic=tags.classic,
                    fetch_body=tags.fetch_body,
                )
            )
        return found

    def _tls(self) -> list[TlsObservation]:
        found = []
        for _index, entry in self._entries("tls_handshakes"):
            endpoint = split_endpoint(js.text(entry.get("address")))
            server_name = js.text(entry.get("server_name"))
            tags = _tags(entry.get("tags"))
            self._note_tags(tags)
            found.append(
                TlsObservation(
                    ip=endpoint[0] if endpoint else None,
                    port=endpoint[1] if endpoint else None,
                    server_name=normalise_host(server_name) if server_name else None,
                    failure=_failure(entry.get("failure")),
                    no_tls_verify=js.boolean(entry.get("no_tls_verify")) is True,
                    depth=tags.depth,
                    transaction_id=js.integer(entry.get("transaction_id")),
                    classic=tags.classic,
                    fetch_body=tags.fetch_body,
                )
            )
        return found

    # -- HTTP ------------------------------------------------------------------------------

    def _http(self) -> list[HttpObservation]:
        entries = self._entries("requests")
        count = len(js.items(self.tk.get("requests")))
        found = []
        for index, entry in entries:
            request = js.obj(entry.get("request"))
            response = js.obj(entry.get("response"))
            request_headers = _headers(js.get(request, "headers_list"), js.get(request, "headers"))
            url = js.text(js.get(request, "url"))
            if url is None:
                host = next((value for name, value in request_headers if name.lower() == "host"), None)
                if host:
                    url = f"http://{host}/"
                    self.problems.append(f"test_keys.requests[{index}]: no URL; rebuilt from the Host header")
                else:
                    self.problems.append(f"test_keys.requests[{index}]: no URL")
            status = js.integer(js.get(response, "code"))
            body, body_format = _body(js.get(response, "body"))
            if body_format is BodyFormat.MALFORMED:
                self.problems.append(f"test_keys.requests[{index}].response.body: not text nor valid base64")
            body_text = body.decode("utf-8", errors="replace") if body is not None else None
            match = _TITLE.search(body_text) if body_text else None
            tags = _tags(entry.get("tags"))
            self._note_tags(tags)
            found.append(
                HttpObservation(
                    url=url,
                    status=status if status and status > 0 else None,
                    failure=_failure(entry.get("failure")),
                    body_length=len(body) if body is not None else None,
                    body_is_truncated=js.boolean(js.get(response, "body_is_truncated")),
                    body_format=body_format,
                    body_is_binary=body is not None and _is_binary(body),
                    title=match.group(1).strip() if match else None,
                    headers=_headers(js.get(response, "headers_list"), js.get(response, "headers")),
                    depth=tags.depth if tags.depth is not None else count - 1 - index,
                    transaction_id=js.integer(entry.get("transaction_id")),
                    classic=tags.classic,
                    body=body,
                )
            )
        return found

    # -- control ---------------------------------------------------------------------------

    def _control(self) -> WebControl | None:
        control = js.obj(self.tk.get("control"))
        failure = _failure(self.tk.get("control_failure"))
        if control is None:
            if failure is None:
                return None
            return WebControl(failure, None, None, (), None, ())
        dns = js.obj(control.get("dns"))
        dns_addresses: tuple[str, ...] | None = None
        if dns is not None:
            addrs = js.get(dns, "addrs")
            dns_addresses = tuple(a for a in js.items(addrs) if isinstance(a, str))
        tls_by_endpoint: dict[tuple[str, int], tuple[bool | None, str | None]] = {}
        for address, item in (js.obj(control.get("tls_handshake")) or {}).items():
            endpoint = split_endpoint(address)
            result = js.obj(item)
            if endpoint is None or result is None:
                continue
            tls_by_endpoint[endpoint] = (js.boolean(result.get("status")), _failure(result.get("failure")))
        endpoints = []
        for address, item in (js.obj(control.get("tcp_connect")) or {}).items():
            endpoint = split_endpoint(address)
            result = js.obj(item)
            if endpoint is None or result is None:
                self.problems.append(f"test_keys.control.tcp_connect[{address!r}]: not an endpoint result")
                continue
            tls_success, tls_failure = tls_by_endpoint.get(endpoint, (None, None))
            endpoints.append(
                ControlEndpoint(
                    ip=endpoint[0],
                    port=endpoint[1],
                    tcp_success=js.boolean(result.get("status")),
                    tcp_failure=_failure(result.get("failure")),
                    tls_success=tls_success,
                    tls_failure=tls_failure,
                )
            )
        http = js.obj(control.get("http_request"))
        control_http = None
        if http is not None and (http.get("status_code") is not None or http.get("failure") is not None):
            headers = js.obj(http.get("headers")) or {}
            length = js.integer(http.get("body_length"))
            control_http = ControlHttp(
                failure=_failure(http.get("failure")),
                status=js.integer(http.get("status_code")),
                body_length=length if length is not None and length >= 0 else None,
                title=js.text(http.get("title")),
                header_names=frozenset(str(k).lower() for k in headers),
            )
        addresses = []
        for ip, item in (js.obj(control.get("ip_info")) or {}).items():
            info = js.obj(item)
            if info is None:
                continue
            flags = js.integer(info.get("flags")) or 0
            asn = js.integer(info.get("asn"))
            addresses.append(
                ControlAddress(
                    ip=ip,
                    asn=asn if asn else None,
                    resolved_by_probe=bool(flags & 1),
                    resolved_by_control=bool(flags & 2),
                    bogon=bool(flags & 4),
                    valid_for_domain=bool(flags & 8),
                )
            )
        return WebControl(
            failure=failure,
            dns_failure=_failure(js.get(dns, "failure")),
            dns_addresses=dns_addresses,
            endpoints=tuple(endpoints),
            http=control_http,
            addresses=tuple(addresses),
        )


def _failure(value: object) -> str | None:
    """OONI failure strings; an empty string or a non-string reads as no failure."""
    return value if isinstance(value, str) and value else None


def _answer(value: object) -> DnsAnswer | None:
    answer = js.obj(value)
    if answer is None:
        return None
    for key in ("ipv4", "ipv6", "hostname"):
        found = js.text(answer.get(key))
        if found:
            asn = js.integer(answer.get("asn"))
            return DnsAnswer(
                answer_type=js.text(answer.get("answer_type")) or {"ipv4": "A", "ipv6": "AAAA"}.get(key),
                value=found,
                asn=asn if asn else None,
                as_org=js.text(answer.get("as_org_name")),
            )
    return None


def _body(value: object) -> tuple[bytes | None, BodyFormat]:
    if value is None:
        return None, BodyFormat.ABSENT
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass"), BodyFormat.TEXT
    encoded = js.obj(value)
    data = js.text(js.get(encoded, "data"))
    if encoded is not None and encoded.get("format") == "base64" and data is not None:
        try:
            return base64.b64decode(data, validate=True), BodyFormat.BASE64
        except (binascii.Error, ValueError):
            return None, BodyFormat.MALFORMED
    return None, BodyFormat.MALFORMED


def _is_binary(body: bytes) -> bool:
    if b"\x00" in body:
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _header_value(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # some old probes wrote a list of values
        first = next((v for v in value if isinstance(v, str)), None)
        return first
    encoded = js.obj(value)
    data = js.text(js.get(encoded, "data"))
    if encoded is not None and encoded.get("format") == "base64" and data is not None:
        try:
            return base64.b64decode(data, validate=True).decode("latin-1")
        except (binascii.Error, ValueError):
            return None
    return None


def _headers(headers_list: object, headers: object) -> tuple[tuple[str, str], ...]:
    """``headers_list`` ([[name, value], ...]) when present, else the ``headers`` object."""
    found: list[tuple[str, str]] = []
    if isinstance(headers_list, list):
        for pair in headers_list:
            if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str):
                value = _header_value(pair[1])
                if value is not None:
                    found.append((pair[0], value))
        if found or not js.obj(headers):
            return tuple(found)
    for name, raw in (js.obj(headers) or {}).items():
        value = _header_value(raw)
        if value is not None:
            found.append((str(name), value))
    return tuple(found)
