"""``cd tests && python -m replay [--port N]``: serve the recorded OONI API (``/api/v1/...``) and IODA
API v2 (``/v2/...``) answers on loopback until interrupted."""

from __future__ import annotations

import argparse
import signal
import threading

from .ioda import IodaReplay
from .ooni import OoniReplay
from .server import ReplayServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = ReplayServer([OoniReplay(), IodaReplay()], port=args.port).start()
    print(f"replaying recorded OONI ({server.url}/api/v1) and IODA ({server.url}/v2) answers", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
