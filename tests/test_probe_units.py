"""The probe without a lab: configuration, failure names, scrubbing, and one Web Connectivity run
over the loopback interface (a resolver and a web server on 127.0.0.1, started here)."""

from __future__ import annotations

import errno
import json
import re
import ssl
from pathlib import Path

import pytest
from click.testing import CliRunner

from lightsout.cli.probe import probe
from lightsout.errors import UserError
from lightsout.ingest import ingest_file
from lightsout.probe.archival import as_measurement
from lightsout.probe.config import (
    SIGNAL_URLS,
    TELEGRAM_DATA_CENTRES,
    WHATSAPP_ENDPOINTS,
    Endpoint,
    load_config,
    parse_config,
    parse_endpoint,
)
from lightsout.probe.im import App
from lightsout.probe.netx import failure_of
from lightsout.probe.runner import parse_apps, read_urls, write_jsonl
from lightsout.probe.scrub import SCRUBBED, Scrubber
from lightsout.probe.web import NO_CONTROL, run_web_connectivity
from lightsout.sources.ooni import read_ooni
from lightsout.store import MeasurementFilter, Store

# -- configuration ---------------------------------------------------------------------------


def test_defaults_are_oonis_endpoints_and_an_unknown_probe() -> None:
    config = load_config(None)
    assert (config.probe_cc, config.probe_asn_text) == ("ZZ", "AS0")
    assert config.whatsapp.endpoints == WHATSAPP_ENDPOINTS and len(WHATSAPP_ENDPOINTS) == 16
    assert config.whatsapp.ports == (443, 5222)
    assert config.telegram.data_centres == TELEGRAM_DATA_CENTRES and config.telegram.ports == (80, 443)
    assert config.signal.urls == SIGNAL_URLS and config.signal.ca_file is None
    assert config.resolver is None and config.query_types == ("A", "AAAA")
    assert config.controls == {}


def test_a_full_configuration_is_read_into_typed_values(tmp_path: Path) -> None:
    (tmp_path / "lab-ca.pem").write_text("not checked here")
    path = tmp_path / "probe.toml"
    path.write_text(
        """
[probe]
country = "ir"
asn = "AS12880"
network_name = "Example ISP"
[dns]
resolver = "[2001:db8::53]:5353"
query_types = ["aaaa"]
[timeouts]
connect_s = 1.5
http_s = 3
[tls]
ca_file = "lab-ca.pem"
[[web.control]]
url = "http://example.test/"
addresses = ["2001:db8::10"]
status_code = 200
body_length = 1234
title = "Example"
headers = ["X-Site"]
[apps.telegram]
data_centres = ["2001:db8::50"]
ports = [443]
"""
    )
    config = load_config(path)
    assert (config.probe_cc, config.probe_asn, config.network_name) == ("IR", 12880, "Example ISP")
    assert config.resolver == Endpoint("2001:db8::53", 5353)
    assert config.query_types == ("AAAA",)
    assert (config.timeouts.connect_s, config.timeouts.http_s, config.timeouts.dns_s) == (1.5, 3.0, 4.0)
    assert config.ca_file == tmp_path / "lab-ca.pem"
    control = config.controls["http://example.test/"]
    assert (control.addresses, control.status_code, control.body_length) == (("2001:db8::10",), 200, 1234)
    assert config.telegram.data_centres == ("2001:db8::50",) and config.telegram.ports == (443,)
    assert config.whatsapp.endpoints == WHATSAPP_ENDPOINTS  # untouched tables keep their defaults


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"probe": {"country": "Iran"}}, "probe.country"),
        ({"probe": {"asn": "twelve"}}, "probe.asn"),
        ({"probe": {"colour": "red"}}, "unknown key(s) colour"),
        ({"nonsense": {}}, "unknown table(s) nonsense"),
        ({"dns": {"resolver": "dns.google"}}, "dns.resolver: not an IP address"),
        ({"dns": {"query_types": ["MX"]}}, "dns.query_types"),
        ({"timeouts": {"http_s": 0}}, "timeouts.http_s"),
        ({"tls": {"ca_file": "missing.pem"}}, "tls.ca_file: no such file"),
        ({"web": {"control": [{"url": "ftp://x/"}]}}, "web.control[0].url"),
        ({"web": {"control": [{"url": "http://x/", "addresses": ["x"]}]}}, "web.control[0].addresses"),
        ({"apps": {"whatsapp": {"ports": [0]}}}, "apps.whatsapp.ports"),
        ({"apps": {"telegram": {"data_centres": ["dc1.example"]}}}, "apps.telegram.data_centres"),
    ],
)
def test_a_bad_configuration_names_the_key(raw: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        parse_config(raw, "probe.toml", tmp_path)


def test_a_configuration_file_that_is_not_toml_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "probe.toml"
    path.write_text("[probe\n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(UserError, match="no such file"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("10.0.0.1", Endpoint("10.0.0.1", 53)),
        ("10.0.0.1:5353", Endpoint("10.0.0.1", 5353)),
        ("2001:db8::1", Endpoint("2001:db8::1", 53)),
        ("[2001:db8::1]:853", Endpoint("2001:db8::1", 853)),
    ],
)
def test_resolver_endpoints(text: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(text) == endpoint
    assert str(parse_endpoint(str(endpoint))) == str(endpoint)


@pytest.mark.parametrize("text", ["dns.google", "10.0.0.1:x", "[2001:db8::1", "10.0.0.1:70000"])
def test_bad_resolver_endpoints(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text)


def test_urls_and_apps_from_the_command_line(tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("# test list\nhttps://a.example/\n\nhttp://b.example/path  # why\nhttps://a.example/\n")
    assert read_urls(urls) == ["https://a.example/", "http://b.example/path"]
    urls.write_text("https://a.example/\nnot a url\n")
    with pytest.raises(UserError, match="line 2: not an http"):
        read_urls(urls)
    assert parse_apps("Signal, whatsapp,signal") == [App.SIGNAL, App.WHATSAPP]
    with pytest.raises(UserError, match="unknown app 'viber'"):
        parse_apps("viber")


def test_the_command_refuses_to_run_with_nothing_to_test() -> None:
    result = CliRunner().invoke(probe, ["--no-store"])
    assert isinstance(result.exception, UserError)
    assert "nothing to test" in str(result.exception)


# -- failures and privacy ------------------------------------------------------------------------


def _verify_error(code: int) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code = code
    return error


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_refused"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connection_reset"),
        (TimeoutError("timed out"), "generic_timeout_error"),
        (OSError(errno.ENETUNREACH, "unreachable"), "network_unreachable"),
        (OSError(errno.EHOSTUNREACH, "unreachable"), "host_unreachable"),
        (_verify_error(62), "ssl_invalid_hostname"),
        (_verify_error(20), "ssl_unknown_authority"),
        (_verify_error(10), "ssl_invalid_certificate"),
        (ssl.SSLEOFError(8, "EOF occurred"), "eof_error"),
        (ValueError("odd"), "unknown_failure: ValueError: odd"),
    ],
)
def test_failures_are_named_as_ooni_names_them(exc: BaseException, failure: str) -> None:
    assert failure_of(exc) == failure


def test_the_probes_own_addresses_are_scrubbed_everywhere() -> None:
    scrubber = Scrubber(["192.0.2.7", "2001:db8::7", "127.0.0.1", "::1"])
    assert scrubber.text("from 192.0.2.7 and 2001:db8::7") == f"from {SCRUBBED} and {SCRUBBED}"
    assert scrubber.text("2001:0db8:0000:0000:0000:0000:0000:0007") == SCRUBBED
    assert scrubber.data(b"<p>192.0.2.7</p>") == b"<p>[scrubbed]</p>"
    assert scrubber.text("127.0.0.1 ::1") == "127.0.0.1 ::1"  # what OONI writes as probe_ip stays
    tree = scrubber.tree({"headers": {"X-Client": "192.0.2.7"}, "list": ["2001:db8::7", 3, None]})
    assert tree == {"headers": {"X-Client": SCRUBBED}, "list": [SCRUBBED, 3, None]}


# -- a real run over the loopback interface ---------------------------------------------------------


def test_web_connectivity_writes_an_ooni_measurement_the_store_reads(
    loopback_site: tuple[Endpoint, int], tmp_path: Path, store: Store
) -> None:
    resolver, port = loopback_site
    url = f"http://site.test:{port}/"
    config = parse_config({"dns": {"query_types": ["A"]}, "timeouts": {"connect_s": 2, "http_s": 3}})
    measurement = run_web_connectivity(config, resolver, url)
    keys = measurement["test_keys"]
    assert (measurement["test_name"], measurement["input"], measurement["probe_ip"]) == (
        "web_connectivity",
        url,
        "127.0.0.1",
    )
    assert [q["failure"] for q in keys["queries"]] == [None]
    assert keys["queries"][0]["answers"][0] == {"answer_type": "A", "ttl": 60, "ipv4": "127.0.0.1"}
    fetched = next(t for t in keys["tcp_connect"] if t["port"] == port)
    assert fetched["status"]["success"] and "fetch_body=true" in fetched["tags"]
    assert any(t["port"] == 443 and "fetch_body=false" in t["tags"] for t in keys["tcp_connect"])
    (request,) = keys["requests"]
    assert request["response"]["code"] == 200 and "Loopback site" in request["response"]["body"]
    assert request["transaction_id"] == fetched["transaction_id"]
    assert (keys["control"], keys["control_failure"]) == (None, NO_CONTROL)
    assert measurement["annotations"]["control_source"] == "none"

    out = tmp_path / "probe.jsonl"
    write_jsonl([measurement], out)
    parsed = read_ooni(out)
    assert [m.input for m in parsed.measurements] == [url] and not parsed.skipped
    report = ingest_file(store, out)
    assert report.measurements_written == 1
    (stored,) = store.measurements(MeasurementFilter(test_name="web_connectivity"))
    assert json.loads(stored.raw_json) == json.loads(as_measurement(measurement).raw_json)


def test_the_command_writes_jsonl_and_stores_it(loopback_site: tuple[Endpoint, int], tmp_path: Path) -> None:
    resolver, port = loopback_site
    urls = tmp_path / "urls.txt"
    urls.write_text(f"http://site.test:{port}/\n")
    config = tmp_path / "probe.toml"
    config.write_text(
        '[probe]\ncountry = "DE"\nasn = "AS3320"\n[dns]\nquery_types = ["A"]\n[timeouts]\nconnect_s = 2\n'
        f'[network_check]\nnames = ["site.test"]\nsecond_resolver = ""\nport = {port}\n'
        "[public_address]\ndns = []  # no echo: nothing but loopback is ever asked\n"
    )
    out, db = tmp_path / "out.jsonl", tmp_path / "store.duckdb"
    args = ["--urls", str(urls), "--config", str(config), "--resolver", str(resolver)]
    result = CliRunner().invoke(probe, [*args, "--out", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"web_connectivity http://site.test:{port}/:" in result.output
    assert "stored: 1 measurement(s)" in result.output
    assert "network check: ok" in result.output
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["probe_cc"] == "DE" and json.loads(line)["probe_asn"] == "AS3320"
