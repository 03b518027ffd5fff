"""What a verifier asks the consulate: is this visa genuine, and does it still stand?"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import select

from shared.http import error_responses, limited_per_account
from shared.keys import authenticated

from . import audit
from .models import Verifier, Visa
from .visas import Standing, standing

log = logging.getLogger("visa.issuance")

# Every route may answer 422 (a refused request), 429 (rate limits) and 503 (database unreachable).
router = APIRouter(prefix="/v1", responses=error_responses(422, 429, 503))
# Included here, since the composition root mounts this one router; tagged per route, so that the
# audit routes are not also tagged "visas".
router.include_router(audit.router)


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


# A visa names a diplomat and numbers are sequential: only registered verifiers may look them up, each at
# most ISSUANCE_RATE_LIMIT_PER_VERIFIER times (per process), and every miss is logged: enumeration is slow
# and visible.
VerifierDep = Annotated[
    Verifier,
    Depends(limited_per_account(authenticated(Verifier), setting="issuance_rate_limit_per_verifier", per="verifier")),
]


@router.get("/visas/{number}", response_model=VisaView, tags=["visas"], responses=error_responses(401, 404))
async def verify_visa(number: str, verifier: VerifierDep, request: Request) -> VisaView:
    async with request.app.state.db.sessions() as session:
        visa = await session.scalar(select(Visa).where(Visa.number == number.strip().upper()))
    if visa is None:
        # Who asked, not whom: a number that was never issued names nobody.
        log.warning("visa lookup of a number never issued here (%.16r) by verifier %s", number, verifier.id)
        raise HTTPException(404, detail=f"no visa numbered {number!r} was issued by this post")
    return VisaView(
        number=visa.number,
        standing=standing(
            valid_from=visa.valid_from,
            valid_until=visa.valid_until,
            cancelled=visa.cancelled_at is not None,
            on=dt.date.today(),
        ),
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
    )
