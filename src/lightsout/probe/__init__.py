"""Measure app and website blocking from the user's own network, OONI-style.

config (what to test, resolver, timeouts, controls) -> :mod:`.netx` (one DNS lookup, connect,
TLS handshake or HTTP exchange, as a typed record) -> :mod:`.web` / :mod:`.im` (the tests) ->
:mod:`.archival` (OONI's data format, the probe's address scrubbed) -> :mod:`.runner` (JSONL,
then :func:`lightsout.ingest.ingest_file`) -> :mod:`.commands` (``lightsout probe``).
See docs/probe.md.
"""

from __future__ import annotations

from lightsout.probe.config import ProbeConfig, load_config
from lightsout.probe.im import App, run_app
from lightsout.probe.runner import run_probe
from lightsout.probe.web import run_web_connectivity

__all__ = ["App", "ProbeConfig", "load_config", "run_app", "run_probe", "run_web_connectivity"]
