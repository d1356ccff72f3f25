"""Verdicts on real OONI measurements, on OONI's named censorship scenarios, and on broken input.

``wc05_qa/`` holds Web Connectivity 0.5 measurements that OONI's probe recorded in emulated
networks where the censorship was known: the file name is the scenario, i.e. the ground truth.
EXPECTED_WC05 gives our verdict for every file; where it differs from what the probe itself
wrote (``test_keys.blocking``), the comment says why (docs/apps.md has the full table).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lightsout.apps import Method, Status, Verdict, analyse
from lightsout.apps.httpdiff import compare_http
from lightsout.apps.observations import make_observations
from lightsout.model import OoniMeasurement
from lightsout.sources.ooni import read_ooni

B, A, D, I = Status.BLOCKED, Status.ACCESSIBLE, Status.DOWN, Status.INCONCLUSIVE  # noqa: E741

# file -> (status, method)
EXPECTED_WC05: dict[str, tuple[Status, Method | None]] = {
    # both the probe and the control fail the TLS handshake on the expired certificate: the site
    "badSSLWithExpiredCertificate": (D, None),
    # resolver points to another network whose TLS certificate is not the site's; the real address works
    "badSSLWithUnknownAuthorityWithInconsistentDNS": (B, Method.DNS),
    # a Cloudflare challenge page: differs from the control, but OONI lists it as a false positive
    "cloudflareCAPTCHAWithHTTP": (I, None),
    # no control, but HTTPS with a verified certificate proves the page is the site's
    "controlFailureWithSuccessfulHTTPSWebsite": (A, None),
    "dnsBlockingAndroidDNSCacheNoData": (B, Method.DNS),
    "dnsBlockingNXDOMAIN": (B, Method.DNS),
    # 127.0.0.1 for a public site
    "dnsHijackingToLocalhostWithHTTPS": (B, Method.DNS),
    # the resolver sends users to a transparent proxy that serves the real page (the control validated
    # the proxy's TLS for the domain): interception, but not blocking (OONI agrees: accessible)
    "dnsHijackingToProxyWithHTTPURL": (A, None),
    # the domain does not exist (control: NXDOMAIN) yet the resolver returns an address
    "ghostDNSBlockingWithHTTPS": (B, Method.DNS),
    "httpDiffWithConsistentDNS": (B, Method.HTTP_DIFF),
    "idnaWithoutCensorshipLowercase": (A, None),
    # the body is truncated (not compared); status, headers and title match
    "largeFileWithHTTP": (A, None),
    # the domain really resolves to 127.0.0.1 (the control agrees): not a public site
    "localhostWithHTTP": (D, None),
    # the server's own redirect is broken ("Location: http://"): not interference, but the control
    # fetched a page, so not "down" either
    "redirectWithBrokenLocationForHTTP": (I, None),
    "redirectWithConsistentDNSAndThenConnectionRefusedForHTTP": (B, Method.TCP_IP),
    # reset after the HTTP request was sent (the DPI matched the Host header)
    "redirectWithConsistentDNSAndThenConnectionResetForHTTP": (B, Method.HTTP_FAILURE),
    "redirectWithConsistentDNSAndThenEOFForHTTP": (B, Method.HTTP_FAILURE),
    "redirectWithConsistentDNSAndThenNXDOMAIN": (B, Method.DNS),
    "redirectWithConsistentDNSAndThenTimeoutForHTTPS": (B, Method.TLS),
    # the control fails too (too many redirects)
    "redirectWithMoreThanTenRedirectsAndHTTPS": (D, None),
    "successWithHTTPS": (A, None),
    # DNS points to a blockpage server, and connects to it are refused; the site's real address
    # (the control's, also tried by the probe) works: the blocking is the DNS answer
    "tcpBlockingConnectionRefusedWithInconsistentDNS": (B, Method.DNS),
    "throttlingWithHTTPS": (B, Method.THROTTLING),
    # the SNI is reset at the resolver's address too, which the control validated for the domain
    # (a proxy), and at the real address: TLS interference (the probe says "dns")
    "tlsBlockingConnectionResetWithInconsistentDNS": (B, Method.TLS),
    # no address for the probe nor the control
    "websiteDownNoAddrs": (D, None),
}

# fastpath/ file -> (status, method, fingerprint)
EXPECTED_FASTPATH: dict[str, tuple[Status, Method | None, str | None]] = {
    # Iran: the resolver answered 10.10.34.36, the national blockpage server (a DNS fingerprint;
    # the HTTP request to it timed out, so there is no page to match)
    "web_connectivity_ir_fp.json": (B, Method.DNS, "ooni.ir_10dot10_ipv4_1"),
    # Indonesia: redirect to the Kominfo blockpage (Location fingerprint); the probe said accessible
    "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json": (
        B,
        Method.HTTP_BLOCKPAGE,
        "ooni.id_lamanlabuh_kominfo",
    ),
    # a base64 Location header redirecting to 192.168.22.1/UserCheck (a Check Point filtering portal)
    "web_connectivity_b64_hdr.json": (B, Method.HTTP_BLOCKPAGE, None),
    # body replaced by undecodable base64 in the fixture: the remaining checks match the control
    "web_connectivity_b64_incorrect.json": (A, None, None),
    # both the probe's and the control's fetch fail (certificate)
    "web_connectivity_no_body.json": (D, None, None),
    "web_connectivity_null.json": (I, None, None),  # control_failure: no control
    "web_connectivity_null2.json": (D, None, None),
    # China 2017: control says NXDOMAIN, the ISP resolver answers an address
    "web_connectivity_odd_hdr.json": (B, Method.DNS, None),
    # bodies replaced by placeholders in these fixtures; uncommon headers still match the control
    "report1.json": (A, None, None),
    "report1.json.pretty": (A, None, None),
    "report1blocked.json": (A, None, None),
    "report2.json": (A, None, None),
    "report2blocked.json": (A, None, None),
    # web.whatsapp.com answered 400 over verified TLS; the probe's "blocked" expected a 302
    "whatsapp.json": (A, None, None),
    # request URLs missing (probe bug); every data centre and Telegram Web answered
    "telegram_nourl.json": (A, None, None),
    "signal_022.json": (A, None, None),
    # known probe bugs (ooni/probe#2627, ooni/backend#679): OONI discards these too
    "signal_2627.json": (I, None, None),
    "signal_679.json": (I, None, None),
    # tests this module does not analyse
    "tor.json": (I, None, None),
    "tor_list.json": (I, None, None),
    "torsf_1.json": (I, None, None),
    "torsf_2.json": (I, None, None),
    "torsf_383.json": (I, None, None),
    "vanilla_tor.json": (I, None, None),
    "vanilla_tor_ok.json": (I, None, None),
}
FASTPATH_NOT_MEASUREMENTS = {
    "fingerprints_dns.json",
    "fingerprints_http.json",
    "detector_query_ww_BR_2018.json",
    "LICENSE.md",
}


def _read(path: Path) -> OoniMeasurement:
    parsed = read_ooni(path)
    assert len(parsed.measurements) == 1
    return parsed.measurements[0]


def _verdict(path: Path) -> Verdict:
    return analyse(_read(path))


def _record(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text())
    assert isinstance(value, dict)
    return value


def _synthetic(
    record: dict[str, Any],
    measurement_id: str = "synthetic",
    start: datetime = datetime(2024, 3, 1, 10, tzinfo=UTC),
) -> OoniMeasurement:
    return OoniMeasurement(
        measurement_id=measurement_id,
        test_name=str(record.get("test_name")),
        test_version=str(record["test_version"]) if record.get("test_version") is not None else None,
        probe_cc="KZ",
        probe_asn=9198,
        measurement_start=start,
        input=record.get("input") if isinstance(record.get("input"), str) else None,
        raw_json=json.dumps(record),
    )


# -- the named scenarios -------------------------------------------------------------------------


def test_every_scenario_file_has_an_expectation(shared_data: Path) -> None:
    files = {p.stem for p in (shared_data / "ooni/wc05_qa").glob("*.json")}
    assert files == set(EXPECTED_WC05)


@pytest.mark.parametrize(("scenario", "expected"), sorted(EXPECTED_WC05.items()))
def test_wc05_scenario(shared_data: Path, scenario: str, expected: tuple[Status, Method | None]) -> None:
    verdict = _verdict(shared_data / "ooni/wc05_qa" / f"{scenario}.json")
    assert (verdict.status, verdict.method) == expected, verdict.reason
    assert verdict.test_name == "web_connectivity"
    assert (verdict.probe_cc, verdict.probe_asn) == ("IT", 137)
    assert verdict.start is not None and verdict.start.year == 2024
    assert verdict.reason


def test_wc05_reasons_name_the_evidence(shared_data: Path) -> None:
    qa = shared_data / "ooni/wc05_qa"
    tcp = _verdict(qa / "tcpBlockingConnectionRefusedWithInconsistentDNS.json")
    assert "83.224.65.41 (AS30722)" in tcp.reason and "93.184.216.34 (AS15133)" in tcp.reason
    assert "connection_refused" in tcp.reason
    nx = _verdict(qa / "dnsBlockingNXDOMAIN.json")
    assert "dns_nxdomain_error" in nx.reason and nx.target == "https://www.example.com/"
    diff = _verdict(qa / "httpDiffWithConsistentDNS.json")
    assert (
        "'Access Denied' vs 'Default Web Page'" in diff.reason and "188 bytes vs 1,533 bytes" in diff.reason
    )
    assert "cp.f_gen_access_denied (vbw)" in diff.reason and diff.fingerprint is None  # a hint, not proof
    captcha = _verdict(qa / "cloudflareCAPTCHAWithHTTP.json")
    assert "cp.fp_x_cloudflare_check (fp)" in captcha.reason
    throttled = _verdict(qa / "throttlingWithHTTPS.json")
    assert "16,777,216 bytes" in throttled.reason
    tls = _verdict(qa / "tlsBlockingConnectionResetWithInconsistentDNS.json")
    assert "connection_reset" in tls.reason and "130.192.182.17:443" in tls.reason


def test_fastpath_files_all_have_an_expectation(shared_data: Path) -> None:
    files = {p.name for p in (shared_data / "ooni/fastpath").iterdir()} - FASTPATH_NOT_MEASUREMENTS
    assert files == set(EXPECTED_FASTPATH)


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_FASTPATH.items()))
def test_fastpath_measurement(
    shared_data: Path, name: str, expected: tuple[Status, Method | None, str | None]
) -> None:
    verdict = _verdict(shared_data / "ooni/fastpath" / name)
    assert (verdict.status, verdict.method, verdict.fingerprint) == expected, verdict.reason


def test_iranian_blockpage_verdict(shared_data: Path) -> None:
    verdict = _verdict(shared_data / "ooni/fastpath/web_connectivity_ir_fp.json")
    assert verdict.target == "https://www.facebook.com/"
    assert (verdict.probe_cc, verdict.probe_asn) == ("IR", 197207)
    assert verdict.start == datetime(2022, 8, 15, 19, 1, 30, tzinfo=UTC)
    assert "10.10.34.36" in verdict.reason and "(nat, IR)" in verdict.reason


def test_app_targets_and_reasons(shared_data: Path) -> None:
    whatsapp = _verdict(shared_data / "ooni/fastpath/whatsapp.json")
    assert whatsapp.target == "WhatsApp" and "WhatsApp Web answered (status 400)" in whatsapp.reason
    assert "35 of 35 connects" in whatsapp.reason
    signal = _verdict(shared_data / "ooni/fastpath/signal_2627.json")
    assert signal.target == "Signal" and "ooni/probe#2627" in signal.reason
    assert "ooni/backend#679" in _verdict(shared_data / "ooni/fastpath/signal_679.json").reason


# -- OONI's minipipeline analysis ----------------------------------------------------------------


def test_minipipeline_analysis_agrees(shared_data: Path) -> None:
    measurement = _read(shared_data / "ooni/minipipeline/measurement.json")
    analysis = json.loads((shared_data / "ooni/minipipeline/analysis.json").read_text())
    classic = json.loads((shared_data / "ooni/minipipeline/analysis_classic.json").read_text())
    verdict = analyse(measurement)
    # OONI: no invalid DNS answers, no unexpected failures, a final HTTPS response with control
    assert (
        analysis["DNSLookupSuccessWithInvalidAddresses"] == []
        and analysis["DNSLookupUnexpectedFailure"] == []
    )
    assert analysis["HTTPFinalResponseSuccessTLSWithControl"] == 4
    assert (verdict.status, verdict.method) == (Status.ACCESSIBLE, None)
    assert "over HTTPS with a verified certificate" in verdict.reason
    # the classic view keeps the getaddrinfo lookup only: transaction 2, ours too
    obs = make_observations(measurement)
    assert [d.transaction_id for d in obs.dns if d.is_system] == classic[
        "DNSLookupSuccessWithValidAddressClassic"
    ]
    # the HTTP diff of the final response
    assert obs.control is not None and obs.control.http is not None
    comparison = compare_http(obs.http[0], obs.control.http)
    assert comparison.body_proportion == analysis["HTTPFinalResponseDiffBodyProportionFactor"]
    assert comparison.status_match is analysis["HTTPFinalResponseDiffStatusCodeMatch"]
    assert comparison.title_words_differing == set(analysis["HTTPFinalResponseDiffTitleDifferentLongWords"])
    assert comparison.uncommon_headers_shared == set(
        analysis["HTTPFinalResponseDiffUncommonHeadersIntersection"]
    )
    assert not comparison.differs
    assert list(obs.control.dns_addresses or ()) == analysis["ControlExpectations"]["DNSAddresses"]


# -- apps: the real files changed to show blocking ------------------------------------------------


def test_whatsapp_endpoints_all_refused_is_tcp_blocking(shared_data: Path) -> None:
    record = _record(shared_data / "ooni/fastpath/whatsapp.json")
    for connect in record["test_keys"]["tcp_connect"]:
        connect["status"] = {"failure": "connection_refused", "success": False}
    verdict = analyse(_synthetic(record))
    assert (verdict.status, verdict.method) == (Status.BLOCKED, Method.TCP_IP)
    assert "all 35 connects to the chat endpoints failed (connection_refused)" in verdict.reason


def test_whatsapp_registration_reset_during_tls(shared_data: Path) -> None:
    record = _record(shared_data / "ooni/fastpath/whatsapp.json")
    for request in record["test_keys"]["requests"]:
        if request["request"]["url"] == "https://v.whatsapp.net/v2/register":
            request["failure"] = "connection_reset"
            request["response"] = None
    for handshake in record["test_keys"]["tls_handshakes"]:
        if handshake["server_name"] == "v.whatsapp.net":
            handshake["failure"] = "connection_reset"
    verdict = analyse(_synthetic(record))
    assert (verdict.status, verdict.method) == (Status.BLOCKED, Method.TLS)
    assert "the registration server failed (connection_reset" in verdict.reason


def test_telegram_web_tls_blocking_and_dc_blocking(shared_data: Path) -> None:
    record = _record(shared_data / "ooni/fastpath/telegram_nourl.json")
    for request in record["test_keys"]["requests"]:
        request["request"]["url"] = "https://" + request["request"]["headers"]["Host"] + "/"
        if request["request"]["headers"]["Host"] == "web.telegram.org":
            request["failure"] = "ssl_invalid_hostname"
    verdict = analyse(_synthetic(record))
    assert (verdict.status, verdict.method, verdict.target) == (Status.BLOCKED, Method.TLS, "Telegram")
    assert "Telegram Web failed (ssl_invalid_hostname" in verdict.reason
    for connect in record["test_keys"]["tcp_connect"]:
        connect["status"] = {"failure": "generic_timeout_error", "success": False}
    verdict = analyse(_synthetic(record))
    assert (verdict.status, verdict.method) == (Status.BLOCKED, Method.TCP_IP)
    assert "all 12 connects to the data centres failed" in verdict.reason


def test_signal_backend_reset_is_tls_blocking(shared_data: Path) -> None:
    record = _record(shared_data / "ooni/fastpath/signal_022.json")
    record["test_keys"]["requests"][1]["failure"] = "connection_reset"
    record["test_keys"]["tls_handshakes"][1]["failure"] = "connection_reset"
    verdict = analyse(_synthetic(record, start=datetime(2022, 11, 18, 10, 44, tzinfo=UTC)))
    assert (verdict.status, verdict.method) == (Status.BLOCKED, Method.TLS)
    assert "'https://storage.signal.org/' failed (connection_reset)" in verdict.reason
    # the same measurement after Signal changed its CA again is a known probe bug (0.2.2 pins the old one)
    late = analyse(_synthetic(record, start=datetime(2023, 11, 8, tzinfo=UTC)))
    assert late.status is Status.INCONCLUSIVE and "2023-11-07" in late.reason


def _facebook(answers_asn: int, tcp_ok: bool) -> dict[str, Any]:
    hosts = ["b-api.facebook.com", "edge-mqtt.facebook.com", "star.c10r.facebook.com"]
    return {
        "test_name": "facebook_messenger",
        "test_version": "0.2.0",
        "test_keys": {
            "queries": [
                {
                    "hostname": h,
                    "query_type": "A",
                    "engine": "system",
                    "failure": None,
                    "answers": [{"answer_type": "A", "ipv4": f"157.240.0.{i}", "asn": answers_asn}],
                }
                for i, h in enumerate(hosts)
            ],
            "tcp_connect": [
                {
                    "ip": f"157.240.0.{i}",
                    "port": 443,
                    "status": {"success": tcp_ok, "failure": None if tcp_ok else "connection_refused"},
                }
                for i in range(len(hosts))
            ],
        },
    }


def test_facebook_messenger() -> None:
    ok = analyse(_synthetic(_facebook(32934, True)))
    assert (ok.status, ok.target) == (Status.ACCESSIBLE, "Facebook Messenger")
    dns = analyse(_synthetic(_facebook(12345, True)))
    assert (dns.status, dns.method) == (Status.BLOCKED, Method.DNS)
    assert "outside Facebook's network (AS32934): 157.240.0.0 (AS12345)" in dns.reason
    tcp = analyse(_synthetic(_facebook(32934, False)))
    assert (tcp.status, tcp.method) == (Status.BLOCKED, Method.TCP_IP)


# -- bad input: inconclusive with a reason, never an exception -----------------------------------


def test_unknown_test_name_is_inconclusive() -> None:
    verdict = analyse(_synthetic({"test_name": "ndt", "test_version": "0.1.0", "test_keys": {}}))
    assert verdict.status is Status.INCONCLUSIVE and verdict.method is None
    assert verdict.reason.startswith("not analysed: test 'ndt' is not analysed")
    assert verdict.target == "ndt"


@pytest.mark.parametrize(
    ("test_keys", "reason"),
    [
        (None, "not analysed: test_keys is missing or not an object"),
        ({}, "the probe did not try to connect to a.example"),
        (
            {"queries": None, "requests": None, "control": None},
            "the probe did not try to connect to a.example",
        ),
        (
            {"requests": [{"request": {"url": "http://a.example/"}, "failure": "connection_reset"}]},
            "no usable control",
        ),
    ],
)
def test_empty_web_connectivity_is_inconclusive(test_keys: object, reason: str) -> None:
    record = {
        "test_name": "web_connectivity",
        "test_version": "0.4.3",
        "input": "http://a.example/",
        "test_keys": test_keys,
    }
    verdict = analyse(_synthetic(record))
    assert verdict.status is Status.INCONCLUSIVE
    assert reason in verdict.reason


def test_raw_json_garbage_is_inconclusive() -> None:
    measurement = OoniMeasurement("x", "web_connectivity", "0.4.3", None, None, None, None, "[1, 2")
    verdict = analyse(measurement)
    assert (verdict.status, verdict.reason) == (
        Status.INCONCLUSIVE,
        "not analysed: raw_json is not valid JSON",
    )


def test_app_without_results_is_inconclusive() -> None:
    verdict = analyse(
        _synthetic({"test_name": "telegram", "test_version": "0.3.0", "test_keys": {"requests": []}})
    )
    assert verdict.status is Status.INCONCLUSIVE and "no endpoint results" in verdict.reason


def _mutations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, replacement) that breaks one value: delete it, null it, or give it another type."""
    if path:
        for replacement in (None, "x", 7, [], {}, {"format": "base64", "data": "%%%"}):
            yield path, replacement
        yield path, "<delete>"
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "body":
                yield from _mutations(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield from _mutations(item, (*path, index))


def _apply(record: dict[str, Any], path: tuple[Any, ...], replacement: Any) -> dict[str, Any]:
    broken = copy.deepcopy(record)
    parent: Any = broken
    for key in path[:-1]:
        parent = parent[key]
    if replacement == "<delete>":
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return broken


@pytest.mark.parametrize(
    "name",
    [
        "wc05_qa/tcpBlockingConnectionRefusedWithInconsistentDNS.json",
        "wc05_qa/throttlingWithHTTPS.json",
        "wc05_qa/redirectWithConsistentDNSAndThenTimeoutForHTTPS.json",
        "fastpath/web_connectivity_ir_fp.json",
        "fastpath/web_connectivity_b64_hdr.json",
        "fastpath/telegram_nourl.json",
        "fastpath/signal_2627.json",
    ],
)
def test_any_broken_value_gives_a_verdict_not_an_exception(shared_data: Path, name: str) -> None:
    record = _record(shared_data / "ooni" / name)
    mutations = list(_mutations(record["test_keys"], ("test_keys",)))
    step = max(1, len(mutations) // 400)  # a spread of at most ~400 breakages per file
    statuses = set()
    for path, replacement in mutations[::step]:
        verdict = analyse(_synthetic(_apply(record, path, replacement)))
        assert isinstance(verdict.status, Status), path
        assert verdict.reason, path
        statuses.add(verdict.status)
    assert Status.INCONCLUSIVE in statuses  # breaking test_keys itself must be among them


# -- variations of real measurements that exercise one rule each ------------------------------------


def _untagged(value: Any) -> Any:
    """The record as a 0.5 probe before 0.5.28 wrote it: no "classic" tags."""
    if isinstance(value, dict):
        return {
            k: ([t for t in v if t != "classic"] if k == "tags" and isinstance(v, list) else _untagged(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_untagged(v) for v in value]
    return value


def test_without_classic_tags_the_system_resolvers_addresses_define_the_browser_path(
    shared_data: Path,
) -> None:
    # The probe also fetched the page from the DoH answer and succeeded; the system resolver's
    # 127.0.0.1 is still what a browser gets.
    record = _untagged(_record(shared_data / "ooni/wc05_qa/dnsHijackingToLocalhostWithHTTPS.json"))
    verdict = analyse(_synthetic(record))
    assert (verdict.status, verdict.method) == (Status.BLOCKED, Method.DNS)
    record = _untagged(
        _record(shared_data / "ooni/wc05_qa/tcpBlockingConnectionRefusedWithInconsistentDNS.json")
    )
    assert analyse(_synthetic(record)).method is Method.DNS


def test_a_verified_tls_handshake_validates_an_answer_the_control_did_not_get(shared_data: Path) -> None:
    record = _record(shared_data / "ooni/wc05_qa/successWithHTTPS.json")
    record["test_keys"]["control"]["dns"]["addrs"] = ["5.6.7.8"]
    del record["test_keys"]["control"]["ip_info"]
    verdict = analyse(_synthetic(record))
    assert verdict.status is Status.ACCESSIBLE


def test_https_success_outweighs_a_dns_answer_unlike_the_controls(shared_data: Path) -> None:
    # 2019 record without TLS handshake records: the final HTTPS fetch itself proves the address
    record = _record(shared_data / "ooni/fastpath/report2.json")
    record["test_keys"]["control"]["dns"] = {"addrs": ["5.6.7.8"], "failure": None}
    verdict = analyse(_synthetic(record))
    assert verdict.status is Status.ACCESSIBLE
    assert "unlike the control (5.6.7.8)" in verdict.reason and "verified certificate" in verdict.reason


def test_plain_http_page_unlike_the_control_through_a_foreign_address_is_dns(shared_data: Path) -> None:
    record = _record(shared_data / "ooni/fastpath/report1.json")
    record["test_keys"]["control"]["dns"] = {"addrs": ["5.6.7.8"], "failure": None}
    record["test_keys"]["requests"][0]["response"]["headers"] = {"Server": "blockpage"}
    record["test_keys"]["requests"][0]["response"]["code"] = 403
    verdict = analyse(_synthetic(record))
    assert (verdict.status, verdict.method) == (Status.BLOCKED, Method.DNS)
    assert "is not the control's" in verdict.reason
