"""``lightsout serve``: the HTTP API (registered in the CLI with ``cli.add_command(serve)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lightsout.cli.params import db_option

if TYPE_CHECKING:
    from lightsout.store import StoreLocation


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one)."
)
@db_option
@click.option(
    "--token",
    default=None,
    envvar="LIGHTSOUT_TOKEN",
    help="Bearer token that allows POST /api/v1/ingest. Prefer the environment variable LIGHTSOUT_TOKEN "
    "(other users can read a command line). Without a token, writes are disabled and the store is opened "
    "read-only.",
)
def serve(host: str, port: int, db: StoreLocation | None, token: str | None) -> None:
    """Serve the HTTP API: entities, signals, events, status, exports; ingest with a token.

    OpenAPI schema at /openapi.json; endpoints under /api/v1 (docs/api.md).
    """
    import uvicorn

    from lightsout.api.app import create_app
    from lightsout.store import default_location

    location = db or default_location()
    app = create_app(location, token)
    click.echo(
        f"serving {location} on http://{host}:{port}/api/v1 "
        f"({'writes enabled' if token else 'read-only: no token'})",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
