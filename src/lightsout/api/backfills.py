"""Backfills through the running service (``lightsout run`` only): ``POST /api/v1/backfills``
queues a window of one source, ``GET /api/v1/backfills/{job_id}`` follows it, ``DELETE`` stops it
(:mod:`lightsout.service.backfills`).

Authorised by the service's control token (in its holder file, readable by its owner only) or
by the API token (``serve.token_env``) when one is configured: a backfill makes the service fetch
from the public sources, so nobody else may start one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from lightsout.api.errors import ApiError
from lightsout.api.schemas import CountMeta, Envelope, ErrorEnvelope
from lightsout.api.writes import check_bearer
from lightsout.errors import UserError
from lightsout.service.backfills import BackfillJob, Backfills, JobState

bearer = HTTPBearer(
    auto_error=False, description="The service's control token (its holder file) or its API token."
)


def require_control(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Backfills:
    backfills = getattr(request.app.state, "backfills", None)
    tokens: tuple[str, ...] = getattr(request.app.state, "control_tokens", ())
    if not isinstance(backfills, Backfills):
        raise ApiError(404, "backfills run only in `lightsout run`")
    check_bearer(credentials, tokens)
    return backfills


Control = Annotated[Backfills, Depends(require_control)]

router = APIRouter(
    responses={
        400: {"model": ErrorEnvelope, "description": "A bad window or an unknown source"},
        401: {"model": ErrorEnvelope, "description": "No bearer token"},
        403: {"model": ErrorEnvelope, "description": "Wrong token"},
        404: {"model": ErrorEnvelope, "description": "No such job, or not a running service"},
    }
)


class BackfillRequest(BaseModel):
    source: str = Field(description="A source the service follows (its config's [sources.NAME]).")
    since: datetime = Field(description="Start of the window (UTC unless it says).")
    until: datetime = Field(description="End of the window, exclusive.")


class BackfillStatus(BaseModel):
    job_id: str
    source: str
    since: datetime
    until: datetime
    state: JobState = Field(description="queued, running, done, failed or stopped.")
    fraction: float = Field(description="How much of the window is behind the job, 0..1, by data time.")
    reached: datetime | None = Field(description="The data time of the newest item handled.")
    already_complete: bool = Field(description="The window's checkpoint said it was done: nothing fetched.")
    items_stored: int
    items_known: int = Field(description="Items skipped: already stored, or being fetched by another stream.")
    not_yet: int = Field(description="Listed but not served by the source yet.")
    unreadable: int
    measurements: int
    points: int
    error: str | None
    notes: list[str]
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _status(job: BackfillJob) -> BackfillStatus:
    return BackfillStatus(
        job_id=job.job_id, source=job.source, since=job.since, until=job.until, state=job.state,
        fraction=job.fraction, reached=job.reached, already_complete=job.already_complete,
        items_stored=job.items_stored, items_known=job.items_known, not_yet=job.not_yet,
        unreadable=job.unreadable, measurements=job.measurements, points=job.points, error=job.error,
        notes=list(job.notes), submitted_at=job.submitted_at, started_at=job.started_at,
        finished_at=job.finished_at,
    )  # fmt: skip


@router.post("/backfills", summary="Queue a backfill window of one source (or join the same window's job)")
def post_backfill(body: BackfillRequest, backfills: Control) -> Envelope[BackfillStatus, CountMeta]:
    since, until = _utc(body.since), _utc(body.until)
    try:
        job = backfills.submit(body.source, since, until)
    except UserError as exc:
        raise ApiError(400, str(exc), "source") from None
    return Envelope(data=_status(job), meta=CountMeta(count=1))


@router.get("/backfills", summary="The service's backfill jobs, oldest first")
def list_backfills(backfills: Control) -> Envelope[list[BackfillStatus], CountMeta]:
    jobs = [_status(j) for j in backfills.jobs()]
    return Envelope(data=jobs, meta=CountMeta(count=len(jobs)))


@router.get("/backfills/{job_id}", summary="One backfill job: state, progress, counts")
def get_backfill(job_id: str, backfills: Control) -> Envelope[BackfillStatus, CountMeta]:
    job = backfills.get(job_id)
    if job is None:
        raise ApiError(404, f"no backfill job {job_id[:40]!r} (the service may have restarted)", "job_id")
    return Envelope(data=_status(job), meta=CountMeta(count=1))


@router.delete("/backfills/{job_id}", summary="Stop a backfill job between two items (resumable)")
def delete_backfill(job_id: str, backfills: Control) -> Envelope[BackfillStatus, CountMeta]:
    job = backfills.cancel(job_id)
    if job is None:
        raise ApiError(404, f"no backfill job {job_id[:40]!r}", "job_id")
    return Envelope(data=_status(job), meta=CountMeta(count=1))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
