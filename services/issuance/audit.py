"""Auditors' read-only view of every visa record, paged by number, to reconcile with the event log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from shared.http import error_responses
from shared.http.auth import authenticated

from .models import Auditor
from .wiring import ConsulateDep

router = APIRouter(prefix="/audit", tags=["audit"])

AuditorDep = Annotated[Auditor, Depends(authenticated(Auditor))]


class AuditedVisa(BaseModel):
    number: str
    request_id: str
    authorization_id: str
    person_id: str
    immigration_status: str
    valid_from: dt.date
    valid_until: dt.date
    issued_at: dt.datetime
    cancelled_at: dt.datetime | None
    superseded_at: dt.datetime | None = None
    revocation_id: str | None  # the revocation event a cancellation executed


class AuditedVisas(BaseModel):
    visas: list[AuditedVisa]
    next: str | None  # pass as ``after`` for the next page; null once the last visa was listed


@router.get("/visas", response_model=AuditedVisas, responses=error_responses(401))
async def audit_visas(
    auditor: AuditorDep,
    consulate: ConsulateDep,
    after: Annotated[str | None, Query(max_length=9, description="The last visa number already read.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> AuditedVisas:
    """Every visa this post issued, cancelled or not, ordered by number."""
    page, cursor = await consulate.visas_page(after, limit)
    return AuditedVisas(
        visas=[
            AuditedVisa(
                number=visa.number,
                request_id=visa.request_id,
                authorization_id=visa.authorization_id,
                person_id=visa.person_id,
                immigration_status=visa.immigration_status,
                valid_from=visa.valid_from,
                valid_until=visa.valid_until,
                issued_at=visa.issued_at,
                cancelled_at=visa.cancelled_at,
                superseded_at=visa.superseded_at,
                revocation_id=visa.revocation_id,
            )
            for visa in page
        ],
        next=cursor,
    )
