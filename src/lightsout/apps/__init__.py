"""App and website blocking, from OONI measurements.

measurement -> :mod:`.observations` (typed DNS/TCP/TLS/HTTP records and the control)
-> :mod:`.verdict` (accessible / blocked by <method> / down / inconclusive, with the reason)
-> :mod:`.aggregate` (per network and target, consecutive blocked verdicts merged into events)
-> :mod:`.commands` (``lightsout blocking``). See docs/apps.md.
"""

from __future__ import annotations

from lightsout.apps.finding import Method, Status
from lightsout.apps.verdict import Verdict, analyse

__all__ = ["Method", "Status", "Verdict", "analyse"]
