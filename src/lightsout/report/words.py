"""The words of reports: names of signals and sources, numbers, times and durations as people read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lightsout.model import Event, SignalKind

# Data measured this recently are live: an event still open where they end may be called "ongoing".
# Older data (a recorded data set, a stalled source) end an open event at "the end of the data".
LIVE_WINDOW = timedelta(days=2)


def is_live(data_end: datetime | None, now: datetime | None = None) -> bool:
    """Whether data ending at ``data_end`` are live: within ``LIVE_WINDOW`` of ``now`` (default:
    the clock). The one rule behind every "ongoing": the events table, `watch`, the feed, the
    dashboard's event page and the blocking statements."""
    moment = now or datetime.now(UTC)
    return data_end is not None and data_end >= moment - LIVE_WINDOW


def open_end(data_end: datetime | None, now: datetime | None = None) -> str:
    """How the end of an event still open where its data end is written: "ongoing" only when those
    data are live (:func:`is_live`), else "end of data"."""
    return "ongoing" if is_live(data_end, now) else "end of data"


def alerted_until(event: Event) -> datetime:
    """The end of the event's latest alerted bin (its start when it has no evidence). For an event
    still open, that is where the alerted series' data end."""
    ends = [e.last_alert + timedelta(seconds=e.bin_s) for e in event.evidence]
    return max([*ends, event.start])


SIGNAL_NOUNS: dict[SignalKind, str] = {
    SignalKind.CONNECTIVITY_INDEX: "connectivity",
    SignalKind.RESPONSIVE_ADDRESSES: "reachable addresses",
    SignalKind.BGP_PREFIXES: "announced prefixes",
    SignalKind.BGP_SLASH24S: "routed address space",
    # PROBING_UP_SLASH24S: worded by who probed (signal_noun)
    SignalKind.LATENCY_INDEX: "latency",
    SignalKind.MEDIAN_RTT_MS: "round-trip time",
}


SOURCE_NAMES = {
    "monash": "Monash IP Observatory",
    "ooni": "OONI",
    "probing": "Lightsout active probing",
    "ioda": "IODA",
    "ioda-normalized": "IODA (dashboard export, % of its window's maximum)",
    "cloudflare-radar": "Cloudflare Radar",
}


def source_name(source: str) -> str:
    """A vantage point by its public name: ``monash`` -> Monash IP Observatory, ``rrc15`` -> RIPE RIS."""
    if source in SOURCE_NAMES:
        return SOURCE_NAMES[source]
    if source.startswith("rrc") and source[3:].isdigit():
        return f"RIPE RIS {source}"
    if source.startswith("route-views"):
        return f"RouteViews {source}"
    if source.startswith("probing-"):
        return f"Lightsout active probing from {source.removeprefix('probing-')}"
    return source


def signal_noun(signal: SignalKind, source: str | None = None) -> str:
    """What the signal counts, in words. Words that depend on who measured follow ``source``:
    IODA's ping-slash24 /24s are "address blocks answering IODA's probes", ours "... our probes"."""
    if signal == SignalKind.PROBING_UP_SLASH24S:
        if source is None:
            return "address blocks answering active probes"
        if source == "probing" or source.startswith("probing-"):
            return "address blocks answering our probes"
        return f"address blocks answering {source_name(source)}'s probes"
    return SIGNAL_NOUNS.get(signal, signal.value.replace("_", " "))


def pct(value: float) -> str:
    """A level as a whole percentage ("7%"); below 1 but above 0, "under 1%"."""
    if 0 < value < 0.5:
        return "under 1%"
    return f"{round(value):d}%"


def day_text(moment: datetime, with_year: bool = True) -> str:
    return f"{moment.day} {moment:%B}" + (f" {moment:%Y}" if with_year else "")


def moment_text(moment: datetime, with_year: bool = True) -> str:
    """``17:30 UTC on 16 November 2019``."""
    return f"{moment:%H:%M} UTC on {day_text(moment, with_year)}"


def duration_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days} day{'s' if days != 1 else ''}" if days else "",
        f"{hours} hour{'s' if hours != 1 else ''}" if hours else "",
        f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes else "",
    ]
    return " ".join(p for p in parts if p) or "less than a minute"


def bin_text(bin_s: int) -> str:
    if bin_s % 3600 == 0:
        hours = bin_s // 3600
        return "1-hour" if hours == 1 else f"{hours}-hour"
    if bin_s % 60 == 0:
        return f"{bin_s // 60}-minute"
    return f"{bin_s}-second"


def span_text(start: datetime, end: datetime) -> str:
    if start.date() == end.date():
        return f"from {start:%H:%M} to {end:%H:%M} UTC on {day_text(start)}"
    same_year = start.year == end.year
    return f"from {moment_text(start, with_year=not same_year)} to {moment_text(end)}"
