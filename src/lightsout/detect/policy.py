"""Per-signal alert policy: which direction is bad, and how far from ordinary is an alert.

The same defaults apply to every data set; nothing here is tuned to one file. The reasoning for
each number is in ``docs/detection.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lightsout.model import SignalKind


class Direction(enum.StrEnum):
    DROP = "drop"  # an outage lowers the signal (connectivity, responsive addresses, routed space)
    RISE = "rise"  # a degradation raises it (latency)


class AlertLevel(enum.IntEnum):
    NORMAL = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True, slots=True)
class SignalPolicy:
    """Thresholds on ``ratio = value / baseline``.

    * DROP signals alert when ``ratio <= warning`` (WARNING) or ``<= critical`` (CRITICAL);
      RISE signals when ``ratio >= warning`` / ``>= critical``.
    * ``min_z``: the departure must also exceed ``min_z`` robust standard deviations of the
      baseline sample (1.4826 x MAD), so a noisy series does not alert on ordinary noise.
    * ``counts``: values are counts (Poisson-like): the noise scale is at least sqrt(baseline).
    * ``min_scale_fraction``: the noise scale is at least this share of the baseline, so a
      perfectly flat history (MAD = 0) does not make every wiggle significant.
    * ``outage``: whether an alert of this signal is evidence of an outage (else a degradation).
    * ``alone``: whether this signal may raise an event by itself; a noisy signal (the telescope)
      only corroborates an event another signal raised.
    """

    direction: Direction
    warning: float
    critical: float
    min_z: float = 3.0
    counts: bool = False
    min_scale_fraction: float = 0.05
    outage: bool = True
    alone: bool = True


POLICIES: dict[SignalKind, SignalPolicy] = {
    # Indices and counts of reachable hosts: IODA's active-probing alert fires below 80% of its
    # moving median; we keep 0.8 as WARNING and call CRITICAL below half the ordinary level.
    SignalKind.CONNECTIVITY_INDEX: SignalPolicy(Direction.DROP, warning=0.8, critical=0.5),
    SignalKind.RESPONSIVE_ADDRESSES: SignalPolicy(Direction.DROP, warning=0.8, critical=0.5, counts=True),
    # Routed space changes little from hour to hour: IODA's BGP alert fires at 99% of the median; we
    # use 95% / 80% because a single collector's view is noisier than IODA's union of collectors.
    SignalKind.BGP_PREFIXES: SignalPolicy(
        Direction.DROP, warning=0.95, critical=0.8, min_scale_fraction=0.01
    ),
    SignalKind.BGP_SLASH24S: SignalPolicy(
        Direction.DROP, warning=0.95, critical=0.8, min_scale_fraction=0.01
    ),
    # Active probing (IODA's ping-slash24, our prober): /24 blocks answering. IODA alerts below 80%
    # (warning) and 50% (critical) of a 7-day moving median.
    SignalKind.PROBING_UP_SLASH24S: SignalPolicy(Direction.DROP, warning=0.8, critical=0.5, counts=True),
    # Telescope (IODA's merit-nt): unique sources of unsolicited traffic, a noisy count; IODA alerts
    # only below 25% / 10% of a 7-day moving median.
    SignalKind.TELESCOPE_UNIQUE_SOURCES: SignalPolicy(
        Direction.DROP, warning=0.25, critical=0.1, counts=True, min_scale_fraction=0.1, alone=False
    ),
    # Google's traffic to the country (Transparency Report, via IODA): a smooth daily curve.
    SignalKind.GOOGLE_TRAFFIC: SignalPolicy(
        Direction.DROP, warning=0.5, critical=0.25, min_scale_fraction=0.1
    ),
    SignalKind.GOOGLE_TRAFFIC_NORMALISED: SignalPolicy(
        Direction.DROP, warning=0.5, critical=0.25, min_scale_fraction=0.1
    ),
    # Cloudflare Radar's HTTP requests from a location (hourly; on one scale per location, times an
    # anchor window's median hour): human traffic with a daily curve like Google's, whose nights
    # fall to about half of the day, so the same levels as Google's traffic. Radar raises outages
    # from this signal itself, so it may raise an event alone. Tonga, 15 January 2022 (Radar's own
    # recording): 35% of the same hours of a normal day, then 22%, then 5.6% once the cable was cut.
    SignalKind.CLOUDFLARE_HTTP_TRAFFIC: SignalPolicy(
        Direction.DROP, warning=0.5, critical=0.25, min_scale_fraction=0.1
    ),
    # Cities seen in Mozilla's telemetry (IODA's dashboard export): a small count with a daily
    # curve, driven by when people use Firefox, not by reachability; IODA raises no alert on it.
    # The telescope's treatment: count noise, Google-traffic levels, and it only corroborates an
    # event another signal raised (a quiet night of a small country is not an outage).
    SignalKind.MOZILLA_CITIES: SignalPolicy(
        Direction.DROP, warning=0.5, critical=0.25, counts=True, min_scale_fraction=0.1, alone=False
    ),
    # Latency: an unreachable address has no latency at all, so latency alone never shows an outage;
    # it rising by half (WARNING) or doubling (CRITICAL) is a degradation.
    SignalKind.LATENCY_INDEX: SignalPolicy(Direction.RISE, warning=1.5, critical=2.0, outage=False),
    SignalKind.MEDIAN_RTT_MS: SignalPolicy(Direction.RISE, warning=1.5, critical=2.0, outage=False),
}
