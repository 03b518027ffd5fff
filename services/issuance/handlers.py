"""Issuance reacts to MRE's authorization events, and to nothing else."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from shared.contracts import AuthorizationGranted, AuthorizationRevoked, Decision, VisaCancelled, VisaIssued
from shared.contracts.events import revocation_concerns
from shared.db import serialize
from shared.messaging import PoisonEvent, UnitOfWork

from .models import Revocation, Visa
from .visas import machine_readable_zone, visa_number

log = logging.getLogger("visa.issuance")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _revokes(revocation: Revocation, person_id: str, visa_number: str | None = None) -> bool:
    return revocation_concerns(revocation.person_ids, revocation.visa_numbers, person_id, visa_number)


class Issuance:
    def __init__(self, visa_prefix: str) -> None:
        self.visa_prefix = visa_prefix

    async def on_granted(self, uow: UnitOfWork, grant: AuthorizationGranted) -> None:
        session = uow.session
        # A grant and its revocation may be handled at once: one of them must see the other's work.
        await serialize(session, f"authorization:{grant.authorization_id}")
        revocations = (
            await session.scalars(select(Revocation).where(Revocation.authorization_id == grant.authorization_id))
        ).all()
        for decision in grant.decisions:
            if decision.decision is not Decision.GRANTED:
                continue
            if decision.valid_from is None or decision.valid_until is None:
                raise PoisonEvent(f"grant for {decision.person_id} carries no validity")
            if any(_revokes(revocation, decision.person_id) for revocation in revocations):
                log.info(
                    "authorization %s revoked before issuance: no visa for %s",
                    grant.authorization_id,
                    decision.person_id,
                )
                continue
            person = decision.person
            valid_until = min(decision.valid_until, person.passport.expires_on)
            visa = Visa(
                request_id=grant.request_id,
                authorization_id=grant.authorization_id,
                person_id=decision.person_id,
                surnames=person.surnames,
                given_names=person.given_names,
                nationality=person.nationality,
                passport_number=person.passport.number,
                immigration_status=grant.immigration_status.value,
                valid_from=decision.valid_from,
                valid_until=valid_until,
                mrz_line1="",
                mrz_line2="",
                issued_at=_now(),
            )
            session.add(visa)
            await session.flush()  # the sequence gives the number
            visa.number = visa_number(self.visa_prefix, visa.seq)
            try:
                visa.mrz_line1, visa.mrz_line2 = machine_readable_zone(
                    visa.number, person, grant.immigration_status, valid_until
                )
            except ValueError as error:  # e.g. a name ICAO 9303 cannot transliterate: no retry will help
                raise PoisonEvent(f"no MRZ for {decision.person_id}: {error}") from error  # names no one: mrz.py
            await uow.emit(
                VisaIssued(
                    request_id=grant.request_id,
                    authorization_id=grant.authorization_id,
                    person_id=decision.person_id,
                    person=person,
                    visa_number=visa.number,
                    immigration_status=grant.immigration_status,
                    valid_from=visa.valid_from,
                    valid_until=visa.valid_until,
                    mrz=(visa.mrz_line1, visa.mrz_line2),
                    issued_at=visa.issued_at,
                )
            )
            log.info("visa %s issued to %s (request %s)", visa.number, decision.person_id, grant.request_id)

    async def on_revoked(self, uow: UnitOfWork, revoked: AuthorizationRevoked) -> None:
        session = uow.session
        await serialize(session, f"authorization:{revoked.authorization_id}")
        revocation_id = uow.cause.id if uow.cause else revoked.authorization_id
        revocation = Revocation(
            event_id=revocation_id,
            authorization_id=revoked.authorization_id,
            person_ids=list(revoked.person_ids),
            visa_numbers=list(revoked.visa_numbers),
            reason=revoked.reason,
            received_at=_now(),
        )
        session.add(revocation)
        visas = (
            await session.scalars(
                select(Visa).where(Visa.authorization_id == revoked.authorization_id, Visa.cancelled_at.is_(None))
            )
        ).all()
        for visa in visas:
            if not _revokes(revocation, visa.person_id, visa.number):
                continue
            visa.cancelled_at = _now()
            visa.cancellation_reason = revoked.reason
            visa.revocation_id = revocation_id
            await uow.emit(
                VisaCancelled(
                    request_id=visa.request_id,
                    authorization_id=visa.authorization_id,
                    person_id=visa.person_id,
                    visa_number=visa.number or "",
                    reason=revoked.reason,
                    revocation_id=revocation_id,
                    cancelled_at=visa.cancelled_at,
                )
            )
            log.info("visa %s cancelled: %s", visa.number, revoked.reason)
