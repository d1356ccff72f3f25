"""The lab's resolver and web server on 127.0.0.1 (ephemeral ports), in threads of the test process:
for the probe's tests that need no namespace (tests/conftest.py's ``loopback_site``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightsout.probe.config import Endpoint
from netlab.servers import LabServer, Resolver, Site, serve_dns_udp


@contextmanager
def serve_loopback(
    workdir: Path, zone: dict[str, dict[str, list[str]]], pages: dict[str, dict[str, Any]]
) -> Iterator[tuple[Endpoint, int]]:
    """(the resolver's endpoint, the web server's port): ``zone`` answered over UDP, ``pages``
    (host -> {"title", "size"}) served over HTTP, both on 127.0.0.1 until the block ends."""
    policy = workdir / "policy.json"
    policy.write_text("{}")
    resolver = Resolver(zone, policy)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    threading.Thread(target=serve_dns_udp, args=(resolver, udp), daemon=True).start()
    server = LabServer("127.0.0.1", 0, None, Site({"role": "internet", "pages": pages}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Endpoint("127.0.0.1", udp.getsockname()[1]), server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        udp.close()
