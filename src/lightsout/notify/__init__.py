"""Notifications of events: an Atom feed and signed webhooks with retries and a delivery log."""

from __future__ import annotations

from lightsout.notify.atom import make_atom_feed
from lightsout.notify.webhooks import RetryPolicy, WebhookRegistry, deliver_new_events, sign, verify

__all__ = ["RetryPolicy", "WebhookRegistry", "deliver_new_events", "make_atom_feed", "sign", "verify"]
