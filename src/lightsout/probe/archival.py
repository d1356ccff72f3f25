"""Records of :mod:`lightsout.probe.netx` written in OONI's data format (ooni/spec ``data-formats``):
``df-000-base`` (the measurement), ``df-001-httpt`` (requests), ``df-002-dnst`` (queries),
``df-005-tcpconnect``, ``df-006-tlshandshake``.

Privacy: ``probe_ip`` is always ``127.0.0.1`` (as OONI writes it) and nothing records the
probe's own address. A page or header that echoes the address it was reached from would carry
it: the vantage's addresses, in every textual form, are replaced by ``[scrubbed]`` in everything
written (bodies included, before base64 encoding), as OONI scrubs the probe's IP
(:mod:`lightsout.probe.scrub`).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from lightsout import __version__ as lightsout_version
from lightsout.model import OoniMeasurement
from lightsout.probe.config import ProbeConfig
from lightsout.probe.netx import DnsLookup, HttpExchange, TcpConnect, TlsHandshake
from lightsout.probe.scrub import Scrubber
from lightsout.sources.ooni import measurement_start, probe_asn, probe_cc

SOFTWARE_NAME = "lightsout-probe"
PROBE_IP = "127.0.0.1"
DATA_FORMAT_VERSION = "0.2.0"

JsonObject = dict[str, Any]


def endpoint_text(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def query_entry(record: DnsLookup) -> JsonObject:
    answers: list[JsonObject] = []
    for answer in record.answers:
        entry: JsonObject = {"answer_type": answer.answer_type, "ttl": answer.ttl}
        if answer.answer_type == "A":
            entry["ipv4"] = answer.value
        elif answer.answer_type == "AAAA":
            entry["ipv6"] = answer.value
        else:
            entry["hostname"] = answer.value
        answers.append(entry)
    return {
        "answers": answers or None,
        "engine": "udp",
        "failure": record.failure,
        "hostname": record.hostname,
        "query_type": record.query_type,
        "resolver_hostname": None,
        "resolver_port": str(record.resolver.port),
        "resolver_address": str(record.resolver),
        "t0": record.t0,
        "t": record.t,
        "tags": list(record.tags),
        "transaction_id": record.transaction_id,
    }


def tcp_entry(record: TcpConnect) -> JsonObject:
    return {
        "ip": record.ip,
        "port": record.port,
        "status": {"blocked": None, "failure": record.failure, "success": record.failure is None},
        "t0": record.t0,
        "t": record.t,
        "tags": list(record.tags),
        "transaction_id": record.transaction_id,
    }


def tls_entry(record: TlsHandshake) -> JsonObject:
    return {
        "network": "tcp",
        "address": endpoint_text(record.ip, record.port),
        "cipher_suite": record.cipher_suite or "",
        "failure": record.failure,
        "negotiated_protocol": record.negotiated_protocol or "",
        "no_tls_verify": False,
        "peer_certificates": [
            {"data": base64.b64encode(der).decode("ascii"), "format": "base64"}
            for der in record.peer_certificates
        ]
        or None,
        "server_name": record.server_name,
        "t0": record.t0,
        "t": record.t,
        "tags": list(record.tags),
        "tls_version": record.tls_version or "",
        "transaction_id": record.transaction_id,
    }


def body_value(body: bytes, scrubber: Scrubber) -> str | JsonObject:
    """A body as OONI writes it: a string when it is UTF-8 text, else base64 (``df-001-httpt``)."""
    body = scrubber.data(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"data": base64.b64encode(body).decode("ascii"), "format": "base64"}
    if "\x00" in text:
        return {"data": base64.b64encode(body).decode("ascii"), "format": "base64"}
    return text


def request_entry(record: HttpExchange, scrubber: Scrubber) -> JsonObject:
    request_headers = [[name, value] for name, value in record.request_headers]
    response: JsonObject
    if record.response is None:
        response = {"body": None, "body_is_truncated": False, "code": 0, "headers_list": [], "headers": {}}
    else:
        headers_list = [[name, scrubber.text(value)] for name, value in record.response.headers]
        headers: JsonObject = {}
        for name, value in headers_list:
            headers.setdefault(name, value)
        response = {
            "body": body_value(record.response.body, scrubber),
            "body_is_truncated": record.response.body_is_truncated,
            "code": record.response.status,
            "headers_list": headers_list,
            "headers": headers,
        }
    return {
        "network": "tcp",
        "address": str(record.address) if record.address is not None else "",
        "alpn": record.alpn or "",
        "failure": record.failure,
        "request": {
            "body": "",
            "body_is_truncated": False,
            "headers_list": request_headers,
            "headers": {name: value for name, value in request_headers},
            "method": record.method,
            "tor": {"exit_ip": None, "exit_name": None, "is_tor": False},
            "x_transport": "tcp",
            "url": record.url,
        },
        "response": response,
        "t0": record.t0,
        "t": record.t,
        "tags": list(record.tags),
        "transaction_id": record.transaction_id,
    }


def ooni_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def make_measurement(
    config: ProbeConfig,
    test_name: str,
    test_version: str,
    input_value: str | None,
    start: datetime,
    runtime_s: float,
    test_keys: JsonObject,
    scrubber: Scrubber,
    annotations: dict[str, str] | None = None,
) -> JsonObject:
    """The measurement envelope (``df-000-base``) around ``test_keys``, scrubbed."""
    measurement: JsonObject = {
        "annotations": {"engine_name": SOFTWARE_NAME, "platform": "linux", **(annotations or {})},
        "data_format_version": DATA_FORMAT_VERSION,
        "input": input_value,
        "measurement_start_time": ooni_time(start),
        "probe_asn": config.probe_asn_text,
        "probe_cc": config.probe_cc,
        "probe_ip": PROBE_IP,
        "probe_network_name": config.network_name,
        "report_id": "",
        "resolver_asn": "AS0",
        "resolver_ip": PROBE_IP,
        "resolver_network_name": "",
        "software_name": SOFTWARE_NAME,
        "software_version": lightsout_version,
        "test_keys": test_keys,
        "test_name": test_name,
        "test_runtime": round(runtime_s, 6),
        "test_start_time": ooni_time(start),
        "test_version": test_version,
    }
    scrubbed: JsonObject = scrubber.tree(measurement)
    return scrubbed


def as_measurement(measurement: JsonObject, measurement_id: str = "lightsout-probe") -> OoniMeasurement:
    """``measurement`` as the store's record (what :func:`lightsout.apps.verdict.analyse` reads)."""
    value = measurement.get("input")
    return OoniMeasurement(
        measurement_id=measurement_id,
        test_name=str(measurement["test_name"]),
        test_version=str(measurement["test_version"]),
        probe_cc=probe_cc(measurement.get("probe_cc")),
        probe_asn=probe_asn(measurement.get("probe_asn")),
        measurement_start=measurement_start(measurement.get("measurement_start_time")),
        input=value if isinstance(value, str) else None,
        raw_json=json.dumps(measurement, separators=(",", ":"), ensure_ascii=False),
    )
