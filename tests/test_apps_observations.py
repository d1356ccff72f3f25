"""Typed observations of real OONI measurements (../shared/data/ooni), and of broken ones.

Expected values were read from the measurement files and from OONI's own minipipeline output
(``minipipeline/observations.json``), not from the parser.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from lightsout.apps.observations import BodyFormat, Observations, make_observations
from lightsout.model import OoniMeasurement
from lightsout.sources.ooni import read_ooni


def _read(path: Path) -> OoniMeasurement:
    parsed = read_ooni(path)
    assert len(parsed.measurements) == 1
    return parsed.measurements[0]


def _synthetic(
    record: dict[str, Any], test_name: str | None = None, version: str | None = "0.4.3"
) -> OoniMeasurement:
    return OoniMeasurement(
        measurement_id="synthetic",
        test_name=test_name or str(record.get("test_name", "web_connectivity")),
        test_version=version,
        probe_cc="IT",
        probe_asn=30722,
        measurement_start=None,
        input=record.get("input") if isinstance(record.get("input"), str) else None,
        raw_json=json.dumps(record),
    )


def _web(test_keys: object, input_url: str = "http://example.org/") -> Observations:
    record = {
        "test_name": "web_connectivity",
        "test_version": "0.4.3",
        "input": input_url,
        "test_keys": test_keys,
    }
    return make_observations(_synthetic(record))


# -- real measurements ---------------------------------------------------------------------------


def test_web_connectivity_05_records(shared_data: Path) -> None:
    obs = make_observations(
        _read(shared_data / "ooni/wc05_qa/tcpBlockingConnectionRefusedWithInconsistentDNS.json")
    )
    assert obs.unsupported is None
    assert obs.uses_classic_tags
    system = [d for d in obs.dns if d.engine == "getaddrinfo"]
    assert [(d.hostname, d.addresses, d.depth, d.classic) for d in system] == [
        ("www.example.org", ("83.224.65.41",), 0, True)
    ]
    assert system[0].answers[0].asn == 30722
    doh = [d for d in obs.dns if d.engine == "doh" and d.query_type == "A"]
    assert doh[0].resolver == "https://dns.google/dns-query" and doh[0].addresses == ("93.184.216.34",)
    assert [(t.endpoint, t.failure, t.classic, t.fetch_body) for t in obs.tcp] == [
        ("83.224.65.41:80", "connection_refused", True, True),
        ("83.224.65.41:443", "connection_refused", True, False),
        ("93.184.216.34:80", None, False, True),
        ("93.184.216.34:443", None, False, False),
    ]
    assert [(t.ip, t.port, t.server_name, t.verified) for t in obs.tls] == [
        ("93.184.216.34", 443, "www.example.org", True)
    ]
    (page,) = obs.http
    assert (page.url, page.status, page.body_length, page.title, page.transaction_id) == (
        "http://www.example.org/",
        200,
        1533,
        "Default Web Page",
        40002,
    )
    assert page.body_format is BodyFormat.TEXT and not page.body_is_binary and page.body_is_truncated is False
    control = obs.control
    assert control is not None and control.usable
    assert control.dns_addresses == ("93.184.216.34",)
    refused = control.endpoint("83.224.65.41", 443)
    assert (
        refused is not None
        and refused.tcp_success is False
        and refused.tcp_failure == "connection_refused_error"
    )
    assert control.http is not None and (control.http.status, control.http.body_length) == (200, 1533)
    assert {(a.ip, a.asn, a.valid_for_domain) for a in control.addresses} == {
        ("83.224.65.41", 30722, False),
        ("93.184.216.34", 15133, True),
    }


def test_web_connectivity_04_redirect_chain_depth_counted_from_the_end(shared_data: Path) -> None:
    # 0.4 lists requests last-first and tags nothing: the blockpage (lamanlabuh) is the final hop
    path = shared_data / "ooni/fastpath/20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json"
    obs = make_observations(_read(path))
    assert not obs.uses_classic_tags
    assert [(h.url, h.status, h.depth) for h in obs.http] == [
        ("http://lamanlabuh.aduankonten.id/", 200, 1),
        ("http://archive.org", 302, 0),
    ]
    assert obs.http[1].location == "http://lamanlabuh.aduankonten.id/"
    assert obs.dns[0].depth == 0 and obs.dns[0].engine == "system"


def test_redirect_depths_and_idna_hosts(shared_data: Path) -> None:
    obs = make_observations(_read(shared_data / "ooni/wc05_qa/idnaWithoutCensorshipLowercase.json"))
    assert sorted((h.depth, h.url, h.status) for h in obs.http) == [
        (0, "http://xn--d1acpjx3f.xn--p1ai/", 308),
        (1, "https://yandex.com/", 308),
        (2, "https://ya.ru/", 200),
    ]
    assert {d.hostname for d in obs.dns if d.depth == 0} == {"xn--d1acpjx3f.xn--p1ai"}


def test_base64_header_is_decoded(shared_data: Path) -> None:
    obs = make_observations(_read(shared_data / "ooni/fastpath/web_connectivity_b64_hdr.json"))
    (response,) = obs.http
    assert response.status == 307 and response.failure == "http_invalid_redirect_url"
    assert response.location is not None
    assert response.location.startswith("http://192.168.22.1/UserCheck/PortalMain?IID=")


def test_base64_body_with_bad_padding_is_malformed_not_a_crash(shared_data: Path) -> None:
    # the fixture's body is {"format": "base64", "data": "aGk"}: invalid padding
    obs = make_observations(_read(shared_data / "ooni/fastpath/web_connectivity_b64_incorrect.json"))
    (response,) = obs.http
    assert response.body_format is BodyFormat.MALFORMED
    assert response.body_length is None and response.body is None and response.status == 200
    assert any("response.body" in problem for problem in obs.problems)


def test_missing_body_and_old_tcp_status(shared_data: Path) -> None:
    obs = make_observations(_read(shared_data / "ooni/fastpath/web_connectivity_no_body.json"))
    (response,) = obs.http
    assert response.body_format is BodyFormat.ABSENT and response.status is None
    assert response.failure is not None and response.failure.startswith("ssl_error")
    # 2019 record: {"status": {"success": true, "blocked": false}} without "failure"
    assert [(t.endpoint, t.success, t.failure) for t in obs.tcp] == [("69.55.227.29:80", True, None)]
    assert obs.control is not None and obs.control.http is not None
    assert obs.control.http.failure == "unknown_error" and obs.control.http.body_length is None


def test_control_failure_makes_the_control_unusable(shared_data: Path) -> None:
    obs = make_observations(_read(shared_data / "ooni/fastpath/web_connectivity_null.json"))
    assert obs.control is not None
    assert obs.control.failure == "connection_refused" and not obs.control.usable


def test_request_without_url_is_rebuilt_from_host(shared_data: Path) -> None:
    obs = make_observations(_read(shared_data / "ooni/fastpath/telegram_nourl.json"))
    urls = [h.url for h in obs.http]
    assert urls[0] == "http://149.154.171.5:443/" and urls[1] == "http://web.telegram.org/"
    assert sum("rebuilt from the Host header" in p for p in obs.problems) == 12
    assert len(obs.tcp) == 12 and all(t.success for t in obs.tcp)


def test_tls_failures_and_engine_version(shared_data: Path) -> None:
    obs = make_observations(_read(shared_data / "ooni/fastpath/signal_2627.json"))
    assert obs.engine_version == "3.14.1" and obs.software == "ooniprobe-desktop-unattended 3.14.1"
    failed = [t for t in obs.tls if t.failure]
    assert len(failed) == 5 and all(t.certificate_error for t in failed)
    assert all(t.ip is None for t in obs.tls)  # this probe version wrote no address


def test_unknown_test_is_unsupported_with_a_reason(shared_data: Path) -> None:
    obs = make_observations(_read(shared_data / "ooni/fastpath/tor.json"))
    assert obs.unsupported is not None and "'tor' is not analysed" in obs.unsupported
    assert obs.dns == () and obs.http == ()


# -- OONI's minipipeline golden output -----------------------------------------------------------


@pytest.fixture(scope="module")
def minipipeline(shared_data: Path) -> tuple[Observations, dict[str, Any]]:
    obs = make_observations(_read(shared_data / "ooni/minipipeline/measurement.json"))
    golden = json.loads((shared_data / "ooni/minipipeline/observations.json").read_text())
    return obs, golden


def test_minipipeline_dns_observations_match(minipipeline: tuple[Observations, dict[str, Any]]) -> None:
    obs, golden = minipipeline
    ours = {(d.transaction_id, d.engine, d.query_type): d for d in obs.dns}
    for expected in golden["DNSLookupSuccesses"]:
        mine = ours[(expected["DNSTransactionID"], expected["DNSEngine"], expected["DNSQueryType"])]
        assert mine.failure is None
        assert list(mine.addresses) == expected["DNSResolvedAddrs"]
        assert mine.hostname == expected["DNSDomain"] and mine.depth == expected["TagDepth"]
        assert {a.asn for a in mine.answers if a.is_address} == {expected["IPAddressASN"]}
    for expected in golden["DNSLookupFailures"]:
        mine = ours[(expected["DNSTransactionID"], expected["DNSEngine"], expected["DNSQueryType"])]
        assert mine.failure == expected["DNSLookupFailure"] and mine.addresses == ()
    assert len(obs.dns) == len(golden["DNSLookupSuccesses"]) + len(golden["DNSLookupFailures"])


def test_minipipeline_endpoint_observations_match(minipipeline: tuple[Observations, dict[str, Any]]) -> None:
    obs, golden = minipipeline
    (expected,) = golden["KnownTCPEndpoints"].values()
    (tcp,) = obs.tcp
    (tls,) = obs.tls
    (http,) = obs.http
    assert (tcp.ip, str(tcp.port), tcp.failure or "") == (
        expected["IPAddress"],
        expected["EndpointPort"],
        expected["TCPConnectFailure"],
    )
    assert (
        tcp.transaction_id == tls.transaction_id == http.transaction_id == expected["EndpointTransactionID"]
    )
    assert (tls.server_name, tls.failure or "") == (
        expected["TLSServerName"],
        expected["TLSHandshakeFailure"],
    )
    assert (http.url, http.failure or "", http.status) == (
        expected["HTTPRequestURL"],
        expected["HTTPFailure"],
        expected["HTTPResponseStatusCode"],
    )
    # body length in bytes of UTF-8, as OONI counts it (the text has 36,504 characters)
    assert http.body_length == expected["HTTPResponseBodyLength"] == 36546
    assert http.body_is_truncated == expected["HTTPResponseBodyIsTruncated"]
    assert http.title == expected["HTTPResponseTitle"]
    assert http.header_names == {name.lower() for name in expected["HTTPResponseHeadersKeys"]}
    control = obs.control
    assert control is not None and control.http is not None
    assert list(control.dns_addresses or ()) == expected["ControlDNSResolvedAddrs"]
    assert control.http.status == expected["ControlHTTPResponseStatusCode"]
    assert control.http.body_length == expected["ControlHTTPResponseBodyLength"]
    assert control.http.title == expected["ControlHTTPResponseTitle"]
    assert control.http.header_names == {name.lower() for name in expected["ControlHTTPResponseHeadersKeys"]}
    endpoint = control.endpoint(tcp.ip, tcp.port)
    assert endpoint is not None and endpoint.tcp_success and endpoint.tls_success


# -- bad input: never an exception ---------------------------------------------------------------


def test_raw_json_that_is_not_json() -> None:
    measurement = OoniMeasurement("x", "web_connectivity", "0.4.3", None, None, None, None, "{not json")
    assert make_observations(measurement).unsupported == "raw_json is not valid JSON"


@pytest.mark.parametrize("test_keys", [None, [], "x", 3])
def test_test_keys_not_an_object(test_keys: object) -> None:
    assert _web(test_keys).unsupported == "test_keys is missing or not an object"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.6.0", "newer than the data formats known here (up to 0.5)"),
        ("1.0", "newer than the data formats known here"),
        ("v0.4", "is not a version number"),
        (None, "is not a version number"),
    ],
)
def test_unknown_versions_are_unsupported(version: str | None, expected: str) -> None:
    record = {"test_name": "web_connectivity", "test_keys": {}}
    obs = make_observations(_synthetic(record, version=version))
    assert obs.unsupported is not None and expected in obs.unsupported


def test_nulls_and_wrong_types_everywhere_are_skipped_with_problems() -> None:
    obs = _web(
        {
            "queries": [
                None,
                1,
                {"hostname": None, "answers": [None, {"ttl": 3}, {"ipv4": "1.2.3.4", "asn": "x"}]},
            ],
            "tcp_connect": [{"ip": "1.2.3.4"}, {"ip": "1.2.3.4", "port": 80}, {"ip": 5, "port": "80"}],
            "tls_handshakes": "oops",
            "requests": [
                {"request": None, "response": None, "failure": 7},
                {"response": {"code": "200", "body": 12}},
            ],
            "control": {
                "tcp_connect": {"junk": {}, "1.2.3.4:80": None},
                "http_request": None,
                "dns": {"addrs": None},
            },
        }
    )
    assert obs.unsupported is None
    (lookup,) = obs.dns
    assert lookup.addresses == ("1.2.3.4",) and lookup.answers[0].asn is None
    (connect,) = obs.tcp
    assert connect.endpoint == "1.2.3.4:80" and not connect.success  # no status: not known to have worked
    assert obs.tls == ()
    assert [(h.url, h.status, h.failure, h.body_format) for h in obs.http] == [
        (None, None, None, BodyFormat.ABSENT),
        (None, None, None, BodyFormat.MALFORMED),
    ]
    assert obs.control is not None and obs.control.dns_addresses == () and obs.control.http is None
    problems = "\n".join(obs.problems)
    for expected in (
        "test_keys.queries[0]: not an object",
        "test_keys.queries[1]: not an object",
        "test_keys.queries[2].answers[0]: no address or name",
        "test_keys.tcp_connect[0]: no ip or port",
        "test_keys.tcp_connect[1]: no status",
        "test_keys.tls_handshakes: not a list",
        "test_keys.requests[0]: no URL",
        "test_keys.control.tcp_connect['junk']",
    ):
        assert expected in problems


def test_base64_binary_body_and_base64_text_body() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    text = b"<html><title>Blocked</title>plain</html>"
    obs = _web(
        {
            "requests": [
                {
                    "request": {"url": "http://example.org/a"},
                    "response": {
                        "code": 200,
                        "body": {"format": "base64", "data": base64.b64encode(png).decode()},
                    },
                },
                {
                    "request": {"url": "http://example.org/b"},
                    "response": {
                        "code": 200,
                        "body": {"format": "base64", "data": base64.b64encode(text).decode()},
                    },
                },
                {
                    "request": {"url": "http://example.org/c"},
                    "response": {"code": 200, "body": {"format": "hex", "data": "00"}},
                },
            ]
        }
    )
    binary, decoded, unknown = obs.http
    assert (binary.body_format, binary.body_is_binary, binary.body_length, binary.body) == (
        BodyFormat.BASE64,
        True,
        len(png),
        png,
    )
    assert (decoded.body_format, decoded.body_is_binary, decoded.title) == (
        BodyFormat.BASE64,
        False,
        "Blocked",
    )
    assert unknown.body_format is BodyFormat.MALFORMED and unknown.body_length is None


def test_invalid_utf8_in_a_text_body_does_not_crash() -> None:
    obs = _web(
        {
            "requests": [
                {"request": {"url": "http://example.org/"}, "response": {"code": 200, "body": "a\udcff"}}
            ]
        }
    )
    (response,) = obs.http
    assert response.body_length == 4 and response.body_is_binary


def test_contradictory_tcp_record_trusts_the_failure() -> None:
    obs = _web(
        {"tcp_connect": [{"ip": "1.2.3.4", "port": 443, "status": {"success": True, "failure": "eof"}}]}
    )
    assert [(t.success, t.failure) for t in obs.tcp] == [(False, "eof")]


def test_odd_tags_versions_and_addresses_do_not_crash() -> None:
    obs = _web(
        {
            "queries": [
                {"hostname": "example.org", "tags": ["depth=²", "depth=x"], "answers": [{"ipv4": "1.2.3.4"}]}
            ],
            "tls_handshakes": [{"address": "1.2.3.4:４４３", "server_name": "example.org"}],
            "requests": [
                {
                    "request": {"url": "http://[::1"},
                    "response": {"code": 302, "headers": {"Location": "http://["}},
                }
            ],
        }
    )
    assert obs.dns[0].depth == 0  # the tag is ignored; the host is the input's
    assert (obs.tls[0].ip, obs.tls[0].port) == (None, None)
    assert obs.http[0].location == "http://["
    record = {"test_name": "web_connectivity", "test_keys": {}}
    assert make_observations(_synthetic(record, version="0.²")).unsupported is not None
