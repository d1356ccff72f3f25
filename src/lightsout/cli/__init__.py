"""The ``lightsout`` command line: every command lives in this package, one module per concern.

Strings are parsed into typed values here, at the edge (``params``); user mistakes are one line and
exit status 1 (``run``).

Commands are registered by name in :data:`COMMANDS` and their module is imported only when the
command runs (:class:`LazyGroup`): ``lightsout --version`` and ``lightsout --help`` load neither the
store (DuckDB, numpy) nor the charts, the API or the MRT library. Keep heavy imports out of the top
level of the modules here and of what they import at their top level.
"""

from __future__ import annotations

import importlib
import sys

import click

from lightsout import __version__
from lightsout.errors import UserError

# name -> (module in lightsout.cli, attribute); imported when the command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("data", "ingest"),
    "entities": ("data", "entities"),
    "signals": ("data", "signals"),
    "show": ("data", "show"),
    "measurements": ("data", "measurements"),
    "detect": ("detect", "detect"),
    "watch": ("detect", "watch"),
    "events": ("detect", "events"),
    "evaluate": ("detect", "evaluate"),
    "serve": ("serve", "serve"),
    "report": ("report", "report"),
    "feed": ("notify", "feed"),
    "webhooks": ("notify", "webhooks"),
    "blocking": ("blocking", "blocking"),
    "probe": ("probe", "probe"),
    "run": ("service", "run"),
    "sources": ("service", "sources"),
    "backfill": ("service", "backfill"),
    "probing": ("probing", "probing"),
}

# name -> the command's short help (``get_short_help_str(78)``), shown by ``lightsout --help``
# without importing the command; tests/test_cli_startup.py checks that they agree.
HELP_LINES: dict[str, str] = {
    "ingest": "Ingest Monash IP Observatory CSVs, BGP MRT files, OONI measurements...",
    "entities": "List stored countries, regions, counties and networks.",
    "signals": "List stored signal series: entity, signal, source, bin size, span.",
    "show": "Show an entity's signal and, for each region/county/network inside it,...",
    "measurements": "List stored OONI measurements by country, network, test and time.",
    "detect": "Judge every stored signal over a time range (batch) and store its alerts.",
    "watch": "Online detection: judge each new bin as it arrives, resuming from the state...",
    "events": "List outage events: scope, start/end, depth, signals, affected...",
    "evaluate": "Score the detector against ground truth: the built-in cases from published...",
    "serve": "Serve the HTTP API: entities, signals, events, status, exports; ingest with...",
    "report": "Write a chart and a statement of one event (EVENT_ID, or a unique start of...",
    "feed": "Write an Atom feed of events (newest first).",
    "webhooks": "Configure webhook endpoints and deliver new events to them (signed,...",
    "blocking": "Judge stored OONI app and website measurements: accessible, blocked (how),...",
    "probe": "Test websites (Web Connectivity) and apps (WhatsApp, Telegram, Signal) from...",
    "run": "Follow the live sources, judge every new bin, deliver webhooks, and serve...",
    "sources": "Every configured live source: state, last data time, lag, last error, next...",
    "backfill": "Fetch a past window of one source (e.g. two weeks for a baseline), with a...",
    "probing": "Active probing of /24 blocks, Trinocular-style: hitlist, discovery, rounds,...",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, from :data:`COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"lightsout.cli.{entry[0]}")
        command = getattr(module, entry[1])
        if not isinstance(command, click.Command):
            raise TypeError(f"lightsout.cli.{entry[0]}.{entry[1]} is not a click command")
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the registry's help lines, without importing any command."""
        rows = [(name, HELP_LINES[name]) for name in sorted(COMMANDS)]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in sorted(self.commands.items())
                 if name not in COMMANDS]  # fmt: skip
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, package_name="lightsout")  # no importlib.metadata at start-up
def cli() -> None:
    """Lightsout: an open observatory for internet shutdowns."""


def main() -> None:
    run(cli)


def run(command: click.Command) -> None:
    """Run a command the way users meet it: a user error is one line and exit status 1."""
    try:
        command.main(standalone_mode=False)
    except UserError as exc:
        from lightsout.cli.common import err_console

        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else 1)


__all__ = ["COMMANDS", "HELP_LINES", "LazyGroup", "cli", "main", "run"]
