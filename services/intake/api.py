"""The sponsors' HTTP API: submit a request, follow it, ask whether a short stay needs a visa."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from pydantic import BaseModel, Field

from shared.contracts import Decision, PassportType, Waiver
from shared.contracts.reasons import render
from shared.http import error_responses
from shared.http.auth import authenticated
from shared.http.errors import field_refused
from shared.i18n import Message, current_language, message_of
from shared.posts import UnknownPost

from . import audit
from .models import SponsorRecord, VisaRequest
from .progress import Status
from .renewals import NotRenewable
from .schema import Accepted, DependantsIn, EndOfFunctionsIn, Notified, RenewalIn, VisaRequestIn
from .usecases import IdempotencyConflict, NothingToEnd, NotInRequest, NotJoinable, RequestNotFound
from .wiring import IntakeDep

# Every route may answer 422 (a refused request), 429 (rate limits) and 503 (database unreachable).
router = APIRouter(prefix="/v1", responses=error_responses(422, 429, 503))
# Included here, since the composition root mounts this one router.
router.include_router(audit.router)


SponsorDep = Annotated[SponsorRecord, Depends(authenticated(SponsorRecord))]
IdempotencyKey = Annotated[str | None, Header(min_length=1, max_length=200, pattern=r"\S")]

T = TypeVar("T")
# How the use cases' refusals are answered: not found or not the sponsor's (404), a person the request does not
# hold (422), a state that forbids it (409).
REFUSALS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], int], ...] = (
    (RequestNotFound, 404),
    (NotInRequest, 422),
    ((NotRenewable, NotJoinable, NothingToEnd, IdempotencyConflict), 409),
)


async def _refused_as_http(pending: Awaitable[T]) -> T:
    try:
        return await pending
    except Exception as error:
        for refusals, code in REFUSALS:
            if isinstance(error, refusals):
                raise HTTPException(code, detail=str(error)) from None
        raise


@router.post(
    "/requests",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["requests"],
    responses=error_responses(401, 409, 413),
)
async def submit_request(
    body: VisaRequestIn,
    sponsor: SponsorDep,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Accept a formal request; MRE's Directorate of Privileges receives it as ``RequestSubmitted``."""
    try:
        request_id = await _refused_as_http(intake.submit(sponsor, body, idempotency_key))
    except UnknownPost as error:
        raise field_refused(("body", "post"), error) from None
    return Accepted(request_id=request_id, status=Status.SUBMITTED)


class PostView(BaseModel):
    code: str = Field(description="The post's code: the value of a request's `post`.")
    name: str
    visa_prefix: str = Field(description="The first letters of the numbers of the visas it issues.")
    default: bool = Field(description="The post a request goes to when it names none.")


@router.get("/posts", response_model=list[PostView], tags=["posts"])
async def list_posts(intake: IntakeDep) -> list[PostView]:
    """The consular posts that issue visas, one of which a request may name in `post` (the default otherwise)."""
    posts = intake.posts()
    return [
        PostView(code=post.code, name=post.name, visa_prefix=post.visa_prefix, default=post.code == posts.default)
        for post in posts
    ]


class VisaView(BaseModel):
    number: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    mrz: tuple[str, str]


class ApplicantView(BaseModel):
    person_id: str
    role: str
    relationship: str | None
    surnames: str
    given_names: str
    status: Status
    decision: Decision | None
    reasons: list[str] = Field(
        description="Why the person's status is what it is, in the language asked for: 'rule: sentence' for each "
        "rule a decision rests on ('officer: …' for an officer's words), then what happened since."
    )
    visa: VisaView | None
    waiver: Waiver | None = Field(
        default=None,
        description="Status NOT_REQUIRED: the treaty that makes a visa unnecessary, its maximum stay "
        "and its conditions.",
    )
    renews: str | None = Field(default=None, description="A renewal: the number of the visa this person's renews.")


class RequestView(BaseModel):
    request_id: str
    joins: str | None = Field(
        default=None, description="Dependants arriving later: the request whose authorization they join."
    )
    status: Status
    immigration_status: str
    submitted_at: dt.datetime
    updated_at: dt.datetime
    applicants: list[ApplicantView]


def _view(visa_request: VisaRequest) -> RequestView:
    language = current_language()
    return RequestView(
        request_id=visa_request.id,
        joins=(visa_request.submitted or {}).get("joins"),
        status=visa_request.status,
        immigration_status=visa_request.immigration_status,
        submitted_at=visa_request.submitted_at,
        updated_at=visa_request.updated_at,
        applicants=[
            ApplicantView(
                person_id=a.person_id,
                role=a.role,
                relationship=a.relationship,
                surnames=a.surnames,
                given_names=a.given_names,
                status=a.status,
                decision=a.decision,
                reasons=[render(reason, language) for reason in a.reasons or ()],
                visa=VisaView(
                    number=a.visa_number, valid_from=a.visa_valid_from, valid_until=a.visa_valid_until, mrz=a.visa_mrz
                )
                if a.visa_number and a.visa_mrz
                else None,
                waiver=a.waiver,
                renews=a.renews_visa,
            )
            for a in visa_request.applicants
        ],
    )


@router.get(
    "/requests/{request_id}", response_model=RequestView, tags=["requests"], responses=error_responses(401, 404)
)
async def get_request(request_id: str, sponsor: SponsorDep, intake: IntakeDep) -> RequestView:
    return _view(await _refused_as_http(intake.request_of(sponsor, request_id)))


@router.post(
    "/requests/{request_id}/renewal",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["requests"],
    responses=error_responses(401, 404, 409, 413),
)
async def renew_request(
    request_id: str,
    body: RenewalIn,
    sponsor: SponsorDep,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Renew the visas issued under a request (a new posting end, a new note verbale): a new request, which MRE
    decides like any other; each new visa supersedes the one it renews. 409 names a visa that cannot be
    renewed (cancelled, expired, already renewed or being renewed, a short stay)."""
    renewal_id = await _refused_as_http(intake.renew(sponsor, request_id, body, idempotency_key))
    return Accepted(request_id=renewal_id, status=Status.SUBMITTED)


@router.post(
    "/requests/{request_id}/dependants",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    tags=["requests"],
    responses=error_responses(401, 404, 409, 413),
)
async def add_dependants(
    request_id: str,
    body: DependantsIn,
    sponsor: SponsorDep,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Accepted:
    """Family members arriving after the principal join the principal's authorization: a new request, which MRE
    decides for them by the same rules. 409 when they cannot join (a short stay, a principal without an
    authorization in force)."""
    joined_id = await _refused_as_http(intake.add_dependants(sponsor, request_id, body, idempotency_key))
    return Accepted(request_id=joined_id, status=Status.SUBMITTED)


@router.post(
    "/requests/{request_id}/end-of-functions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Notified,
    tags=["requests"],
    responses=error_responses(401, 404, 409, 413),
)
async def end_functions(request_id: str, body: EndOfFunctionsIn, sponsor: SponsorDep, intake: IntakeDep) -> Notified:
    """Notify the end of functions (a note verbale): for everyone, or for the people named. MRE revokes their
    authorization and the consulate cancels their visas; a second notice has no further effect. 409 when
    nobody concerned holds an authorization or a visa."""
    named = await _refused_as_http(intake.end_functions(sponsor, request_id, body))
    return Notified(request_id=request_id, person_ids=list(named))


@router.get("/requests", response_model=list[RequestView], tags=["requests"], responses=error_responses(401))
async def list_requests(
    sponsor: SponsorDep, intake: IntakeDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[RequestView]:
    return [_view(row) for row in await intake.requests_of(sponsor, limit)]


class WaiverAnswer(BaseModel):
    nationality: str
    passport_type: PassportType
    on: dt.date
    visa_required: bool
    treaty: dict | None
    list_version: str


@router.get("/visa-waivers/{nationality}", response_model=WaiverAnswer, tags=["waivers"])
async def visa_waiver(
    nationality: str,
    passport_type: PassportType,
    intake: IntakeDep,
    on: dt.date | None = None,
) -> WaiverAnswer:
    """Does a short stay with this passport need a visa? Answered from the treaty list."""
    try:
        answer = await intake.waiver(nationality, passport_type, on)
    except ValueError as error:
        problem = message_of(error) or str(error)
        raise HTTPException(422, detail=Message("nationality: {problem}", problem=problem)) from None
    return WaiverAnswer(
        nationality=answer.nationality,
        passport_type=answer.passport_type,
        on=answer.on,
        visa_required=answer.treaty is None,
        treaty=answer.treaty.model_dump(mode="json") if answer.treaty else None,
        list_version=answer.list_version,
    )
