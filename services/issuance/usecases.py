"""The consulate's use cases: every way into issuance's domain goes through here.

Issuance reacts to MRE's authorization events, and to nothing else (``registry.ISSUANCE``): ``issue`` and
``cancel`` run inside the unit of work the bus opened for the event's inbox entry. Verifiers and auditors
read through the queries. Which visas a grant yields and which a revocation cancels is decided by the pure
functions of ``visas``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import Clock
from shared.contracts import (
    AuthorizationGranted,
    AuthorizationRevoked,
    EventData,
    VisaCancelled,
    VisaIssued,
    VisaSuperseded,
)
from shared.db import keyset_page, serialize
from shared.i18n import N_, Refusal
from shared.messaging import PoisonEvent, UnitOfWork

from .models import Revocation, Visa
from .visas import (
    MissingValidity,
    Standing,
    machine_readable_zone,
    standing,
    visa_number,
    visas_to_cancel,
    visas_to_issue,
)

log = logging.getLogger("visa.issuance")


class VisaNotFound(Refusal, LookupError):
    def __init__(self, number: str) -> None:
        super().__init__(N_("no visa numbered {number!r} was issued by this post"), number=number)


@dataclass(frozen=True)
class VisaStanding:
    visa: Visa
    standing: Standing


class Consulate:
    def __init__(
        self,
        *,
        reads: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        visa_prefix: str,
        clock: Clock,
        post: str | None = None,
    ) -> None:
        self.reads = reads
        self.visa_prefix = visa_prefix
        self.clock = clock
        # The consular post this issuance runs for: only its own authorizations are routed to it (README,
        # "Consular posts"); one naming another post that reaches it anyway is refused (``_ours``).
        self.post = post

    def _ours(self, event: AuthorizationGranted | AuthorizationRevoked) -> None:
        """Defence in depth behind the routing: an authorization naming another post is never acted on here. It is
        dead-lettered, for an operator to see how it came (an event without a post, from an older producer, is
        this post's: only an operator's replay can bring one here)."""
        if self.post is not None and event.post is not None and event.post != self.post:
            raise PoisonEvent(
                f"authorization {event.authorization_id} is for consular post {event.post}, not {self.post}"
            )

    def handlers(self) -> Mapping[type[EventData], Callable]:
        """The events this service consumes, each with its use case (``registry.ISSUANCE.handles``)."""
        return {AuthorizationGranted: self.issue, AuthorizationRevoked: self.cancel}

    # --- events ---------------------------------------------------------------------------------------

    async def issue(self, uow: UnitOfWork, grant: AuthorizationGranted) -> None:
        """Issue a visa to each person granted, unless a revocation known already covers them."""
        self._ours(grant)
        session = uow.session
        # A grant and its revocation may be handled at once: one of them must see the other's work.
        await serialize(session, f"authorization:{grant.authorization_id}")
        revocations = (
            await session.scalars(select(Revocation).where(Revocation.authorization_id == grant.authorization_id))
        ).all()
        renewed = await self._renewed(session, grant)
        ended = {number for number, visa in renewed.items() if visa.cancelled_at or visa.superseded_at}
        try:
            to_issue, withheld = visas_to_issue(grant.decisions, revocations, ended)
        except MissingValidity as error:
            raise PoisonEvent(str(error)) from error
        for person_id in withheld:
            log.info(
                "authorization %s: no visa for %s (revoked, or renews a visa that no longer stands)",
                grant.authorization_id,
                person_id,
            )
        for terms in to_issue:
            person = terms.person
            visa = Visa(
                request_id=grant.request_id,
                authorization_id=grant.authorization_id,
                person_id=terms.person_id,
                surnames=person.surnames,
                given_names=person.given_names,
                nationality=person.nationality,
                passport_number=person.passport.number,
                immigration_status=grant.immigration_status.value,
                valid_from=terms.valid_from,
                valid_until=terms.valid_until,
                mrz_line1="",
                mrz_line2="",
                issued_at=self.clock.now(),
            )
            session.add(visa)
            await session.flush()  # the sequence gives the number
            visa.number = visa_number(self.visa_prefix, visa.seq)
            try:
                visa.mrz_line1, visa.mrz_line2 = machine_readable_zone(
                    visa.number, person, grant.immigration_status, terms.valid_until
                )
            except ValueError as error:  # e.g. a name ICAO 9303 cannot transliterate: no retry will help
                raise PoisonEvent(f"no MRZ for {terms.person_id}: {error}") from error  # names no one: mrz.py
            await uow.emit(
                VisaIssued(
                    request_id=grant.request_id,
                    authorization_id=grant.authorization_id,
                    person_id=terms.person_id,
                    person=person,
                    visa_number=visa.number,
                    immigration_status=grant.immigration_status,
                    valid_from=visa.valid_from,
                    valid_until=visa.valid_until,
                    mrz=(visa.mrz_line1, visa.mrz_line2),
                    issued_at=visa.issued_at,
                )
            )
            log.info("visa %s issued to %s (request %s)", visa.number, terms.person_id, grant.request_id)
            if terms.renews is not None:
                await self._supersede(uow, renewed.get(terms.renews), by=visa, renewal=grant)

    @staticmethod
    async def _renewed(session: AsyncSession, grant: AuthorizationGranted) -> dict[str, Visa]:
        """The visas a renewal's grant renews, by number, locked (row locks): a revocation cancelling one of them
        waits for this issue, which supersedes it, or this issue waits for it and withholds the renewal."""
        numbers = sorted({decision.renews for decision in grant.decisions if decision.renews is not None})
        if not numbers:
            return {}
        found = await session.scalars(select(Visa).where(Visa.number.in_(numbers)).with_for_update())
        return {visa.number: visa for visa in found}

    async def _supersede(self, uow: UnitOfWork, old: Visa | None, *, by: Visa, renewal: AuthorizationGranted) -> None:
        """The renewal's visa ``by`` replaces ``old``, which no longer stands (``VisaSuperseded``)."""
        if old is None:
            log.warning("visa %s renews a visa this post did not issue: nothing superseded", by.number)
            return
        old.superseded_at, old.superseded_by = self.clock.now(), by.number
        await uow.emit(
            VisaSuperseded(
                request_id=old.request_id,
                authorization_id=old.authorization_id,
                person_id=old.person_id,
                visa_number=old.number or "",
                superseded_by=by.number or "",
                renewal_request_id=renewal.request_id,
                superseded_at=old.superseded_at,
            )
        )
        log.info("visa %s superseded by %s", old.number, by.number)

    async def cancel(self, uow: UnitOfWork, revoked: AuthorizationRevoked) -> None:
        """Execute a revocation: cancel the visas it covers, and remember it for a grant still on its way."""
        self._ours(revoked)
        session = uow.session
        await serialize(session, f"authorization:{revoked.authorization_id}")
        revocation_id = uow.cause.id if uow.cause else revoked.authorization_id
        session.add(
            Revocation(
                event_id=revocation_id,
                authorization_id=revoked.authorization_id,
                person_ids=list(revoked.person_ids),
                visa_numbers=list(revoked.visa_numbers),
                reason=revoked.reason,
                received_at=self.clock.now(),
            )
        )
        standing_visas = (
            await session.scalars(
                # Locked: a renewal superseding one of them meanwhile waits, or is waited for and then seen.
                select(Visa)
                .where(
                    Visa.authorization_id == revoked.authorization_id,
                    Visa.cancelled_at.is_(None),
                    Visa.superseded_at.is_(None),
                )
                .with_for_update()
            )
        ).all()
        for visa in visas_to_cancel(revoked, standing_visas):
            visa.cancelled_at = self.clock.now()
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

    # --- queries --------------------------------------------------------------------------------------

    async def verify(self, number: str, *, verifier_id: str) -> VisaStanding:
        """A verifier asks: is this visa genuine, and does it still stand today?"""
        async with self.reads() as session:
            visa = await session.scalar(select(Visa).where(Visa.number == number.strip().upper()))
        if visa is None:
            # Who asked, not whom: a number that was never issued names nobody.
            log.warning("visa lookup of a number never issued here (%.16r) by verifier %s", number, verifier_id)
            raise VisaNotFound(number)
        return VisaStanding(
            visa,
            standing(
                valid_from=visa.valid_from,
                valid_until=visa.valid_until,
                cancelled=visa.cancelled_at is not None,
                superseded=visa.superseded_at is not None,
                on=self.clock.today(),
            ),
        )

    async def visa(self, number: str) -> Visa:
        """The visa numbered ``number`` this post issued, whatever its standing (consular staff print it)."""
        async with self.reads() as session:
            visa = await session.scalar(select(Visa).where(Visa.number == number.strip().upper()))
        if visa is None:
            raise VisaNotFound(number)
        return visa

    async def visas_page(self, after: str | None, limit: int) -> tuple[list[Visa], str | None]:
        """Every visa issued here, in number order, one page after the cursor ``after``."""
        # A row gets its number in the transaction that inserts it, so committed rows all have one.
        async with self.reads() as session:
            return await keyset_page(session, select(Visa).where(Visa.number.is_not(None)), Visa.number, after, limit)

    async def search(self, text: str = "", *, limit: int = 200) -> list[VisaStanding]:
        """The visas issued here, newest first, each with its standing today; with ``text``, those whose number,
        passport number or name holds every word of it (consular staff look visas up so)."""
        query = select(Visa).where(Visa.number.is_not(None))
        for word in text.upper().split():
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(
                    *(
                        func.upper(column).like(pattern, escape="\\")
                        for column in (Visa.number, Visa.passport_number, Visa.surnames, Visa.given_names)
                    )
                )
            )
        async with self.reads() as session:
            found = list(await session.scalars(query.order_by(Visa.seq.desc()).limit(limit)))
        today = self.clock.today()
        return [
            VisaStanding(
                visa,
                standing(
                    valid_from=visa.valid_from,
                    valid_until=visa.valid_until,
                    cancelled=visa.cancelled_at is not None,
                    superseded=visa.superseded_at is not None,
                    on=today,
                ),
            )
            for visa in found
        ]
