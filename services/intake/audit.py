"""Auditors' read-only view of every request, paged by request id, to reconcile with the event log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from shared.http import error_responses
from shared.http.auth import authenticated

from .models import Auditor
from .progress import Status
from .wiring import IntakeDep

router = APIRouter(prefix="/audit", tags=["audit"])

AuditorDep = Annotated[Auditor, Depends(authenticated(Auditor))]


class AuditedPerson(BaseModel):
    person_id: str
    role: str
    status: Status


class AuditedRequest(BaseModel):
    request_id: str
    status: Status
    people: list[AuditedPerson]


class AuditedRequests(BaseModel):
    requests: list[AuditedRequest]
    next: str | None  # pass as ``after`` for the next page; null once the last request was listed


@router.get("/requests", response_model=AuditedRequests, responses=error_responses(401))
async def audit_requests(
    auditor: AuditorDep,
    intake: IntakeDep,
    after: Annotated[str | None, Query(max_length=36, description="The last request_id already read.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> AuditedRequests:
    """Every request with each person's status, as sponsors see them, ordered by request_id."""
    page, cursor = await intake.requests_page(after, limit)
    return AuditedRequests(
        requests=[
            AuditedRequest(
                request_id=row.id,
                status=row.status,
                people=[AuditedPerson(person_id=a.person_id, role=a.role, status=a.status) for a in row.applicants],
            )
            for row in page
        ],
        next=cursor,
    )
