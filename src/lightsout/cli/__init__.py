"""The ``lightsout`` command line: every command lives in this package, one module per concern.

Strings are parsed into typed values here, at the edge (``params``); user mistakes are one line and
exit status 1 (``run``).
"""

from __future__ import annotations

import sys

import click

from lightsout.cli.common import err_console
from lightsout.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lightsout")
def cli() -> None:
    """Lightsout: an open observatory for internet shutdowns."""


def _register_commands() -> None:
    from lightsout.cli.blocking import blocking
    from lightsout.cli.data import entities, ingest, measurements, show, signals
    from lightsout.cli.detect import detect, evaluate, events, watch
    from lightsout.cli.notify import feed, webhooks
    from lightsout.cli.probe import probe
    from lightsout.cli.report import report
    from lightsout.cli.serve import serve

    for command in (
        ingest, entities, signals, show, measurements, detect, watch, events, evaluate,
        serve, report, feed, webhooks, blocking, probe,
    ):
        cli.add_command(command)


_register_commands()


def main() -> None:
    run(cli)


def run(command: click.Command) -> None:
    """Run a command the way users meet it: a user error is one line and exit status 1."""
    try:
        command.main(standalone_mode=False)
    except UserError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else 1)


__all__ = ["cli", "main", "run"]
