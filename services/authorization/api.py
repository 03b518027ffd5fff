"""The officers' HTTP API: pending cases (filtered), take and release one, grant, deny with a reason, revoke."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.contracts import ImmigrationStatus
from shared.contracts.events import POST_CODE
from shared.contracts.reasons import render
from shared.http import error_responses
from shared.http.auth import authenticated
from shared.http.errors import field_refused
from shared.i18n import N_, Message, current_language
from shared.posts import UnknownPost

from .cases import AssignedToAnother, CaseState, InvalidTransition, NothingToRevoke, NotPending, RenewalKeepsPost
from .models import Case, Officer
from .usecases import CaseNotFound, Directorate, UnknownPeople

# Every route needs an officer's key (401) and may answer 422 (a refused request), 429 (rate limits) and 503
# (database unreachable).
router = APIRouter(prefix="/v1", tags=["cases"], responses=error_responses(401, 422, 429, 503))


OfficerDep = Annotated[Officer, Depends(authenticated(Officer))]

Reason = Annotated[str, Field(min_length=3, max_length=500)]


def _worded(violations: dict[str, list]) -> dict[str, list[str]]:
    """A case's findings (codes and parameters, shared/contracts/reasons.py) in the language of the request."""
    language = current_language()
    return {person: [render(reason, language) for reason in found] for person, found in violations.items()}


class CaseView(BaseModel):
    request_id: str
    authorization_id: str
    state: CaseState
    opened_at: dt.datetime
    submission: dict
    violations: Annotated[dict[str, list[str]], BeforeValidator(_worded)] = Field(
        description="Each person's rule findings, worded in the language asked for ('rule: sentence')."
    )
    decided_by: str | None
    decided_at: dt.datetime | None
    decisions: list | None
    visas: dict[str, str]
    revocation_reason: str | None
    revoked_by: str | None
    revoked_at: dt.datetime | None
    revocations: Annotated[list, BeforeValidator(lambda value: value or [])] = Field(
        default_factory=list,
        description="Each revocation, whole or per person: person_ids, reason, revoked_by (an officer, or `sponsor` "
        "on a notice of the end of functions), revoked_at.",
    )
    assigned_to: str | None = Field(description="The officer (id) who holds the case: took it, or decided it.")
    assigned_at: dt.datetime | None
    post: str | None = Field(
        default=None,
        description="The consular post that issues the case's visas: the sponsor's choice, the default post, or an "
        "officer's (POST /v1/cases/{id}/post); none on a case opened before posts (the default post's).",
    )


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deny: dict[str, Reason] = Field(
        default_factory=dict, description="People (by person id) the officer denies, with the reason."
    )


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    post: str = Field(pattern=POST_CODE, description="The consular post's code (one of the configured list).")


class RevocationIn(ReasonIn):
    person_ids: list[Annotated[str, Field(min_length=1, max_length=36)]] = Field(
        default_factory=list,
        max_length=21,
        description="The people whose authorization is revoked (the principal's takes the family); everyone when "
        "empty.",
    )


def _view(case: Case) -> CaseView:
    return CaseView.model_validate(case, from_attributes=True)


async def _directorate(request: Request) -> Directorate:
    return request.app.state.directorate


DirectorateDep = Annotated[Directorate, Depends(_directorate)]


ME, NOBODY = "me", "nobody"


@router.get("/cases", response_model=list[CaseView])
async def list_cases(
    officer: OfficerDep,
    directorate: DirectorateDep,
    state: CaseState = CaseState.PENDING,
    immigration_status: ImmigrationStatus | None = None,
    sponsor: Annotated[str | None, Query(min_length=1, max_length=36, description="A sponsor's id.")] = None,
    assigned: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=36,
            description=f"`{ME}` (the cases you hold), `{NOBODY}` (the cases nobody holds), or an officer's id.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaseView]:
    """Cases in ``state`` (pending unless asked), oldest first, filtered by status, sponsor and holder."""
    holder = officer.id if assigned == ME else None if assigned == NOBODY else assigned
    found = await directorate.cases(
        state,
        immigration_status=immigration_status,
        sponsor_id=sponsor,
        assigned_to=holder,
        unassigned=assigned == NOBODY,
        limit=limit,
    )
    return [_view(case) for case in found]


@router.get("/cases/{request_id}", response_model=CaseView, responses=error_responses(404))
async def get_case(request_id: str, officer: OfficerDep, directorate: DirectorateDep) -> CaseView:
    return _view(await _refused_as_http(directorate.case(request_id)))


# The case's refusals, as cases.py words them in English: their catalog msgids, so that a 409 is answered in
# the request's language (a refusal not among them is answered as worded).
CASE_REFUSALS = (
    N_("a {current} case cannot become {target}"),
    N_("the case is assigned to officer {holder}"),
    N_("a {state} case cannot be taken: only a PENDING case can"),
    N_("a {state} case cannot be released: only a PENDING case can"),
    N_("everyone named is already revoked or was never granted: nothing to revoke"),
    N_("a {state} case cannot be sent to another post: only a PENDING case can"),
    N_("a renewal is issued by the consular post that issued the visas it renews"),
)


async def _refused_as_http(action: Awaitable[Case]) -> Case:
    """A use case's refusal, in HTTP's terms: no such case 404, not in this state or held by another officer
    409 (naming that officer's id), unknown people 422."""
    try:
        return await action
    except CaseNotFound as error:
        raise HTTPException(404, detail=str(error)) from None
    except (InvalidTransition, NotPending, AssignedToAnother, NothingToRevoke, RenewalKeepsPost) as error:
        raise HTTPException(409, detail=Message.recognize(str(error), *CASE_REFUSALS)) from None
    except UnknownPeople as error:
        raise HTTPException(422, detail=str(error)) from None
    except UnknownPost as error:
        raise field_refused(("body", "post"), error) from None


@router.post("/cases/{request_id}/take", response_model=CaseView, responses=error_responses(404, 409, 413))
async def take(request_id: str, officer: OfficerDep, directorate: DirectorateDep) -> CaseView:
    """Take a pending case: no other officer may decide or release it until you decide or release it.
    Taking your own case again changes nothing; another officer's is a 409 naming that officer."""
    return _view(await _refused_as_http(directorate.take(request_id, officer_id=officer.id)))


@router.post("/cases/{request_id}/release", response_model=CaseView, responses=error_responses(404, 409, 413))
async def release(request_id: str, officer: OfficerDep, directorate: DirectorateDep) -> CaseView:
    """Give back a pending case you hold: any officer may take or decide it again."""
    return _view(await _refused_as_http(directorate.release(request_id, officer_id=officer.id)))


@router.post("/cases/{request_id}/grant", response_model=CaseView, responses=error_responses(404, 409, 413))
async def grant(
    request_id: str, officer: OfficerDep, directorate: DirectorateDep, body: GrantIn | None = None
) -> CaseView:
    """Grant everyone the rules allow, except the people the officer denies by name. The case must be yours or
    nobody's (it is yours from then on): another officer's is a 409 naming that officer."""
    denials = body.deny if body else {}
    return _view(await _refused_as_http(directorate.grant(request_id, officer_id=officer.id, denials=denials)))


@router.post("/cases/{request_id}/deny", response_model=CaseView, responses=error_responses(404, 409, 413))
async def deny(request_id: str, body: ReasonIn, officer: OfficerDep, directorate: DirectorateDep) -> CaseView:
    """Deny everyone in the request, with your reason. As for a grant, the case must be yours or nobody's."""
    return _view(await _refused_as_http(directorate.deny(request_id, officer_id=officer.id, reason=body.reason)))


@router.post("/cases/{request_id}/revoke", response_model=CaseView, responses=error_responses(404, 409, 413))
async def revoke(request_id: str, body: RevocationIn, officer: OfficerDep, directorate: DirectorateDep) -> CaseView:
    """Revoke a granted authorization, for everyone or for the people named; the consulate cancels their visas.
    Any officer may, whoever decided it. 409 when everyone named is already revoked or was never granted."""
    revoking = directorate.revoke(
        request_id, officer_id=officer.id, reason=body.reason, person_ids=tuple(dict.fromkeys(body.person_ids))
    )
    return _view(await _refused_as_http(revoking))


@router.post("/cases/{request_id}/post", response_model=CaseView, responses=error_responses(404, 409, 413))
async def assign_post(request_id: str, body: PostIn, officer: OfficerDep, directorate: DirectorateDep) -> CaseView:
    """Send a pending case to another consular post (one of the configured list, 422 otherwise), which will issue
    its visas. As for a take, the case must be yours or nobody's (it does not become yours); a decided case or a
    renewal (issued by the post that issued the visas it renews) is a 409."""
    assigning = directorate.assign_post(request_id, officer_id=officer.id, post=body.post)
    return _view(await _refused_as_http(assigning))
