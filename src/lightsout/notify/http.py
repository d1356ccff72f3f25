"""One webhook POST with a total deadline, to an address checked before connecting.

**Deadline.** A socket timeout bounds each read, not an attempt: a receiver dripping one byte
every second would hold a delivery as long as it likes. Here a watchdog timer shuts the socket
down when the attempt's deadline passes, whatever phase it is in (connect, send, waiting for or
reading the answer); name resolution runs on a helper thread and is abandoned at the deadline.

**Targets.** A webhook URL is a request an operator asks the observatory to make; one pointing
at loopback, link-local (169.254.169.254, the cloud metadata address), private, multicast or
otherwise reserved addresses would let whoever configures webhooks reach the machine's own
network. Such addresses are refused unless the endpoint was added with ``allow_private``. The
name is resolved once, every address is checked, and the connection goes to the checked address
(for HTTPS with the name for SNI and the certificate), so a DNS answer cannot change between the
check and the connection.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from lightsout.errors import UserError

_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


class TargetRefused(Exception):
    """The URL's host is an address webhooks may not reach (see the module docstring)."""


def check_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL with a host and no whitespace or control
    characters (which would later break the request line); else :class:`UserError`."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UserError(f"{url!r}: a webhook URL may not hold spaces, tabs, CR/LF or control characters")
    if len(url) > 2000:
        raise UserError("a webhook URL may be at most 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UserError(f"{url!r}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{url!r}: a webhook URL must be http:// or https:// with a host")
    if parts.username is not None or parts.password is not None:
        raise UserError(f"{url!r}: credentials in a webhook URL would be logged; use the signature instead")
    if port == 0:
        raise UserError(f"{url!r}: port 0 is not a port")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise UserError(f"{url!r}: the host is not a valid name") from None
    return url


def refused_reason(address: str) -> str | None:
    """Why webhooks may not reach ``address`` without ``allow_private``, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, what in (
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_private, "a private address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
    ):
        if test:
            return f"{address} is {what}"
    return None


def resolve(host: str, port: int, timeout_s: float) -> list[str]:
    """The addresses of ``host`` (an IP literal is its own), within ``timeout_s``."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        raise TimeoutError(f"resolving {host} took longer than {timeout_s:g} s") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_address(host: str, port: int, allow_private: bool, timeout_s: float) -> str:
    """One address of ``host`` to connect to; :class:`TargetRefused` if any is off-limits."""
    addresses = resolve(host, port, timeout_s)
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            reason = refused_reason(address)
            if reason is not None:
                raise TargetRefused(f"{host}: {reason} (add the webhook with --allow-private to allow it)")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _abort(connection: http.client.HTTPConnection, fired: threading.Event) -> None:
    fired.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def post(
    url: str, body: bytes, headers: dict[str, str], deadline_s: float, allow_private: bool = False
) -> tuple[int | None, str | None]:
    """POST and return (HTTP status, None), or (None, error) when no complete answer came within
    ``deadline_s`` seconds in all. Redirects are not followed (a 3xx is its status)."""
    started = time.monotonic()
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = checked_address(host, port, allow_private, deadline_s)
    except TargetRefused as exc:
        return None, f"refused: {exc}"
    except (OSError, UnicodeError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    left = deadline_s - (time.monotonic() - started)
    if left <= 0:
        return None, f"TimeoutError: no answer within {deadline_s:g} s"
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = kind(host, port, address, left)
    fired = threading.Event()
    watchdog = threading.Timer(left, _abort, [connection, fired])
    watchdog.daemon = True
    watchdog.start()
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request("POST", target, body, headers)
        status = int(connection.getresponse().status)  # the body is not needed: not read
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if fired.is_set():
            return None, f"TimeoutError: no complete answer within {deadline_s:g} s"
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        watchdog.cancel()
        connection.close()
    if fired.is_set():
        return None, f"TimeoutError: no complete answer within {deadline_s:g} s"
    return status, None
