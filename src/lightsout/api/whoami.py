"""``GET /api/v1/whoami``: the caller's address as this server sees it.

A Lightsout probe behind NAT asks it before measuring (``[public_address] http`` in the probe's
configuration, :mod:`lightsout.probe.whoami`) so that its scrubber knows the public address a page
may echo. The answer is the TCP peer, or, behind a reverse proxy on the same machine, the
``X-Forwarded-For`` address (uvicorn believes it from the addresses in ``FORWARDED_ALLOW_IPS``
only, 127.0.0.1 by default). It is the caller's own address, sent to the caller alone: never
cached (``Cache-Control: no-store``) and, like every request, not logged unless ``--access-log``
(which truncates it).
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from lightsout.api.schemas import Envelope, ErrorEnvelope


class ClientAddress(BaseModel):
    address: str = Field(description="The caller's IP address as this server sees it.")
    version: int | None = Field(description="4 or 6 (null: the peer is not an IP address).")


class WhoamiMeta(BaseModel):
    seen_as: str = Field(description="Where the address comes from.")


router = APIRouter(responses={400: {"model": ErrorEnvelope, "description": "An unknown parameter"}})


@router.get("/whoami", summary="The caller's address as this server sees it (for a probe's scrubber)")
def whoami(request: Request, response: Response) -> Envelope[ClientAddress, WhoamiMeta]:
    """The TCP peer's address (or a trusted proxy's ``X-Forwarded-For``); never cached."""
    response.headers["Cache-Control"] = "no-store"
    host = request.client.host if request.client is not None else ""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        address = None
    if address is not None and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address is None:
        data = ClientAddress(address=host, version=None)
    else:
        data = ClientAddress(address=str(address), version=address.version)
    return Envelope(data=data, meta=WhoamiMeta(seen_as="TCP peer, or X-Forwarded-For from a trusted proxy"))
