"""Driving pybgpkit-parser: the decoded records go to temporary files in chunks, and a chunk whose
element count differs from the framing's is halved until the record the library cannot read is
found (see :mod:`lightsout.sources.mrt.framing` for why).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pybgpkit_parser

from lightsout.model import Skip
from lightsout.sources.mrt.decode import ParserRecord, PeerDown

CHUNK_BYTES = 1 << 20  # parser input per temporary file
CHUNK_RECORDS = 8192


@dataclass(slots=True)
class Route:
    """A route element from the parser, placed at its record's time; ``origins`` None = withdrawal."""

    timestamp: int
    peer: str
    prefix: str
    origins: tuple[int, ...] | None


@dataclass(slots=True)
class ParseOutcome:
    """What pybgpkit-parser made of the records."""

    routes: list[Route | PeerDown] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    announcements: int = 0
    withdrawals: int = 0
    parser_runs: int = 0
    surplus_records: int = 0  # records that yielded more elements than the framing counted


def _chunks(items: list[ParserRecord | PeerDown]) -> Iterator[list[ParserRecord] | PeerDown]:
    """Parser records in runs of at most CHUNK_BYTES / CHUNK_RECORDS; a PeerDown ends a run."""
    run: list[ParserRecord] = []
    size = 0
    for item in items:
        if isinstance(item, PeerDown):
            if run:
                yield run
                run, size = [], 0
            yield item
            continue
        run.append(item)
        size += len(item.raw)
        if size >= CHUNK_BYTES or len(run) >= CHUNK_RECORDS:
            yield run
            run, size = [], 0
    if run:
        yield run


def _parse_file(file: Path, records: list[ParserRecord]) -> list[pybgpkit_parser.Elem]:
    """Write the records (each after its preamble, once) to ``file`` and let the library read it."""
    with file.open("wb") as handle:
        written: bytes | None = None
        for rec in records:
            if rec.preamble and rec.preamble is not written:
                handle.write(rec.preamble)
                written = rec.preamble
            handle.write(rec.raw)
    try:
        return list(pybgpkit_parser.Parser(url=str(file)))
    finally:
        file.unlink()


def run_parser(
    items: list[ParserRecord | PeerDown], tmp: Path, name: str, progress: Callable[[int], None]
) -> ParseOutcome:
    """Hand the records to pybgpkit-parser chunk by chunk; track down records it cannot read.

    A chunk is accepted when the library yields exactly as many elements as the framing counted
    prefixes; then element i belongs to the record holding the i-th prefix, which gives it the
    record's header time. Otherwise the chunk is split in halves until the failing record is alone.
    """
    outcome = ParseOutcome()
    file = tmp / "chunk.mrt"
    peer_cache: dict[str, str] = {}

    def route(rec: ParserRecord, elem: pybgpkit_parser.Elem) -> Route:
        peer = peer_cache.get(elem.peer_ip)
        if peer is None:
            peer = peer_cache[elem.peer_ip] = str(ipaddress.ip_address(elem.peer_ip))
        if elem.elem_type == "A":
            outcome.announcements += 1
            return Route(rec.timestamp, peer, elem.prefix, tuple(elem.origin_asns or ()))
        outcome.withdrawals += 1
        return Route(rec.timestamp, peer, elem.prefix, None)

    def solve(records: list[ParserRecord]) -> None:
        outcome.parser_runs += 1
        elems = _parse_file(file, records)
        expected = sum(r.expected for r in records)
        if len(elems) == expected:
            it = iter(elems)
            for rec in records:
                outcome.routes.extend(route(rec, next(it)) for _ in range(rec.expected))
            return
        if len(records) > 1:
            half = len(records) // 2
            solve(records[:half])
            solve(records[half:])
            return
        rec = records[0]
        if not elems:
            reason = f"pybgpkit-parser could not read the record ({expected} prefixes by the framing)"
            outcome.skipped.append(Skip(name, f"byte {rec.offset}", reason))
            return
        # One record, another count than the framing's (an address family it does not count):
        # take what the library made of it, at this record's time, and say so in the notes.
        outcome.surplus_records += 1
        outcome.routes.extend(route(rec, elem) for elem in elems)

    for chunk in _chunks(items):
        if isinstance(chunk, PeerDown):
            outcome.routes.append(chunk)
            continue
        solve(chunk)
        progress(chunk[-1].offset)
    return outcome
