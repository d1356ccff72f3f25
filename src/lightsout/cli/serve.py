"""``lightsout serve``: the HTTP API (registered in the CLI with ``cli.add_command(serve)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from lightsout.cli.params import db_option

if TYPE_CHECKING:
    from lightsout.store import StoreLocation


GRACE_S = 20


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
@click.option(
    "--base-url",
    default=None,
    envvar="LIGHTSOUT_BASE_URL",
    help="Public URL of the dashboard, for the feed's links (env LIGHTSOUT_BASE_URL; default: the "
    "listening address). The request's Host header is never used.",
)
@click.option(
    "--access-log",
    is_flag=True,
    help="Log one line per request: client address truncated to /24 (IPv6 /48), path without the "
    "query string. Off by default (docs/security.md).",
)
@click.option(
    "--page-cache",
    type=click.FloatRange(0, 3600),
    default=30.0,
    show_default=True,
    help="Seconds a dashboard or feed page is kept at most (a write drops it at once); 0: no cache.",
)
def serve(
    host: str,
    port: int,
    db: StoreLocation | None,
    token: str | None,
    base_url: str | None,
    access_log: bool,
    page_cache: float,
) -> None:
    """Serve the HTTP API: entities, signals, events, status, exports; ingest with a token.

    OpenAPI schema at /openapi.json; endpoints under /api/v1 (docs/api.md). No access log unless
    --access-log; SIGTERM or Ctrl-C stop it after the requests under way.
    """
    import uvicorn

    from lightsout.api.app import create_app
    from lightsout.store import default_location

    location = db or default_location()
    app = create_app(location, token, base_url=base_url, log_access=access_log, page_cache_s=page_cache)
    click.echo(
        f"serving {location} on http://{host}:{port}/api/v1 "
        f"({'writes enabled' if token else 'read-only: no token'})",
        err=True,
    )
    if access_log:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # uvicorn's own access log writes full client addresses and query strings: always off.
    # SIGTERM: stop accepting, give requests under way GRACE_S to finish, then stop (an upload cut
    # short is rolled back: each ingest is one transaction).
    uvicorn.run(
        app, host=host, port=port, log_level="info", access_log=False, timeout_graceful_shutdown=GRACE_S
    )
