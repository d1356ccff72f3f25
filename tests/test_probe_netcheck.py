"""The probe's control check (issue 11, item 3): no verdict of blocking without a working network.

Everything runs on 127.0.0.0/8: a resolver that answers (``netlab.servers.Resolver``), closed
ports standing for a dead resolver or a dead host, and a web server standing for a control host.
An offline machine ("this network is down") and a resolver that fails for every name must make
every non-accessible verdict inconclusive, and say why; a working network changes nothing.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from click.testing import CliRunner

from lightsout.apps.finding import Status
from lightsout.apps.verdict import analyse
from lightsout.cli.probe import probe
from lightsout.probe.archival import as_measurement
from lightsout.probe.config import Endpoint, parse_config
from lightsout.probe.netcheck import NetworkState, check_network


def _closed_port() -> int:
    """A loopback port nothing listens on (TCP and UDP): bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(second: Endpoint | None, port: int, dead_port: int) -> dict[str, object]:
    return {
        "dns": {"query_types": ["A"]},
        "timeouts": {"dns_s": 0.5, "connect_s": 0.5, "tls_s": 1, "http_s": 1},
        "network_check": {
            "names": ["site.test"],
            "second_resolver": str(second) if second is not None else "",
            "port": port,
        },
        "apps": {"telegram": {"data_centres": ["127.0.0.1"], "ports": [dead_port]}},
    }


def test_a_working_network_passes(loopback_site: tuple[Endpoint, int]) -> None:
    resolver, port = loopback_site
    check = check_network(parse_config(_config(None, port, _closed_port())), resolver)
    assert check.state is NetworkState.OK and check.ok


def test_a_resolver_failing_for_everything_is_named(loopback_site: tuple[Endpoint, int]) -> None:
    working, port = loopback_site
    dead = Endpoint("127.0.0.1", _closed_port())
    check = check_network(parse_config(_config(working, port, _closed_port())), dead)
    assert check.state is NetworkState.RESOLVER_FAILS
    assert check.reason.startswith(f"the resolver {dead} fails for everything")


def test_an_offline_machine_is_network_down() -> None:
    dead, other = Endpoint("127.0.0.1", _closed_port()), Endpoint("127.0.0.2", _closed_port())
    check = check_network(parse_config(_config(other, _closed_port(), _closed_port())), dead)
    assert check.state is NetworkState.NETWORK_DOWN
    assert check.reason.startswith("this network is down")


def test_offline_probe_reports_inconclusive_not_blocked(tmp_path: Path) -> None:
    """The defect: offline, `probe --apps telegram` said "Telegram blocked". Now: inconclusive."""
    dead_port = _closed_port()
    dead, other = Endpoint("127.0.0.1", _closed_port()), Endpoint("127.0.0.2", _closed_port())
    config = tmp_path / "probe.toml"
    config.write_text(
        '[dns]\nquery_types = ["A"]\n[timeouts]\ndns_s = 0.5\nconnect_s = 0.5\ntls_s = 1\nhttp_s = 1\n'
        f'[network_check]\nnames = ["control.test"]\nsecond_resolver = "{other}"\nport = {dead_port}\n'
        f'[apps.telegram]\ndata_centres = ["127.0.0.1"]\nports = [{dead_port}]\n'
        f'web_url = "http://127.0.0.1:{dead_port}/"\n'
    )
    out = tmp_path / "out.jsonl"
    args = ["--apps", "telegram", "--config", str(config), "--resolver", str(dead), "--out", str(out)]
    result = CliRunner().invoke(probe, [*args, "--no-store"])
    assert result.exit_code == 0, result.output
    assert "network check: this network is down" in result.output
    assert "telegram Telegram: inconclusive: inconclusive: this network is down" in result.output
    assert "blocked" not in result.output
    (line,) = out.read_text().splitlines()
    measurement = json.loads(line)
    assert measurement["annotations"]["lightsout_network_check"] == "network_down"
    # the stored measurement keeps the check: judged again later, it is still inconclusive
    verdict = analyse(as_measurement(measurement))
    assert verdict.status is Status.INCONCLUSIVE
    assert verdict.reason.startswith("inconclusive: this network is down")
    # without the annotation the same measurement reads as blocking: the check is what prevents it
    del measurement["annotations"]["lightsout_network_check"]
    assert analyse(as_measurement(measurement)).status is Status.BLOCKED
