"""``python -m lightsout.probe``: the probe command on its own, with the CLI's error handling."""

from __future__ import annotations

from lightsout.cli import run
from lightsout.cli.probe import probe


def main() -> None:
    run(probe)


if __name__ == "__main__":
    main()
