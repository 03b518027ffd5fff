"""What a verifier asks the consulate: is this visa genuine, and does it still stand?"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from shared.http import error_responses, limited_per_account
from shared.http.auth import authenticated

from . import audit, documents
from .models import Verifier
from .usecases import VisaNotFound
from .visas import Standing
from .wiring import ConsulateDep

# Every route may answer 422 (a refused request), 429 (rate limits) and 503 (database unreachable).
router = APIRouter(prefix="/v1", responses=error_responses(422, 429, 503))
# Included here, since the composition root mounts this one router; tagged per route, so that the
# audit routes are not also tagged "visas".
router.include_router(audit.router)
router.include_router(documents.router)  # the printed visa and the seal keys


class VisaView(BaseModel):
    number: str
    standing: Standing
    request_id: str
    authorization_id: str
    person_id: str
    surnames: str
    given_names: str
    nationality: str
    immigration_status: str
    valid_from: dt.date
    valid_until: dt.date
    mrz: tuple[str, str]
    issued_at: dt.datetime
    cancelled_at: dt.datetime | None = None
    cancellation_reason: str | None = None
    superseded_at: dt.datetime | None = None
    superseded_by: str | None = None


# A visa names a diplomat and numbers are sequential: only registered verifiers may look them up, each at
# most ISSUANCE_RATE_LIMIT_PER_VERIFIER times (per process), and every miss is logged: enumeration is slow
# and visible.
VerifierDep = Annotated[
    Verifier,
    Depends(limited_per_account(authenticated(Verifier), setting="issuance_rate_limit_per_verifier", per="verifier")),
]


@router.get("/visas/{number}", response_model=VisaView, tags=["visas"], responses=error_responses(401, 404))
async def verify_visa(number: str, verifier: VerifierDep, consulate: ConsulateDep) -> VisaView:
    try:
        found = await consulate.verify(number, verifier_id=verifier.id)
    except VisaNotFound as error:
        raise HTTPException(404, detail=str(error)) from None
    visa = found.visa
    return VisaView(
        number=visa.number,
        standing=found.standing,
        request_id=visa.request_id,
        authorization_id=visa.authorization_id,
        person_id=visa.person_id,
        surnames=visa.surnames,
        given_names=visa.given_names,
        nationality=visa.nationality,
        immigration_status=visa.immigration_status,
        valid_from=visa.valid_from,
        valid_until=visa.valid_until,
        mrz=(visa.mrz_line1, visa.mrz_line2),
        issued_at=visa.issued_at,
        cancelled_at=visa.cancelled_at,
        cancellation_reason=visa.cancellation_reason,
        superseded_at=visa.superseded_at,
        superseded_by=visa.superseded_by,
    )
