"""The write endpoint: POST /api/v1/ingest, behind a bearer token."""

from __future__ import annotations

import functools
import hmac
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lightsout.api.access import StoreAccess
from lightsout.api.errors import ApiError
from lightsout.api.schemas import DetectResult, Envelope, ErrorEnvelope, IngestResult, SkipCount, WriteMeta
from lightsout.api.state import api_state
from lightsout.errors import InputError
from lightsout.ingest import InputFormat, ingest_file
from lightsout.model import IngestReport
from lightsout.store import Store

bearer = HTTPBearer(auto_error=False, description="The token the server was started with (LIGHTSOUT_TOKEN).")

router = APIRouter(
    responses={
        400: {"model": ErrorEnvelope, "description": "A bad parameter, or a file that cannot be read"},
        401: {"model": ErrorEnvelope, "description": "No bearer token"},
        403: {"model": ErrorEnvelope, "description": "Wrong token, or writes disabled (no token configured)"},
        413: {"model": ErrorEnvelope, "description": "Upload larger than the server accepts"},
    }
)


def require_writer(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    token = api_state(request).token
    if token is None:
        raise ApiError(403, "writes are disabled: the server was started without a token (LIGHTSOUT_TOKEN)")
    check_bearer(credentials, (token,))


def check_bearer(credentials: HTTPAuthorizationCredentials | None, tokens: Iterable[str]) -> None:
    """401 without a bearer token, 403 unless it is one of ``tokens`` (compared in constant time)."""
    if credentials is None:
        raise ApiError(
            401,
            "missing bearer token: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = credentials.credentials.encode()
    if not any(hmac.compare_digest(given, token.encode()) for token in tokens):
        raise ApiError(403, "wrong token")


def _result(filename: str, report: IngestReport, detected: DetectResult | None) -> IngestResult:
    skips: dict[str, SkipCount] = {}
    for skip in report.skipped:
        found = skips.get(skip.reason)
        if found is None:
            skips[skip.reason] = SkipCount(reason=skip.reason, count=1, first_position=skip.position)
        else:
            found.count += 1
    return IngestResult(
        filename=filename,
        format=report.format,
        sha256=report.sha256,
        already_ingested=report.already_ingested,
        records_read=report.records_read,
        points_written=report.points_written,
        measurements_written=report.measurements_written,
        entities_written=report.entities_written,
        skipped=sorted(skips.values(), key=lambda s: -s.count),
        notes=report.notes,
        detected=detected,
    )


IngestOutcome = tuple[IngestReport, DetectResult | None]


def _ingest_job(path: Path, fmt: InputFormat, detect: bool, store: Store) -> IngestOutcome:
    report = ingest_file(store, path, fmt)
    # Detection runs even when the file is already stored: an upload retried after a kill between
    # the ingest's commit and the detection must still judge it, or its events stay invisible.
    if not detect:
        return report, None
    from lightsout.detect.run import detect_batch

    summary = detect_batch(store)
    return report, DetectResult(series=summary.series, bins=summary.bins, alerts=summary.alerts)


async def _receive(request: Request, path: Path, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"upload of {int(declared):,} bytes; this server accepts at most {limit:,}")
    size = 0
    async with await anyio.open_file(path, "wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"upload larger than {limit:,} bytes, the most this server accepts")
            await handle.write(chunk)


def _run_ingest(access: StoreAccess, path: Path, fmt: InputFormat, detect: bool) -> IngestOutcome:
    return access.write(functools.partial(_ingest_job, path, fmt, detect))


FILENAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"


@router.post(
    "/ingest",
    summary="Ingest one file (the request body): Monash CSV, BGP MRT or OONI JSON/JSONL",
    dependencies=[Depends(require_writer)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file's bytes, as they are (no multipart).",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def ingest(
    request: Request,
    filename: Annotated[
        str,
        Query(
            pattern=FILENAME_PATTERN,
            description="The file's name; its extension picks the format when format=auto (e.g. ven.csv).",
        ),
    ],
    fmt: Annotated[InputFormat, Query(alias="format")] = InputFormat.AUTO,
    detect: Annotated[bool, Query(description="Run the detector over the store afterwards.")] = False,
) -> Envelope[IngestResult, WriteMeta]:
    """Written atomically, like `lightsout ingest`: a file already stored (same SHA-256) adds
    nothing. One write runs at a time; reads go on meanwhile and see the data once committed."""
    state = api_state(request)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lightsout-upload-") as tmp:
        path = Path(tmp) / filename
        await _receive(request, path, state.max_upload_bytes)
        try:
            report, detected = await anyio.to_thread.run_sync(_run_ingest, state.access, path, fmt, detect)
        except InputError as exc:
            where = f"{exc.position}: " if exc.position else ""
            raise ApiError(400, f"{filename}: {where}{exc.message}", "body") from None
    meta = WriteMeta(elapsed_s=time.monotonic() - started)
    return Envelope(data=_result(filename, report, detected), meta=meta)
