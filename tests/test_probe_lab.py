"""The probe against a censorship lab built on this machine (tests/netlab): for every named scenario,
the probe runs inside the client namespace, its JSONL goes into a store, and the verdict of each
stored measurement must be the scenario's.

Needs root and ``ip netns`` (CI has both); skips with the reason when ``ip netns`` cannot be used.
nftables, ip6tables, tc and openssl come from ``scripts/ci-netlab-deps.sh``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lightsout.apps.verdict import analyse
from lightsout.model import OoniMeasurement
from lightsout.store import MeasurementFilter, open_store
from netlab.lab import CLIENT_V4, CLIENT_V6, RESOLVER, Lab, missing_tools, netns_unavailable_reason
from netlab.scenarios import SCENARIOS, Expected, Scenario


@dataclass(frozen=True)
class Run:
    jsonl: Path
    stdout: str
    measurements: list[dict[str, Any]]  # as written to the JSONL file
    stored: list[OoniMeasurement]  # as read back from the store

    def stored_for(self, target: str) -> OoniMeasurement:
        found = [m for m in self.stored if (m.input or m.test_name) == target]
        assert len(found) == 1, f"{len(found)} stored measurements of {target}"
        return found[0]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = netns_unavailable_reason()
    if reason is not None:
        pytest.skip(f"ip netns is unavailable here: {reason}")
    missing = missing_tools()
    if missing:
        pytest.skip(f"the lab needs {', '.join(missing)}: run scripts/ci-netlab-deps.sh (as root)")
    built = Lab(tmp_path_factory.mktemp("netlab"))
    built.build()
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="module")
def measured(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Callable[[Scenario], Run]:
    """Run each scenario's probe once (the first test that needs it) and keep what it wrote."""
    runs: dict[str, Run] = {}
    directory = tmp_path_factory.mktemp("probe-runs")

    def run(scenario: Scenario) -> Run:
        if scenario.name not in runs:
            scenario.apply(lab)
            out, db = directory / f"{scenario.name}.jsonl", directory / f"{scenario.name}.duckdb"
            result = lab.run_probe(out, db, list(scenario.urls), list(scenario.apps))
            assert result.returncode == 0, f"probe failed in {scenario.name}:\n{result.stderr[-4000:]}"
            store = open_store(db, read_only=True)
            try:
                stored = store.measurements(MeasurementFilter(limit=100))
            finally:
                store.close()
            lines = out.read_text(encoding="utf-8").splitlines()
            runs[scenario.name] = Run(out, result.stdout, [json.loads(line) for line in lines], stored)
        return runs[scenario.name]

    return run


def _cases() -> list[object]:
    cases: list[object] = []
    for scenario in SCENARIOS:
        for target, expected in scenario.expected.items():
            marks = [pytest.mark.xfail(reason=expected.gap, strict=False)] if expected.gap else []
            cases.append(
                pytest.param(scenario, target, expected, marks=marks, id=f"{scenario.name}:{target}")
            )
    return cases


@pytest.mark.parametrize(("scenario", "target", "expected"), _cases())
def test_verdict_matches_the_scenario(
    measured: Callable[[Scenario], Run], scenario: Scenario, target: str, expected: Expected
) -> None:
    verdict = analyse(measured(scenario).stored_for(target))
    got = (verdict.status.value, verdict.method.value if verdict.method is not None else None)
    assert got == (expected.status, expected.method), f"{scenario.name} {target}: {verdict.reason}"


def test_every_scenario_stores_every_measurement(measured: Callable[[Scenario], Run]) -> None:
    for scenario in SCENARIOS:
        run = measured(scenario)
        assert len(run.measurements) == len(scenario.urls) + len(scenario.apps)
        assert len(run.stored) == len(run.measurements), scenario.name
        assert {m.input or m.test_name for m in run.stored} == set(scenario.expected), scenario.name


def test_measurements_follow_the_ooni_format_and_never_hold_the_client_address(
    measured: Callable[[Scenario], Run],
) -> None:
    run = measured(SCENARIOS[0])  # clean: every page loads, and the lab's pages echo the client's address
    text = run.jsonl.read_text(encoding="utf-8")
    for address in (CLIENT_V4, CLIENT_V6, "3fff:0077:0001:0000:0000:0000:0000:0002"):
        assert address not in text
    assert "[scrubbed]" in text  # the echo was there, and was replaced
    for measurement in run.measurements:
        assert measurement["probe_ip"] == "127.0.0.1"
        assert (measurement["probe_cc"], measurement["probe_asn"]) == ("IR", "AS64512")
        assert measurement["software_name"] == "lightsout-probe"
        test_keys = measurement["test_keys"]
        assert {"queries", "tcp_connect", "tls_handshakes", "requests"} <= test_keys.keys()
        assert all(q["resolver_address"] == f"{RESOLVER}:53" for q in test_keys["queries"])
    web = [m for m in run.measurements if m["test_name"] == "web_connectivity"]
    assert all(m["test_keys"]["blocking"] is False and m["test_keys"]["accessible"] is True for m in web)
    apps = {m["test_name"]: m["test_keys"] for m in run.measurements if m["test_name"] != "web_connectivity"}
    assert apps["whatsapp"]["whatsapp_endpoints_status"] == "ok"
    assert apps["telegram"]["telegram_tcp_blocking"] is False
    assert apps["signal"]["signal_backend_status"] == "ok"
    assert all(m.probe_cc == "IR" and m.probe_asn == 64512 for m in run.stored)


def test_summary_keys_say_what_the_censor_did(measured: Callable[[Scenario], Run]) -> None:
    by_name = {scenario.name: scenario for scenario in SCENARIOS}
    nxdomain = measured(by_name["dns_nxdomain"])
    blocked = next(m for m in nxdomain.measurements if m["input"] == "https://www.blocked.test/")
    assert blocked["test_keys"]["dns_experiment_failure"] == "dns_nxdomain_error"
    assert blocked["test_keys"]["blocking"] == "dns"
    reset = measured(by_name["tcp_reset"])
    telegram = next(m for m in reset.measurements if m["test_name"] == "telegram")
    assert telegram["test_keys"]["telegram_tcp_blocking"] is True


def test_the_client_namespace_routes_nothing_but_the_lab(lab: Lab) -> None:
    # Route look-ups only: the kernel answers from the client's table, no packet is sent.
    for destination in ("8.8.8.8", "192.168.1.1", "2001:4860:4860::8888"):
        result = subprocess.run(
            ["ip", "netns", "exec", lab.client, "ip", "route", "get", destination],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0, f"{destination} is routable from the client: {result.stdout}"
    assert "via" in lab.ns(lab.client, "ip", "route", "get", RESOLVER)
