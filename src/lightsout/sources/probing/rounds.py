"""Rounds as a source of signals: per round, for every country, region and AS of the hitlist,
``probing_up_slash24s`` (blocks believed up), ``probing_judged_slash24s`` (blocks with a decisive
belief), ``probing_probes_sent`` and ``probing_probes_answered``, written through the normal store
path (one source record per round, so a round is never written twice) and so seen by detection,
events, reports and the dashboard like every other signal.

A round whose own-connectivity check failed writes nothing: a missing bin, which the detector
treats as a gap in our data, never as an outage. Every round, gap or not, is logged in
``rounds.jsonl`` beside the state; the state (beliefs, A(b) counts, budget window) is saved after
every round, atomically, so a restarted prober continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lightsout.attribution.entities import make_asn_network, make_country, make_region
from lightsout.model import Entity, SignalKind, SignalPoint, SourceFile
from lightsout.sources.probing.hitlist import Hitlist
from lightsout.sources.probing.icmp import IcmpSocket
from lightsout.sources.probing.prober import ProbeParams, ProbeState, RoundResult, run_round
from lightsout.sources.probing.safety import DoNotProbe
from lightsout.store import IngestBatch, Store

FORMAT = "probing"
HITLIST_FILE, STATE_FILE, LOG_FILE = "hitlist.npz", "state.npz", "rounds.jsonl"


def source_name(vantage: str) -> str:
    """The ``source`` of the points: ``probing-<vantage>``, so two vantage points never collide."""
    return f"probing-{vantage}"


@dataclass(frozen=True, slots=True)
class Attribution:
    """Every entity of the hitlist and, per level, each block's index into ``entities`` (-1 none)."""

    entities: list[Entity]
    levels: tuple[npt.NDArray[np.int64], ...]  # country, region, network

    @classmethod
    def of(cls, hitlist: Hitlist) -> Attribution:
        entities: list[Entity] = [make_country(cc) for cc in hitlist.countries]
        country = hitlist.country.astype(np.int64)
        region = np.where(hitlist.region >= 0, hitlist.region.astype(np.int64) + len(entities), -1)
        entities += [make_region(cc, name) for cc, name in hitlist.regions]
        asns, inverse = np.unique(hitlist.asn, return_inverse=True)
        network = np.full(len(hitlist), -1, dtype=np.int64)
        for j, asn in enumerate(asns.tolist()):
            if asn == 0:
                continue
            members = inverse == j
            ccs = country[members]
            ccs = ccs[ccs >= 0]
            cc = hitlist.countries[int(np.bincount(ccs).argmax())] if ccs.size else None
            network[members] = len(entities)
            entities.append(make_asn_network(int(asn), cc))
        return cls(entities, (country, region, network))

    def totals(self, weights: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """Per entity, the sum of ``weights`` over its blocks."""
        out = np.zeros(len(self.entities), dtype=np.int64)
        w = weights.astype(np.int64)
        for level in self.levels:
            mask = level >= 0
            out += np.bincount(level[mask], weights=w[mask], minlength=len(self.entities)).astype(np.int64)
        return out


def round_points(
    attribution: Attribution, probeable: npt.NDArray[np.bool_], result: RoundResult, source: str, bin_s: int
) -> list[SignalPoint]:
    """The round's signals for every entity that has probeable blocks (a cut country reads 0)."""
    when = datetime.fromtimestamp(result.start_s - result.start_s % bin_s, UTC)
    watched = attribution.totals(probeable)
    up = attribution.totals(result.up)
    judged = attribution.totals(result.judged)
    probed = attribution.totals(result.probed)
    sent = attribution.totals(result.sent)
    answered = attribution.totals(result.answered)
    points = []
    for k in np.flatnonzero(watched > 0).tolist():
        entity_id = attribution.entities[k].entity_id
        for signal, value, samples in (
            (SignalKind.PROBING_UP_SLASH24S, up[k], judged[k]),
            (SignalKind.PROBING_JUDGED_SLASH24S, judged[k], probed[k]),
            (SignalKind.PROBING_PROBES_SENT, sent[k], probed[k]),
            (SignalKind.PROBING_PROBES_ANSWERED, answered[k], probed[k]),
        ):
            points.append(SignalPoint(entity_id, signal, source, when, bin_s, float(value), int(samples)))
    return points


def round_batch(
    attribution: Attribution, probeable: npt.NDArray[np.bool_], result: RoundResult, source: str, bin_s: int
) -> IngestBatch:
    points = round_points(attribution, probeable, result, source, bin_s)
    digest = hashlib.sha256(f"{FORMAT}|{source}|{result.start_s}|{bin_s}".encode()).hexdigest()
    when = datetime.fromtimestamp(result.start_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = SourceFile(digest, f"probing://{source}/{when}", FORMAT, datetime.now(UTC),
                        int(result.probed.sum()), 0, len(points))  # fmt: skip
    used = {p.entity_id for p in points}
    return IngestBatch(record, [e for e in attribution.entities if e.entity_id in used], points)


# -- state on disk ------------------------------------------------------------------------------------


def save_state(directory: Path, hitlist: Hitlist, state: ProbeState) -> None:
    temporary = directory / (STATE_FILE + ".tmp")
    with temporary.open("wb") as out:
        np.savez(out, blocks=hitlist.blocks, belief=state.belief, state=state.state, cursor=state.cursor,
                 a_pos=state.a_pos, a_probes=state.a_probes, window_start_s=np.array(state.window_start_s),
                 window_probes=state.window_probes)  # fmt: skip
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(directory / STATE_FILE)


def load_state(directory: Path, hitlist: Hitlist) -> ProbeState:
    """The saved state, re-indexed to the hitlist (blocks new to it start fresh)."""
    fresh = ProbeState.fresh(hitlist)
    path = directory / STATE_FILE
    if not path.exists():
        return fresh
    data = np.load(path, allow_pickle=False)
    saved = data["blocks"]
    where = np.searchsorted(saved, hitlist.blocks)
    where = np.minimum(where, max(0, saved.size - 1))
    known = (
        (saved.size > 0) & (saved[where] == hitlist.blocks) if saved.size else np.zeros(len(hitlist), bool)
    )
    for name in ("belief", "state", "cursor", "a_pos", "a_probes", "window_probes"):
        getattr(fresh, name)[known] = data[name][where[known]]
    fresh.window_start_s = int(data["window_start_s"])
    return fresh


def log_round(directory: Path, result: RoundResult, source: str) -> dict[str, object]:
    entry: dict[str, object] = {
        "start": datetime.fromtimestamp(result.start_s, UTC).isoformat(),
        "source": source,
        "gap": result.gap,
        "reason": result.reason,
        "blocks_probed": int(result.probed.sum()),
        "blocks_up": int(result.up.sum()),
        "blocks_judged": int(result.judged.sum()),
        "blocks_uncertain": result.uncertain,
        "blocks_over_budget": result.over_budget,
        "probes_sent": int(result.sent.sum()),
        "probes_answered": int(result.answered.sum()),
        "late_replies": result.late_replies,
        "controls": f"{result.controls_answered}/{result.controls_total}",
        "duration_s": round(result.duration_s, 3),
    }
    with (directory / LOG_FILE).open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    return entry


def read_log(directory: Path, last: int = 20) -> list[dict[str, object]]:
    path = directory / LOG_FILE
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-last:]
    return [json.loads(line) for line in lines if line.strip()]


class Prober:
    """A vantage point's prober: its hitlist, its state, its socket, its rounds."""

    def __init__(
        self,
        directory: Path,
        sock: IcmpSocket,
        params: ProbeParams,
        vantage: str = "local",
        do_not_probe: DoNotProbe | None = None,
    ) -> None:
        self.directory = directory
        self.sock = sock
        self.params = params
        self.source = source_name(vantage)
        self.hitlist = Hitlist.load(directory / HITLIST_FILE)
        self.state = load_state(directory, self.hitlist)
        dnp = do_not_probe or DoNotProbe.build(lab=self.hitlist.lab)
        self.probeable = self.hitlist.probeable() & dnp.allowed(self.hitlist.blocks)
        self.attribution = Attribution.of(self.hitlist)

    def run_once(self, start_s: int) -> RoundResult:
        """One round named by ``start_s``; the state is saved unless the round is a gap."""
        result = run_round(self.sock, self.hitlist, self.state, self.params, start_s, self.probeable)
        if not result.gap:
            save_state(self.directory, self.hitlist, self.state)
        return result

    def round(self, store: Store | None, start_s: int, bin_s: int) -> RoundResult:
        """One round named by ``start_s``; its signals go to ``store`` unless it is a gap."""
        result = self.run_once(start_s)
        if not result.gap and store is not None:
            batch = round_batch(self.attribution, self.probeable, result, self.source, bin_s)
            if not store.has_source(batch.source.sha256):
                store.write_batch(batch)
        log_round(self.directory, result, self.source)
        return result

    def run(
        self,
        open_store: Callable[[], Store],
        round_s: int,
        rounds: int | None = None,
        on_round: Callable[[RoundResult], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Rounds on the wall clock, each named by its slot, a multiple of ``round_s`` (UTC). A slot
        is joined only in its first quarter; a round that overruns makes the next one start at the
        following slot (a missing bin, never a shifted one). The store is opened only to write."""
        done, last_slot = 0, -1
        while (rounds is None or done < rounds) and not should_stop():
            now = time.time()
            slot = int(now // round_s) * round_s
            start_s = slot if slot > last_slot and now - slot <= round_s / 4 else slot + round_s
            while time.time() < start_s and not should_stop():
                time.sleep(min(1.0, start_s - time.time()))
            if should_stop():
                break
            result = self.run_once(start_s)
            if not result.gap:
                batch = round_batch(self.attribution, self.probeable, result, self.source, round_s)
                store = open_store()
                try:
                    if not store.has_source(batch.source.sha256):
                        store.write_batch(batch)
                finally:
                    store.close()
            log_round(self.directory, result, self.source)
            if on_round is not None:
                on_round(result)
            done, last_slot = done + 1, start_s
