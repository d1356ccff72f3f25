"""Typed route changes, for sources that are not MRT files (RIS Live), applied exactly as the MRT
decoder applies the routes it reads: one model of routes.

The MRT decoder (:class:`~lightsout.sources.mrt.decode.Decoder`) hands every BGP UPDATE to
:meth:`RouteSink.update` as ``(peer, withdrawn keys, announced keys, origins)`` after moving the
replay's clock with :meth:`Replayer.at`, and a session leaving Established to
:meth:`RouteTables.drop_peer`. A :class:`RouteUpdate` / :class:`PeerDown` is that call as a
record, so a stream converted into them goes through the same sink, the same tables
(:mod:`~lightsout.sources.mrt.tables`) and the same bins (:mod:`~lightsout.sources.mrt.replay`)
as an update file. Keys are :func:`~lightsout.sources.mrt.tables.prefix_key` bytes, exactly the
NLRI bytes the decoder keys prefixes by (host bits cleared)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lightsout.sources.mrt.decode import RouteSink
from lightsout.sources.mrt.replay import Replayer


@dataclass(slots=True)  # not frozen: created per message, and frozen init costs 3x
class RouteUpdate:
    """One BGP UPDATE from one peer: prefixes withdrawn, prefixes announced with one origin set."""

    ts: int  # collector time, Unix seconds
    peer: str  # the peer's address, as the MRT decoder names peers
    withdrawn: list[bytes]
    announced: list[bytes]
    origins: tuple[int, ...]  # the origin AS, or every AS of a final AS_SET; () with no path


@dataclass(slots=True)
class PeerDown:
    """The peer's BGP session went down: its whole table is gone."""

    ts: int
    peer: str


Change = RouteUpdate | PeerDown


def apply_changes(changes: Iterable[Change], replayer: Replayer, sink: RouteSink) -> int:
    """Apply changes in order, moving the replay's clock first (as the decoder does per record).
    Returns how many were applied."""
    at, update, state = replayer.at, sink.update, replayer.state
    n = 0
    for change in changes:
        at(change.ts)
        if type(change) is RouteUpdate:
            update(change.peer, change.withdrawn, change.announced, change.origins)
        else:
            state.drop_peer(change.peer)
        n += 1
    return n
