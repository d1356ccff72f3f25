"""The HTTP API (``lightsout serve``): read endpoints for entities, signals, events, status and
exports; one authenticated write endpoint (ingest). See docs/api.md.

``create_app`` is in :mod:`lightsout.api.app`; the click command in :mod:`lightsout.cli.serve`.
"""
