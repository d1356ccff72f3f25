"""The pages the lab's servers send, made the same way by the servers and by the tests' controls.

Imported as ``netlab.pages`` by the tests and as ``pages`` by the server scripts, which run by
path inside the namespaces; so it imports nothing from the project.
"""

from __future__ import annotations

# Not a real site's text: every lab page is generated, and names only itself.
_FILLER = b"<p>Lightsout lab page. Nothing here is real; it only stands in for a website.</p>\n"


def page_body(host: str, title: str, size: int) -> bytes:
    """An HTML page titled ``title``, padded to ``size`` bytes (at least the bare page)."""
    head = f"<!doctype html>\n<html><head><title>{title}</title></head><body>\n<h1>{host}</h1>\n".encode()
    tail = b"</body></html>\n"
    room = max(0, size - len(head) - len(tail))
    filler = (_FILLER * (room // len(_FILLER) + 1))[:room]
    return head + filler + tail


BLOCKPAGE = (
    b"<!doctype html>\n<html><head><title>Access denied</title></head><body>\n"
    b"<h1>This website is blocked by order of the lab's censor.</h1>\n</body></html>\n"
)
