"""The lab's servers, run inside a namespace: ``python servers.py CONFIG.json``.

Roles (``"role"`` in the config):

* ``internet`` (server namespace): the lab's resolver (UDP/TCP 53, answers from the lab zone,
  lies as the scenario's DNS policy file says: NXDOMAIN, or 127.0.0.1 / ::1 for a blocked name)
  and the web servers - HTTP and HTTPS per address, pages chosen by the Host header, plain HTTP
  on any port for Telegram's data centres and WhatsApp's chat port.
* ``censor`` (censor namespace): the ISP's blockpage portal and the transparent HTTP proxy that
  the ``http_blockpage`` scenario redirects blocked traffic to; it answers every request with a
  redirect to the portal.

Prints ``ready`` on stdout once every socket listens. Dies with its parent (PR_SET_PDEATHSIG), so
a killed test run leaves no server behind. Only ever binds addresses of its own namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import signal
import socket
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

try:
    from netlab.pages import BLOCKPAGE, page_body
except ImportError:  # run by path inside a namespace, where tests/ is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pages import BLOCKPAGE, page_body

_PR_SET_PDEATHSIG = 1
_CONNECTION_TIMEOUT_S = 20.0


def die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# -- DNS ------------------------------------------------------------------------------------------


class Resolver:
    def __init__(self, zone: dict[str, dict[str, list[str]]], policy_file: Path) -> None:
        self.zone = {name.lower().rstrip("."): records for name, records in zone.items()}
        self.policy_file = policy_file

    def policy(self) -> dict[str, list[str]]:
        try:
            loaded: dict[str, list[str]] = json.loads(self.policy_file.read_text())
        except (OSError, ValueError):
            return {}
        return loaded

    def answer(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text().lower().rstrip(".")
        kind = dns.rdatatype.to_text(question.rdtype)
        policy = self.policy()
        if name in policy.get("nxdomain", []):
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        if name in policy.get("bogon", []):
            values = {"A": ["127.0.0.1"], "AAAA": ["::1"]}.get(kind, [])
        elif name in self.zone:
            values = self.zone[name].get(kind, [])
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        if values:
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, question.rdtype, values)
            )
        return response.to_wire()


def serve_dns_udp(resolver: Resolver, sock: socket.socket) -> None:
    """Answer queries until the socket is closed (the owner closing it ends the thread quietly)."""
    while True:
        try:
            wire, peer = sock.recvfrom(4096)
        except OSError:  # closed under us: the server's owner is done with it
            return
        reply = resolver.answer(wire)
        if reply is not None:
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)


class _DnsTcpHandler(socketserver.BaseRequestHandler):
    resolver: Resolver

    def handle(self) -> None:
        self.request.settimeout(_CONNECTION_TIMEOUT_S)
        size = self.request.recv(2)
        if len(size) < 2:
            return
        wire = self.request.recv(int.from_bytes(size, "big"))
        reply = self.resolver.answer(wire)
        if reply is not None:
            self.request.sendall(len(reply).to_bytes(2, "big") + reply)


# -- HTTP -----------------------------------------------------------------------------------------


class LabServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, port: int, tls: ssl.SSLContext | None, site: Site) -> None:
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.tls = tls
        self.site = site
        super().__init__((address, port), Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Per connection, in its own thread: the TLS handshake must not hold up the accept loop."""
        request.settimeout(_CONNECTION_TIMEOUT_S)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ValueError):
                request.close()
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (reset, timeout): normal in a censorship lab


class Site:
    """What the web servers answer: by role and Host header."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.role: str = config["role"]
        self.pages: dict[str, dict[str, Any]] = config.get("pages", {})
        self.portal: str = config.get("portal", "")
        self.bodies: dict[str, bytes] = {
            host: page_body(host, spec["title"], spec["size"]) for host, spec in self.pages.items()
        }


class Handler(BaseHTTPRequestHandler):
    server: LabServer
    protocol_version = "HTTP/1.1"
    server_version = "lab"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.respond()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 16))
        self.respond()

    def respond(self) -> None:
        site = self.server.site
        host = (self.headers.get("Host") or "").lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        host = host.strip("[]")
        if site.role == "censor":
            if host == site.portal:
                self.send_body(200, BLOCKPAGE, [])
            else:
                self.send_body(302, b"", [("Location", f"http://{site.portal}/blocked.html")])
            return
        spec = site.pages.get(host)
        if spec is None:  # a data centre or chat endpoint reached by address: any answer will do
            self.send_body(501, b"lab service\n", [])
            return
        redirect = spec.get("redirect_http_to_https") and not isinstance(self.connection, ssl.SSLSocket)
        if redirect:
            self.send_body(301, b"", [("Location", f"https://{host}/")])
            return
        client = self.client_address[0]
        # The client's address is echoed on purpose: the probe must scrub it (never store it).
        body = site.bodies[host].replace(b"</h1>", f"</h1>\n<p>you came from {client}</p>".encode(), 1)
        self.send_body(200, body, [("X-Lab-Site", host), ("X-Client-Address", client)])

    def send_body(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        view = memoryview(body)
        for offset in range(0, len(body), 16384):
            self.wfile.write(view[offset : offset + 16384])
        self.close_connection = True


def main() -> None:
    die_with_parent()
    config = json.loads(Path(sys.argv[1]).read_text())
    site = Site(config)
    threads: list[threading.Thread] = []
    servers: list[socketserver.BaseServer] = []
    if "dns" in config:
        dns_config = config["dns"]
        resolver = Resolver(dns_config["zone"], Path(dns_config["policy_file"]))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((dns_config["address"], 53))
        threads.append(threading.Thread(target=serve_dns_udp, args=(resolver, udp), daemon=True))
        handler = type("DnsTcp", (_DnsTcpHandler,), {"resolver": resolver})
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        tcp = socketserver.ThreadingTCPServer((dns_config["address"], 53), handler)
        tcp.daemon_threads = True
        servers.append(tcp)
    tls: ssl.SSLContext | None = None
    if "cert" in config:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(config["cert"], config["key"])
        tls.set_alpn_protocols(["http/1.1"])
    for listener in config.get("listeners", []):
        servers.append(
            LabServer(listener["address"], listener["port"], tls if listener["tls"] else None, site)
        )
    for server in servers:
        threads.append(threading.Thread(target=server.serve_forever, daemon=True))
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
