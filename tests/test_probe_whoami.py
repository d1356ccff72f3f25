"""The probe learns its public address as servers see it, and scrubs it (issue 13).

Everything is on 127.0.0.1: a DNS server answering the echo names (``netlab.servers.Resolver``)
and an HTTP server that stands for a server seeing the vantage through NAT - its ``/whoami``
answers the documentation addresses 203.0.113.7 / 2001:db8:cafe::7 (what a real echo behind NAT
would say), and its page echoes those addresses in every textual form the scrubber knows
(``test_probe_scrub.address_forms``). The same run without the echoes keeps them: the echoes are what
scrubs them. A real ``lightsout serve`` answers ``/api/v1/whoami`` with the peer's address.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from fastapi.testclient import TestClient

from lightsout.api.app import create_app
from lightsout.cli.probe import probe
from lightsout.errors import UserError
from lightsout.probe.config import DNS_ECHOES, DnsEcho, Endpoint, parse_config
from lightsout.probe.whoami import addresses_in_echo, ask_http, discover_public_addresses
from lightsout.store import open_store
from netlab.loopback import serve_loopback
from test_probe_scrub import address_forms

# Documentation addresses no interface of the test machine has (its eth0 may well be 192.0.2.2).
V4, V6 = "203.0.113.7", "2001:db8:cafe::7"
FORMS = address_forms(V4, V6)

ECHO_ZONE = {
    "echo.test": {"A": ["127.0.0.1"]},
    # Google's authoritative answer: the querier, then (with ECS) the client subnet - not an address
    "o-o.myaddr.l.google.com": {"TXT": [f'"{V6}"', '"edns0-client-subnet 198.51.100.0/24"']},
    "whoami.akamai.net": {"A": [V4]},
}
PAGE = "<html><head><title>Your address</title></head><body>\n" + "\n".join(
    f"<p>{text}</p>" for text, _ in FORMS
) + "\n</body></html>\n"


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/whoami":
            body = json.dumps({"data": {"address": V4, "version": 4}, "meta": {}}).encode()
        else:
            body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Your-Address", V4)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def echo_dns(tmp_path: Path) -> Iterator[Endpoint]:
    with serve_loopback(tmp_path, ECHO_ZONE, {}) as (resolver, _):
        yield resolver


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- what an echo says ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "addresses"),
    [
        (b'{"data": {"address": "192.0.2.2", "version": 4}, "meta": {}}', ("192.0.2.2",)),  # lightsout
        (b'{"origin": "192.0.2.2, 198.51.100.1"}', ("192.0.2.2",)),  # httpbin: the client, then a proxy
        (b"fl=1\nh=example\nip=2001:DB8::2\nts=1\n", ("2001:db8::2",)),  # Cloudflare's trace
        (b"192.0.2.2\n", ("192.0.2.2",)),
        (b'"192.0.2.2"', ("192.0.2.2",)),
        (b"<html>error 502</html>", ()),
        (b'{"ip": 3221225986}', ()),
        (b"", ()),
    ],
)
def test_an_echo_names_the_address_or_nothing(body: bytes, addresses: tuple[str, ...]) -> None:
    assert addresses_in_echo(body) == addresses


def test_the_echoes_are_configured(tmp_path: Path) -> None:
    assert parse_config({}).public_address.dns == DNS_ECHOES
    config = parse_config(
        {
            "public_address": {
                "addresses": ["203.0.113.9"],
                "http": ["https://lightsout.example/api/v1/whoami"],
                "dns": [{"name": "whoami.akamai.net", "type": "a", "server": "[2001:db8::53]:5353"}],
            }
        }
    )
    assert config.public_address.addresses == ("203.0.113.9",)
    assert config.public_address.dns == (DnsEcho("whoami.akamai.net", "A", Endpoint("2001:db8::53", 5353)),)
    assert config.public_address.http == ("https://lightsout.example/api/v1/whoami",)
    assert not parse_config({"public_address": {"dns": []}}).public_address.discovers
    for raw, key in [
        ({"dns": [{"name": "x", "server": "ns1.example"}]}, "public_address.dns[0].server"),
        ({"dns": [{"name": "x", "type": "MX", "server": "192.0.2.53"}]}, "public_address.dns[0].type"),
        ({"http": ["ftp://x/"]}, "public_address.http"),
        ({"addresses": ["home"]}, "public_address.addresses"),
        ({"stun": []}, "unknown key(s) stun"),
    ]:
        with pytest.raises(UserError, match=re.escape(key)):
            parse_config({"public_address": raw})


def test_echoes_are_asked_at_once_and_failures_named(echo_server: int, echo_dns: Endpoint) -> None:
    dead = _closed_port()
    config = parse_config(
        {
            "timeouts": {"dns_s": 1, "http_s": 2},
            "public_address": {
                "http": [f"http://127.0.0.1:{echo_server}/whoami", f"http://127.0.0.1:{dead}/whoami"],
                "dns": [
                    {"name": "o-o.myaddr.l.google.com", "type": "TXT", "server": str(echo_dns)},
                    {"name": "whoami.akamai.net", "type": "A", "server": str(echo_dns)},
                    {"name": "nowhere.test", "type": "A", "server": str(echo_dns)},
                ],
            },
        }
    )
    found = discover_public_addresses(config)
    assert found.addresses == {V4, V6} and found.state == "learnt"
    failures = {r.method: r.failure for r in found.results if r.failure}
    assert failures == {
        f"http http://127.0.0.1:{dead}/whoami": "connection_refused",
        f"dns nowhere.test A at {echo_dns}": "dns_nxdomain_error",
    }
    assert found.reason.startswith("2 addresses learnt from dns o-o.myaddr.l.google.com TXT")
    assert V4 not in found.reason and V6 not in found.reason
    nothing = discover_public_addresses(
        parse_config({"public_address": {"dns": [], "http": [f"http://127.0.0.1:{dead}/"]}})
    )
    assert nothing.state == "not_learnt" and nothing.addresses == set()
    assert nothing.reason.startswith("not learnt: every echo failed (")
    assert "connection_refused" in nothing.reason


# -- the run: what the echoes learn is scrubbed in every form ---------------------------------------


def _probe(tmp_path: Path, echo_server: int, echo_dns: Endpoint, echoes: bool) -> tuple[str, str]:
    """Run ``lightsout probe`` on the echoing page; (its output, the JSONL written)."""
    urls = tmp_path / "urls.txt"
    urls.write_text(f"http://echo.test:{echo_server}/page\n")
    public = (
        f'[public_address]\nhttp = ["http://127.0.0.1:{echo_server}/whoami", '
        f'"http://127.0.0.1:{_closed_port()}/whoami"]\n'
        f'[[public_address.dns]]\nname = "o-o.myaddr.l.google.com"\nserver = "{echo_dns}"\n'
        if echoes
        else "[public_address]\ndns = []\n"
    )
    config = tmp_path / "probe.toml"
    config.write_text(
        '[dns]\nquery_types = ["A"]\n[timeouts]\nconnect_s = 2\nhttp_s = 3\n'
        f'[network_check]\nnames = ["echo.test"]\nsecond_resolver = ""\nport = {echo_server}\n' + public
    )
    out = tmp_path / f"out-{echoes}.jsonl"
    args = ["--urls", str(urls), "--config", str(config), "--resolver", str(echo_dns), "--out", str(out)]
    result = CliRunner().invoke(probe, [*args, "--no-store"])
    assert result.exit_code == 0, result.output
    return result.output, out.read_text()


def test_the_public_address_an_echo_tells_is_scrubbed_in_every_form(
    tmp_path: Path, echo_server: int, echo_dns: Endpoint
) -> None:
    output, written = _probe(tmp_path, echo_server, echo_dns, echoes=True)
    assert "public address: 2 addresses learnt from" in output
    assert "(failed: http http://127.0.0.1:" in output and "connection_refused" in output
    (measurement,) = [json.loads(line) for line in written.splitlines()]
    response = measurement["test_keys"]["requests"][0]["response"]
    assert response["code"] == 200
    body = response["body"]
    for text, scrubbed in FORMS:
        assert scrubbed in body, text
        assert text not in written, text
    assert response["headers"]["X-Your-Address"] == "[scrubbed]"
    assert measurement["annotations"]["lightsout_public_address"] == "learnt"
    assert V4 not in output and V6 not in output and V4 not in written and V6 not in written
    # The same run without echoes: the page keeps the address (so the echoes are what scrubbed it).
    output, written = _probe(tmp_path, echo_server, echo_dns, echoes=False)
    assert "public address: not asked: no echo configured" in output
    assert [text for text, _ in FORMS if text not in written] == []
    assert json.loads(written)["annotations"]["lightsout_public_address"] == "not_asked"


# -- lightsout serve's /api/v1/whoami ----------------------------------------------------------------


def test_lightsout_serve_echoes_the_peer_and_a_probe_learns_it(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    open_store(db).close()
    app = create_app(db, None)
    with TestClient(app, client=("198.51.100.4", 40000)) as client:
        answer = client.get("/api/v1/whoami")
        assert answer.json()["data"] == {"address": "198.51.100.4", "version": 4}
        assert answer.headers["cache-control"] == "no-store"  # one caller's address, never another's
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        result = ask_http(f"http://127.0.0.1:{port}/api/v1/whoami", 3, None)
        assert (result.addresses, result.failure) == (("127.0.0.1",), None)
    finally:
        server.should_exit = True
        thread.join(10)
