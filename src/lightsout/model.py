"""The data model: typed records passed between the stages of Lightsout.

Pure data, no I/O. The store derives its tables from these dataclasses (see
``lightsout.store.schema``), so every table has exactly one definition.

Flow: sources -> observations (:class:`SignalPoint`, :class:`OoniMeasurement`)
-> store -> signals -> detect -> events -> report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta


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
    BGP_PREFIXES = "bgp_prefixes"  # IPv4 and IPv6 prefixes visible from full-feed peers of their family
    BGP_SLASH24S = "bgp_slash24s"  # routed IPv4 space, in /24 units, from full-feed peers
    PROBING_UP_SLASH24S = "probing_up_slash24s"  # /24s answering active probes (IODA ping-slash24, ours)
    TELESCOPE_UNIQUE_SOURCES = "telescope_unique_sources"  # source IPs seen by a darknet (IODA merit-nt)
    GOOGLE_TRAFFIC = "google_traffic"  # Google Transparency Report traffic, raw units (IODA gtr)
    GOOGLE_TRAFFIC_NORMALISED = "google_traffic_normalised"  # the same, normalised (IODA gtr-norm)
    # Lightsout's own probing (lightsout.sources.probing) also counts, per round:
    PROBING_JUDGED_SLASH24S = "probing_judged_slash24s"  # /24 blocks with a decisive belief
    PROBING_PROBES_SENT = "probing_probes_sent"  # ICMP echo requests sent
    PROBING_PROBES_ANSWERED = "probing_probes_answered"  # echo replies received in time
    MOZILLA_CITIES = "mozilla_cities"  # cities seen in Mozilla's telemetry (IODA dashboard export)
    # HTTP requests from a location seen by Cloudflare, as multiples of a fixed anchor week's median hour
    CLOUDFLARE_HTTP_TRAFFIC = "cloudflare_http_traffic"


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
class OoniVerdict:
    """The verdict on one stored OONI measurement, computed once at ingest
    (:func:`lightsout.apps.verdict.analyse`) and stored beside it.

    ``analysis`` names the analysis that judged it (:func:`lightsout.apps.stored.analysis_version`):
    readers use only verdicts of the running analysis and judge the others again (docs/apps.md).
    The probe fields copy the measurement's, so verdicts are filtered as measurements are."""

    measurement_id: str
    analysis: str
    test_name: str
    target: str  # the URL tested, or the app's name
    status: str  # lightsout.apps.finding.Status
    method: str | None  # lightsout.apps.finding.Method, when blocked
    reason: str
    probe_cc: str | None
    probe_asn: int | None
    measurement_start: datetime | None
    fingerprint: str | None
    report_id: str | None
    measurement_uid: str | None


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
class FileSeries:
    """Which bins of one series one ingested file wrote: the provenance of every stored number."""

    sha256: str  # the file (SourceFile.sha256)
    entity_id: str
    signal: SignalKind
    source: str
    bin_s: int
    first: datetime  # start of the first bin the file wrote
    last: datetime  # start of the last bin the file wrote
    points: int


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
    external_events_written: int = 0  # other observatories' outages (IODA, Cloudflare Radar)
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

    @property
    def end(self) -> datetime:
        """The end of the last stored bin."""
        return self.last + timedelta(seconds=self.key.bin_s)


@dataclass(frozen=True, slots=True)
class Alert:
    """One bin of one series that the detector judged out of the ordinary."""

    entity_id: str
    signal: SignalKind
    source: str
    bin_s: int
    bin_start: datetime
    value: float
    baseline: float
    ratio: float  # value / baseline
    level: int  # 1 warning, 2 critical (lightsout.detect.policy.AlertLevel)


class Scope(enum.StrEnum):
    NATIONAL = "national"
    REGIONAL = "regional"
    NETWORK = "network"


class EventKind(enum.StrEnum):
    OUTAGE = "outage"  # a signal of reachability fell
    DEGRADATION = "degradation"  # only latency-type signals departed


@dataclass(frozen=True, slots=True)
class SignalEvidence:
    """How one signal saw an event."""

    signal: SignalKind
    source: str
    bin_s: int
    alerted_bins: int
    mean_ratio: float
    min_ratio: float
    first_alert: datetime
    last_alert: datetime


@dataclass(frozen=True, slots=True)
class Affected:
    """A sub-entity (region, county, network) inside an event, with its own depth and timing."""

    entity_id: str
    name: str
    start: datetime
    end: datetime | None  # None: still going on where its data ends
    min_ratio: float


class FusionPattern(enum.StrEnum):
    """How an entity's signals agreed about an event (``detect.events``, docs/detection.md)."""

    ROUTES_WITHDRAWN = "routes_withdrawn"  # BGP saw it: the address space left the routing table
    # BGP had data and stayed up while reachability signals fell: traffic blocked or dropped with
    # the routes still announced (Kazakhstan, January 2022).
    ROUTES_UP_HOSTS_DOWN = "routes_up_hosts_down"
    NO_ROUTING_DATA = "no_routing_data"  # reachability fell; no BGP signal of the entity to tell


@dataclass(frozen=True, slots=True)
class QuietSignal:
    """A signal of the entity that had data during an event and raised no alert: it did not see it."""

    signal: SignalKind
    source: str
    bin_s: int
    points: int  # bins with data inside the event


@dataclass(frozen=True, slots=True)
class Occurrence:
    start: datetime
    end: datetime
    min_ratio: float


@dataclass(frozen=True, slots=True)
class Schedule:
    """The local-time pattern of a recurring event."""

    time_zone: str
    start_local: str  # "01:00"
    end_local: str  # "09:00"
    days: int  # how many daily occurrences


@dataclass(frozen=True, slots=True)
class Event:
    """Alerts of one entity fused over time and signals; sub-entity events folded into it.

    ``start`` is the start of the first alerted bin: the outage began within ``start_uncertainty_s``
    before it. ``end`` is the end of the last alerted bin (None while it goes on at the end of the
    data); it ended within ``end_uncertainty_s`` after it.
    """

    event_id: str
    kind: EventKind
    entity_id: str
    entity_name: str
    country_code: str | None
    scope: Scope
    start: datetime
    start_uncertainty_s: int
    end: datetime | None
    end_uncertainty_s: int
    mean_level_pct: float  # level as % of ordinary, averaged over the event
    min_level_pct: float
    confidence: float  # 0..1, see docs/detection.md
    evidence: tuple[SignalEvidence, ...]
    affected: tuple[Affected, ...]  # every sub-entity inside the event, at any depth
    affected_children: int  # how many of the entity's regions (or a region's counties) are affected
    affected_of: int  # how many regions (counties) the entity has in the store; networks not counted
    occurrences: tuple[Occurrence, ...] = ()
    schedule: Schedule | None = None
    # Fusion: the signals with data during the event that did not see it (``evidence`` lists those
    # that did), what their agreement means, and the factors of ``confidence``, in words.
    signals_not_seen: tuple[QuietSignal, ...] = ()
    pattern: FusionPattern | None = None
    confidence_reasons: tuple[str, ...] = ()
    history_days: float | None = None  # days of data before the event the baseline could use
    # The judgement against noise (detect.noise.judge), what every output publishes: the alerted
    # sub-entities left out of ``affected`` because their fall stayed within their own ordinary swing,
    # and whether the event's own fall does (a dip within ordinary variation, never an outage).
    not_counted: tuple[Affected, ...] = ()
    within_noise: bool = False
    # What fusion multiplied depth x persistence x breadth by: the signals' agreement x the
    # history's factor (detect.events); the judgement against noise rescores with it.
    fusion_factor: float = 1.0


class HealthState(enum.StrEnum):
    """How a live source is doing. Any state but OK is a gap in *our* data, never an outage."""

    PENDING = "pending"  # configured, not tried yet
    OK = "ok"  # last round succeeded and its data is fresh
    LATE = "late"  # rounds succeed but the newest data is older than the source's expected lag
    FAILING = "failing"  # the last round failed (HTTP 5xx, network, truncated or unreadable answers)
    RATE_LIMITED = "rate-limited"  # the source answered HTTP 429; waiting for its Retry-After


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where one stream of a live source stands: stored in the same transaction as the data it
    produced, so a killed service resumes exactly after the last stored item.

    ``cursor`` is the connector's own JSON text (opaque to the store and the runner).
    """

    source: str  # the configured source name, e.g. "ooni"
    stream: str  # one cursor of the source, e.g. "follow" or "backfill/2026-06-01/2026-06-15"
    cursor: str
    data_until: datetime | None  # data up to this time has been discovered
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """The state of one live source as the service last saw it (``lightsout sources``)."""

    source: str
    state: HealthState
    checked_at: datetime | None  # the last attempt
    last_success: datetime | None  # the last round that ended without error
    last_data: datetime | None  # the newest data time stored from this source
    last_error: str | None  # one line
    next_attempt: datetime | None
    failures: int = 0  # consecutive failed rounds
    clock_skew_s: float | None = None  # the source's Date header minus our clock, when it sent one

    def lag(self, now: datetime) -> timedelta | None:
        """How far the newest stored data is behind ``now`` (never negative: a source whose clock
        runs ahead is not 'early')."""
        if self.last_data is None:
            return None
        return max(now - self.last_data, timedelta(0))


@dataclass(frozen=True, slots=True)
class ExternalEvent:
    """An outage another observatory reported (IODA's ``outages/events``, Cloudflare Radar's outage
    annotations). Shown beside Lightsout's own :class:`Event`, never mixed into them: it is what that
    source says, not what Lightsout measured.

    ``event_id`` is stable across fetches (``ioda:<entity>:<datasource>:<method>:<start>``,
    ``cloudflare-radar:<annotation id>:<entity>``), so a later answer updates the same event (an
    ongoing one gets its end).
    """

    event_id: str
    source: str  # "ioda", "cloudflare-radar"
    entity_id: str | None  # the Lightsout entity, when the source's place maps to one
    entity_name: str
    country_code: str | None
    scope: Scope | None
    start_time: datetime
    end_time: datetime | None  # None: ongoing, as the source last said
    cause: str | None  # e.g. Cloudflare's POWER_OUTAGE; IODA gives none
    description: str | None
    link: str | None  # the source's page or the report it links to
    datasource: str | None  # the source's signal (IODA's bgp, ping-slash24, ...), when it names one
    score: float | None = None  # IODA's event score (its own scale)
