"""The officers' HTTP API: pending cases, grant, deny with a reason, revoke."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from shared.contracts import RequestSubmitted
from shared.http import error_responses
from shared.keys import authenticated

from .cases import CaseState, InvalidTransition
from .handlers import Directorate
from .models import Case, Officer

# Every route needs an officer's key (401) and may answer 422 (a refused request), 429 (rate limits) and 503
# (database unreachable).
router = APIRouter(prefix="/v1", tags=["cases"], responses=error_responses(401, 422, 429, 503))


OfficerDep = Annotated[Officer, Depends(authenticated(Officer))]

Reason = Annotated[str, Field(min_length=3, max_length=500)]


class CaseView(BaseModel):
    request_id: str
    authorization_id: str
    state: CaseState
    opened_at: dt.datetime
    submission: dict
    violations: dict[str, list[str]]
    decided_by: str | None
    decided_at: dt.datetime | None
    decisions: list | None
    visas: dict[str, str]
    revocation_reason: str | None


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deny: dict[str, Reason] = Field(
        default_factory=dict, description="People (by person id) the officer denies, with the reason."
    )


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


def _view(case: Case) -> CaseView:
    return CaseView.model_validate(case, from_attributes=True)


@router.get("/cases", response_model=list[CaseView])
async def list_cases(
    officer: OfficerDep,
    request: Request,
    state: CaseState = CaseState.PENDING,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaseView]:
    async with request.app.state.db.sessions() as session:
        cases = await session.scalars(select(Case).where(Case.state == state).order_by(Case.opened_at).limit(limit))
        return [_view(case) for case in cases]


@router.get("/cases/{request_id}", response_model=CaseView, responses=error_responses(404))
async def get_case(request_id: str, officer: OfficerDep, request: Request) -> CaseView:
    async with request.app.state.db.sessions() as session:
        return _view(await _case(session, request_id))


async def _case(session, request_id: str, *, for_update: bool = False) -> Case:
    # Acting on a case locks it: two officers deciding at once cannot both decide.
    case = await session.get(Case, request_id, with_for_update=for_update)
    if case is None:
        raise HTTPException(404, detail=f"no case for request {request_id}")
    return case


async def _act(request: Request, request_id: str, act) -> CaseView:
    directorate: Directorate = request.app.state.directorate
    async with request.app.state.bus.unit() as uow:
        case = await _case(uow.session, request_id, for_update=True)
        try:
            await act(directorate, uow, case)
        except InvalidTransition as error:
            raise HTTPException(409, detail=str(error)) from error
    return _view(case)


@router.post("/cases/{request_id}/grant", response_model=CaseView, responses=error_responses(404, 409, 413))
async def grant(request_id: str, officer: OfficerDep, request: Request, body: GrantIn | None = None) -> CaseView:
    """Grant everyone the rules allow, except the people the officer denies by name."""
    denials = body.deny if body else {}

    async def act(directorate: Directorate, uow, case: Case) -> None:
        submission = RequestSubmitted.model_validate(case.submission)
        unknown = set(denials) - {person.person_id for person in submission.people}
        if unknown:
            raise HTTPException(422, detail=f"deny: unknown person ids {sorted(unknown)}")
        if case.state != CaseState.PENDING:
            raise InvalidTransition(CaseState(case.state), CaseState.GRANTED)
        await directorate.conclude(uow, case, submission, decided_by=officer.id, officer_denials=denials)

    return await _act(request, request_id, act)


@router.post("/cases/{request_id}/deny", response_model=CaseView, responses=error_responses(404, 409, 413))
async def deny(request_id: str, body: ReasonIn, officer: OfficerDep, request: Request) -> CaseView:
    async def act(directorate: Directorate, uow, case: Case) -> None:
        if case.state != CaseState.PENDING:
            raise InvalidTransition(CaseState(case.state), CaseState.DENIED)
        submission = RequestSubmitted.model_validate(case.submission)
        await directorate.conclude(uow, case, submission, decided_by=officer.id, officer_denials={"*": body.reason})

    return await _act(request, request_id, act)


@router.post("/cases/{request_id}/revoke", response_model=CaseView, responses=error_responses(404, 409, 413))
async def revoke(request_id: str, body: ReasonIn, officer: OfficerDep, request: Request) -> CaseView:
    """Revoke a granted authorization; the consulate cancels its visas."""

    async def act(directorate: Directorate, uow, case: Case) -> None:
        await directorate.revoke(uow, case, reason=body.reason, revoked_by=officer.id)

    return await _act(request, request_id, act)
