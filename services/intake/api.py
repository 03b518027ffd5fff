"""The sponsors' HTTP API: submit a request, follow it, ask whether a short stay needs a visa."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.contracts import Decision, NoteVerbale, PassportType, Person, RequestSubmitted, Sponsor
from shared.contracts.people import existing_country_code
from shared.http import error_responses
from shared.keys import authenticated

from . import audit
from .models import Applicant, SponsorRecord, VisaRequest
from .progress import Status
from .schema import Accepted, PersonIn, VisaRequestIn

# Every route may answer 422 (a refused request), 429 (rate limits) and 503 (database unreachable).
router = APIRouter(prefix="/v1", responses=error_responses(422, 429, 503))
# Included here, since the composition root mounts this one router.
router.include_router(audit.router)


SponsorDep = Annotated[SponsorRecord, Depends(authenticated(SponsorRecord))]


def _person(person_id: str, role: str, data: PersonIn) -> Person:
    return Person(person_id=person_id, role=role, **data.model_dump())


def _submission(request_id: str, sponsor: SponsorRecord, body: VisaRequestIn) -> RequestSubmitted:
    return RequestSubmitted(
        request_id=request_id,
        sponsor=Sponsor(id=sponsor.id, kind=sponsor.kind, name=sponsor.name, country=sponsor.country),
        immigration_status=body.immigration_status,
        note_verbale=NoteVerbale(**body.note_verbale.model_dump()),
        function=body.function,
        intended_arrival=body.intended_arrival,
        posting_end=body.posting_end,
        principal=_person(str(uuid.uuid4()), "PRINCIPAL", body.principal),
        family=tuple(_person(str(uuid.uuid4()), "FAMILY", member) for member in body.family),
        submitted_at=dt.datetime.now(dt.UTC),
    )


async def _replay(session, sponsor: SponsorRecord, key: str, fingerprint: str) -> Accepted | None:
    """The first answer to a request already submitted under this Idempotency-Key, if any."""
    earlier = await session.scalar(
        select(VisaRequest).where(VisaRequest.sponsor_id == sponsor.id, VisaRequest.idempotency_key == key)
    )
    if earlier is None:
        return None
    if earlier.fingerprint != fingerprint:
        raise HTTPException(409, detail="Idempotency-Key was already used for a different request")
    return Accepted(request_id=earlier.id, status=Status.SUBMITTED)


def _record(
    submitted: RequestSubmitted, sponsor: SponsorRecord, body: VisaRequestIn, key: str | None, fingerprint: str
) -> VisaRequest:
    return VisaRequest(
        id=submitted.request_id,
        sponsor_id=sponsor.id,
        idempotency_key=key,
        fingerprint=fingerprint,
        immigration_status=submitted.immigration_status.value,
        status=Status.SUBMITTED,
        submitted=body.model_dump(mode="json"),
        submitted_at=submitted.submitted_at,
        updated_at=submitted.submitted_at,
        applicants=[
            Applicant(
                person_id=person.person_id,
                position=position,
                role=person.role,
                relationship=person.relationship,
                surnames=person.surnames,
                given_names=person.given_names,
                status=Status.SUBMITTED,
                reasons=[],
            )
            for position, person in enumerate(submitted.people)
        ],
    )


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
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Accepted:
    """Accept a formal request; MRE's Directorate of Privileges receives it as ``RequestSubmitted``."""
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if idempotency_key:
        async with request.app.state.db.sessions() as session:
            if replay := await _replay(session, sponsor, idempotency_key, fingerprint):
                return replay
    try:
        async with request.app.state.bus.unit() as uow:
            submitted = _submission(str(uuid.uuid4()), sponsor, body)
            uow.session.add(_record(submitted, sponsor, body, idempotency_key, fingerprint))
            await uow.emit(submitted)
    except IntegrityError:
        if not idempotency_key:
            raise
        # The same key raced in from a concurrent retry, which won: answer as it was answered.
        async with request.app.state.db.sessions() as session:
            return await _replay(session, sponsor, idempotency_key, fingerprint)
    return Accepted(request_id=submitted.request_id, status=Status.SUBMITTED)


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
    reasons: list[str]
    visa: VisaView | None


class RequestView(BaseModel):
    request_id: str
    status: Status
    immigration_status: str
    submitted_at: dt.datetime
    updated_at: dt.datetime
    applicants: list[ApplicantView]


def _view(visa_request: VisaRequest) -> RequestView:
    return RequestView(
        request_id=visa_request.id,
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
                reasons=a.reasons or [],
                visa=VisaView(
                    number=a.visa_number, valid_from=a.visa_valid_from, valid_until=a.visa_valid_until, mrz=a.visa_mrz
                )
                if a.visa_number and a.visa_mrz
                else None,
            )
            for a in visa_request.applicants
        ],
    )


@router.get(
    "/requests/{request_id}", response_model=RequestView, tags=["requests"], responses=error_responses(401, 404)
)
async def get_request(request_id: str, sponsor: SponsorDep, request: Request) -> RequestView:
    async with request.app.state.db.sessions() as session:
        visa_request = await session.get(VisaRequest, request_id)
    # Another sponsor's request does not exist, as far as this sponsor can tell.
    if visa_request is None or visa_request.sponsor_id != sponsor.id:
        raise HTTPException(404, detail=f"no request {request_id}")
    return _view(visa_request)


@router.get("/requests", response_model=list[RequestView], tags=["requests"], responses=error_responses(401))
async def list_requests(
    sponsor: SponsorDep, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[RequestView]:
    async with request.app.state.db.sessions() as session:
        rows = await session.scalars(
            select(VisaRequest)
            .where(VisaRequest.sponsor_id == sponsor.id)
            .order_by(VisaRequest.submitted_at.desc())
            .limit(limit)
        )
        return [_view(row) for row in rows]


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
    request: Request,
    on: dt.date | None = None,
) -> WaiverAnswer:
    """Does a short stay with this passport need a visa? Answered from the treaty list."""
    try:
        code = existing_country_code(nationality)
    except ValueError as error:
        raise HTTPException(422, detail=f"nationality: {error}") from None
    on = on or dt.date.today()
    treaties = await request.app.state.treaties.current()
    entry = treaties.waiver_for(code, passport_type, on)
    return WaiverAnswer(
        nationality=code,
        passport_type=passport_type,
        on=on,
        visa_required=entry is None,
        treaty=entry.model_dump(mode="json") if entry else None,
        list_version=treaties.version,
    )
