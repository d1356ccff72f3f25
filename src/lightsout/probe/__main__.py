"""``python -m lightsout.probe``: the probe command on its own, with the CLI's error handling."""

from __future__ import annotations

import sys

import click

from lightsout.errors import UserError
from lightsout.probe.commands import probe


def main() -> None:
    try:
        probe.main(standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else 1)


if __name__ == "__main__":
    main()
