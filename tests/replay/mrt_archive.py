"""The RIS and RouteViews MRT archives and BGPKIT broker's index, replayed on loopback.

Layout (``../shared/data/api-samples/mrt-archives/README.md``):

* the three recorded directory pages at their recorded paths (``/ris/rrc00/2022.11/``,
  ``/ris/rrc00/2001.01/``, ``/routeviews/route-views.bdix/bgpdata/2022.10/UPDATES/``);
* real MRT files from ``../shared/data/mrt/`` under their archive names, each month directory
  listed in the recorded Apache page's own row format (link = file name, as the archive does):
  RIS ``rrc15/2010.02/updates.20100227.1600.gz`` and ``.1610.gz`` (``.1605`` is missing in the
  real sequence: a gap), RouteViews ``route-views.jinx`` RIB ``rib.20140530.2200.bz2`` and update
  file ``updates.20140530.2345.bz2`` (the 7 files between them are missing: a gap);
* ``/broker/search?collector_id=rrc00&page=N``: the recorded search pages (page size 2).

Any other directory is a 404, as a month the archive does not have yet.
"""

from __future__ import annotations

from pathlib import Path

from .server import Reply, Request

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SAMPLES = DATA / "api-samples" / "mrt-archives" / "listings"
BROKER = DATA / "api-samples" / "bgpkit-broker"
MRT = DATA / "mrt"

RECORDED_PAGES = {
    "/ris/rrc00/2022.11/": SAMPLES / "data.ris.ripe.net_rrc00_2022.11_apache-style.TRIMMED.html",
    "/ris/rrc00/2001.01/": SAMPLES / "data.ris.ripe.net_rrc00_2001.01_nginx-style.TRIMMED.html",
    "/routeviews/route-views.bdix/bgpdata/2022.10/UPDATES/": SAMPLES
    / "archive.routeviews.org_route-views.bdix_bgpdata_2022.10_UPDATES.TRIMMED.html",
}
JINX = MRT / "collectors" / "route-views.jinx"
FILES = {
    "/ris/rrc15/2010.02/updates.20100227.1600.gz": MRT / "ripe-ris/rrc15/2010.02/updates.20100227.1600.gz",
    "/ris/rrc15/2010.02/updates.20100227.1610.gz": MRT / "ripe-ris/rrc15/2010.02/updates.20100227.1610.gz",
    "/routeviews/route-views.jinx/bgpdata/2014.05/RIBS/rib.20140530.2200.bz2": JINX
    / "routeviews.route-views.jinx.ribs.1401487200.bz2",
    "/routeviews/route-views.jinx/bgpdata/2014.05/UPDATES/updates.20140530.2345.bz2": JINX
    / "routeviews.route-views.jinx.updates.1401493500.bz2",
}


def _apache_page(directory: str, names: list[str]) -> bytes:
    """A directory page in the recorded Apache layout (header and rows as in the RIS 2022.11 page)."""
    template = RECORDED_PAGES["/ris/rrc00/2022.11/"].read_text()
    head, _, rest = template.partition('<tr><td valign="top">&nbsp;</td><td><a href="updates.')
    tail = rest[rest.index("   <tr><th colspan") :]
    rows = "".join(
        f'<tr><td valign="top">&nbsp;</td><td><a href="{n}">{n}</a></td>'
        f'<td align="right">2000-01-01 00:00  </td><td align="right">1.0M</td><td>&nbsp;</td></tr>\n'
        for n in names
    )
    return (head.replace("/rrc00/2022.11", directory.rstrip("/")) + rows + tail).encode()


class MrtArchiveReplay:
    def __init__(self) -> None:
        self.files = dict(FILES)

    def drop(self, path: str) -> None:
        """Take a file out of the archive (its listing no longer names it)."""
        self.files.pop(path)

    def __call__(self, request: Request) -> Reply | None:
        path = request.path
        if path == "/broker/search":
            return self._broker(request)
        if path in RECORDED_PAGES:
            return Reply(200, RECORDED_PAGES[path].read_bytes(), "text/html")
        if path in self.files:
            return Reply(200, self.files[path].read_bytes(), "application/octet-stream")
        if path.endswith("/"):
            names = sorted(
                p[len(path) :] for p in self.files if p.startswith(path) and "/" not in p[len(path) :]
            )
            if names:
                return Reply(200, _apache_page(path, names), "text/html")
        return None

    @staticmethod
    def _broker(request: Request) -> Reply:
        if request.arg("collector_id") != "rrc00" or request.arg("page_size") != "2":
            return Reply.json({"total": 0, "count": 0, "page": 1, "page_size": 2, "error": None, "data": []})
        page = request.arg("page") or "1"
        name = BROKER / f"v3-search-collector_id=rrc00-page_size=2-page={page}.json"
        if not name.exists():
            return Reply.json({"SearchError": "page out of range"}, 400)
        return Reply(200, name.read_bytes())
