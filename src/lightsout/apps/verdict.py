"""The verdict on one measurement: was the target accessible, blocked (and how), down, or unknown?

``analyse(measurement)`` reads the measurement into typed observations
(:mod:`lightsout.apps.observations`) and judges them: Web Connectivity against its control
(:mod:`lightsout.apps.web`), the messaging apps by their endpoints (:mod:`lightsout.apps.im`).
It never raises on bad input: a measurement it cannot judge - unknown test or version, no
``test_keys``, no control, a probe bug - is ``inconclusive`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from lightsout.apps.finding import Finding, Method, Status, inconclusive
from lightsout.apps.fingerprints import FingerprintDB, load_fingerprints
from lightsout.apps.im import APP_NAMES, analyse_app
from lightsout.apps.observations import Observations, make_observations
from lightsout.apps.web import analyse_web_connectivity
from lightsout.model import OoniMeasurement


@dataclass(frozen=True, slots=True)
class Verdict:
    measurement_id: str
    test_name: str
    target: str  # the URL tested, or the app's name ("Telegram")
    status: Status
    method: Method | None  # set when status is blocked
    reason: str  # one sentence; may quote untrusted text (already sanitised, still never render as HTML)
    probe_cc: str | None
    probe_asn: int | None
    start: datetime | None
    fingerprint: str | None = None  # the OONI blockpage fingerprint that confirmed the blocking
    report_id: str | None = None  # OONI's identity of the measurement: (report_id, input)
    measurement_uid: str | None = None  # OONI's id (API, Explorer), when the record has one

    @property
    def ooni_identity(self) -> tuple[str, ...]:
        """What names one OONI measurement whatever file it was read from: its uid, else
        (report_id, input, start time), else the store's id."""
        if self.measurement_uid:
            return ("uid", self.measurement_uid)
        if self.report_id:
            start = self.start.isoformat() if self.start is not None else ""
            return ("report", self.report_id, self.target, start)
        return ("id", self.measurement_id)

    @property
    def explorer_url(self) -> str | None:
        """The measurement on OONI Explorer, when OONI published it (our own probe's are not)."""
        if self.measurement_uid:
            return f"https://explorer.ooni.org/m/{quote(self.measurement_uid, safe='')}"
        if self.report_id:
            link = f"https://explorer.ooni.org/measurement/{quote(self.report_id, safe='')}"
            if self.test_name == "web_connectivity":
                link += f"?input={quote(self.target, safe='')}"
            return link
        return None


def analyse(measurement: OoniMeasurement, fingerprints: FingerprintDB | None = None) -> Verdict:
    """Judge one measurement (see the module docstring)."""
    return judge(make_observations(measurement), fingerprints)


def judge(obs: Observations, fingerprints: FingerprintDB | None = None) -> Verdict:
    """Judge already-parsed observations."""
    fps = fingerprints if fingerprints is not None else load_fingerprints()
    finding: Finding
    if obs.unsupported is not None:
        finding = inconclusive(f"not analysed: {obs.unsupported}")
    elif obs.test_name == "web_connectivity":
        finding = analyse_web_connectivity(obs, fps)
    else:
        finding = analyse_app(obs, fps)
    if obs.network_check not in (None, "ok") and finding.status is not Status.ACCESSIBLE:
        # the probe's own control check failed: a failure here says nothing about censorship
        check = obs.network_check_reason or obs.network_check or "the network check failed"
        finding = inconclusive(f"inconclusive: {check}; a failure then says nothing about censorship")
    return Verdict(
        measurement_id=obs.measurement_id,
        test_name=obs.test_name,
        target=target_of(obs.test_name, obs.input),
        status=finding.status,
        method=finding.method,
        reason=finding.reason,
        probe_cc=obs.probe_cc,
        probe_asn=obs.probe_asn,
        start=obs.start,
        fingerprint=finding.fingerprint,
        report_id=obs.report_id,
        measurement_uid=obs.measurement_uid,
    )


def target_of(test_name: str, input_url: str | None) -> str:
    if test_name in APP_NAMES:
        return APP_NAMES[test_name]
    return input_url or test_name
