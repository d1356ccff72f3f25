"""The data model: typed records passed between the stages of Lightsout.

Pure data, no I/O. The store derives its tables from these dataclasses (see
``lightsout.store.schema``), so every table has exactly one definition.

Flow: sources -> observations (:class:`SignalPoint`, :class:`OoniMeasurement`)
-> store -> signals -> detect -> events -> report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class EntityKind(enum.StrEnum):
    """The scopes an observation can be attributed to."""

    COUNTRY = "country"  # ISO 3166-1 alpha-2
    REGION = "region"  # ISO 3166-2 where the source allows
    COUNTY = "county"  # second-level unit below a region (no ISO code)
    NETWORK = "network"  # an autonomous system, or an ISP named by the source


class SignalKind(enum.StrEnum):
    """What a signal measures; the unit is part of the name."""

    CONNECTIVITY_INDEX = "connectivity_index"  # 0 (offline) .. 100 (normal), Monash IP Observatory
    LATENCY_INDEX = "latency_index"  # 100 = long-run average latency, Monash IP Observatory
    RESPONSIVE_ADDRESSES = "responsive_addresses"  # distinct addresses answering in the bin
    MEDIAN_RTT_MS = "median_rtt_ms"  # median round-trip time of answering addresses
    BGP_PREFIXES = "bgp_prefixes"  # prefixes visible from full-feed peers
    BGP_SLASH24S = "bgp_slash24s"  # routed IPv4 space, in /24 units, from full-feed peers


@dataclass(frozen=True, slots=True)
class Entity:
    """A country, region, county or network.

    ``entity_id`` is ``<kind>/<code>``, e.g. ``country/IR``, ``region/IR-07``,
    ``county/IR-07/Tehran``, ``network/AS12880``.
    """

    entity_id: str
    kind: EntityKind
    code: str
    name: str
    country_code: str | None  # ISO 3166-1 alpha-2; None for networks seen in several countries
    parent_id: str | None
    asn: int | None = None


@dataclass(frozen=True, slots=True)
class SignalPoint:
    """One value of one signal of one entity over one time bin.

    ``bin_start`` is timezone-aware UTC; the bin covers ``[bin_start, bin_start + bin_s)``.
    ``source`` names the vantage point or data set the value comes from
    (``monash``, ``rrc15``, ...), so two collectors never overwrite each other.
    """

    entity_id: str
    signal: SignalKind
    source: str
    bin_start: datetime
    bin_s: int
    value: float
    samples: int = 1  # how many raw observations went into the value


@dataclass(frozen=True, slots=True)
class OoniMeasurement:
    """An OONI measurement, stored raw and normalised enough to be listed."""

    measurement_id: str  # measurement_uid when present, else a hash of the raw record
    test_name: str
    test_version: str | None
    probe_cc: str | None
    probe_asn: int | None
    measurement_start: datetime | None
    input: str | None
    raw_json: str


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file that has been ingested completely (written in the same transaction as its data)."""

    sha256: str
    path: str
    format: str
    ingested_at: datetime
    records_read: int
    records_skipped: int
    points_written: int


@dataclass(frozen=True, slots=True)
class Skip:
    """A record left out of an ingest, with where it was and why."""

    path: str
    position: str  # "line 17", "byte 40960", "record 12"
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What an ingest did: the summary the CLI prints."""

    path: str
    format: str
    sha256: str
    already_ingested: bool = False
    records_read: int = 0
    points_written: int = 0
    measurements_written: int = 0
    entities_written: int = 0
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skip_reasons(self) -> dict[str, int]:
        """How many records were skipped, grouped by reason."""
        counts: dict[str, int] = {}
        for skip in self.skipped:
            counts[skip.reason] = counts.get(skip.reason, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """Names one stored time series."""

    entity_id: str
    signal: SignalKind
    source: str
    bin_s: int


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """What the store holds for one series."""

    key: SeriesKey
    points: int
    first: datetime
    last: datetime
    min_value: float
    max_value: float
