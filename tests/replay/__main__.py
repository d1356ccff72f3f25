"""``cd tests && python -m replay [--port N]``: serve the recorded OONI API, IODA's API v2 (under
``/v2``) and the Cloudflare Radar replay (under ``/client/v4/radar``; bearer token from
``$LIGHTSOUT_DEMO_RADAR_TOKEN``, default ``demo-token``) and the MRT archives (``/ris``, ``/routeviews``,
BGPKIT broker under ``/broker``; ``replay/mrt_archive.py``) on loopback until interrupted."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from .cloudflare_radar import RadarReplay
from .ioda import IodaReplay
from .mrt_archive import MrtArchiveReplay
from .ooni import OoniReplay
from .server import ReplayServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    token = os.environ.get("LIGHTSOUT_DEMO_RADAR_TOKEN", "demo-token")
    routes = [OoniReplay(), IodaReplay(), RadarReplay(token), MrtArchiveReplay()]
    server = ReplayServer(routes, port=args.port).start()
    print(f"replaying recorded OONI ({server.url}/api/v1), IODA ({server.url}/v2) and Cloudflare Radar "
          f"({server.url}/client/v4/radar) answers", flush=True)  # fmt: skip
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
