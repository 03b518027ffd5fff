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

from sqlalchemy import Row, bindparam, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.clock import Clock
from shared.contracts import (
    AuthorizationGranted,
    AuthorizationRevoked,
    Decision,
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

# The event handlers' statements (``issue``), built once: rows in, rows out, on the unit of work's connection.
_visas = Visa.__table__
_revocations = Revocation.__table__

_REVOCATIONS = select(_revocations.c.person_ids, _revocations.c.visa_numbers).where(
    _revocations.c.authorization_id == bindparam("authorization_id")
)
_RENEWED = (
    select(
        _visas.c.seq,
        _visas.c.number,
        _visas.c.request_id,
        _visas.c.authorization_id,
        _visas.c.person_id,
        _visas.c.cancelled_at,
        _visas.c.superseded_at,
    )
    .where(_visas.c.number.in_(bindparam("numbers", expanding=True)))
    .with_for_update()
)
_ISSUE = insert(_visas)
_SUPERSEDE = update(_visas).where(_visas.c.seq == bindparam("old_seq"))

# A visa's number derives from its sequence number, and its MRZ from its number: drawn before the ``INSERT``, the
# sequence numbers let each visa be written once, whole. PostgreSQL draws them from the column's own sequence (the
# numbers an ``INSERT`` would have taken; never handed out twice, even across a rollback). SQLite gives a new row
# the largest rowid plus one: read in a transaction that holds the write lock from its ``BEGIN IMMEDIATE``
# (shared/db.py), nobody else's insert can take them meanwhile; and should one ever, the primary key refuses the
# second row rather than number two visas alike.
_NEXT_SEQS = text("SELECT nextval(pg_get_serial_sequence('visas', 'seq')) FROM generate_series(1, :count)")
# A grant on PostgreSQL takes its authorization's advisory lock (``serialize``) and draws its people's sequence
# numbers in one statement, one round trip fewer (docs/performance.md): a number drawn is this transaction's alone
# whether the lock is held yet or not. One is drawn for each person granted, before the revocations are read (under
# the lock, in the next statement): a person a revocation then withholds leaves a number unused, as a rollback does.
_LOCK_AND_NEXT_SEQS = text(
    "SELECT nextval(pg_get_serial_sequence('visas', 'seq')) "
    "FROM (SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))) AS locked, generate_series(1, :count)"
)
_LAST_SEQ = select(func.coalesce(func.max(_visas.c.seq), 0))


async def _next_seqs(connection: AsyncConnection, count: int) -> list[int]:
    """The sequence numbers of the next ``count`` visas, in ascending order."""
    if connection.dialect.name == "postgresql":
        return sorted((await connection.execute(_NEXT_SEQS, {"count": count})).scalars())
    last = (await connection.execute(_LAST_SEQ)).scalar_one()
    return list(range(last + 1, last + 1 + count))


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
        """Issue a visa to each person granted, unless a revocation known already covers them.

        Core statements on the unit of work's connection rather than the ORM: on this path, once per event, the
        ORM's own work (the session's identity map, loading objects, the flush) was most of what SQLAlchemy cost
        (docs/performance.md). Each visa is written once, whole: its sequence number is drawn first
        (``_next_seqs``; on PostgreSQL with the lock, ``_LOCK_AND_NEXT_SEQS``), so its number and MRZ are in its
        ``INSERT``.
        """
        self._ours(grant)
        session = uow.session
        connection = await session.connection()
        # A grant and its revocation may be handled at once: one of them must see the other's work.
        key = f"authorization:{grant.authorization_id}"
        granted = sum(1 for decision in grant.decisions if decision.decision is Decision.GRANTED)
        drawn: list[int] | None = None
        if connection.dialect.name == "postgresql" and granted:
            drawn = sorted((await connection.execute(_LOCK_AND_NEXT_SEQS, {"key": key, "count": granted})).scalars())
        else:
            await serialize(session, key)
        revocations = (await connection.execute(_REVOCATIONS, {"authorization_id": grant.authorization_id})).all()
        renewed = await self._renewed(connection, grant)
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
        if not to_issue:
            return
        rows = []
        seqs = drawn[: len(to_issue)] if drawn is not None else await _next_seqs(connection, len(to_issue))
        for terms, seq in zip(to_issue, seqs, strict=True):
            person = terms.person
            number = visa_number(self.visa_prefix, seq)
            try:
                mrz_line1, mrz_line2 = machine_readable_zone(
                    number, person, grant.immigration_status, terms.valid_until
                )
            except ValueError as error:  # e.g. a name ICAO 9303 cannot transliterate: no retry will help
                raise PoisonEvent(f"no MRZ for {terms.person_id}: {error}") from error  # names no one: mrz.py
            rows.append(
                {
                    "seq": seq,
                    "number": number,
                    "request_id": grant.request_id,
                    "authorization_id": grant.authorization_id,
                    "person_id": terms.person_id,
                    "surnames": person.surnames,
                    "given_names": person.given_names,
                    "nationality": person.nationality,
                    "passport_number": person.passport.number,
                    "immigration_status": grant.immigration_status.value,
                    "valid_from": terms.valid_from,
                    "valid_until": terms.valid_until,
                    "mrz_line1": mrz_line1,
                    "mrz_line2": mrz_line2,
                    "issued_at": self.clock.now(),
                }
            )
        await connection.execute(_ISSUE, rows)
        for terms, row in zip(to_issue, rows, strict=True):
            await uow.emit(
                VisaIssued(
                    request_id=grant.request_id,
                    authorization_id=grant.authorization_id,
                    person_id=terms.person_id,
                    person=terms.person,
                    visa_number=row["number"],
                    immigration_status=grant.immigration_status,
                    valid_from=row["valid_from"],
                    valid_until=row["valid_until"],
                    mrz=(row["mrz_line1"], row["mrz_line2"]),
                    issued_at=row["issued_at"],
                )
            )
            log.info("visa %s issued to %s (request %s)", row["number"], terms.person_id, grant.request_id)
            if terms.renews is not None:
                await self._supersede(uow, connection, renewed.get(terms.renews), by=row["number"], renewal=grant)

    @staticmethod
    async def _renewed(connection: AsyncConnection, grant: AuthorizationGranted) -> dict[str, Row]:
        """The visas a renewal's grant renews, by number, locked (row locks): a revocation cancelling one of them
        waits for this issue, which supersedes it, or this issue waits for it and withholds the renewal."""
        numbers = sorted({decision.renews for decision in grant.decisions if decision.renews is not None})
        if not numbers:
            return {}
        found = await connection.execute(_RENEWED, {"numbers": numbers})
        return {visa.number: visa for visa in found}

    async def _supersede(
        self, uow: UnitOfWork, connection: AsyncConnection, old: Row | None, *, by: str, renewal: AuthorizationGranted
    ) -> None:
        """The renewal's visa numbered ``by`` replaces ``old``, which no longer stands (``VisaSuperseded``)."""
        if old is None:
            log.warning("visa %s renews a visa this post did not issue: nothing superseded", by)
            return
        superseded_at = self.clock.now()
        await connection.execute(_SUPERSEDE, {"old_seq": old.seq, "superseded_at": superseded_at, "superseded_by": by})
        await uow.emit(
            VisaSuperseded(
                request_id=old.request_id,
                authorization_id=old.authorization_id,
                person_id=old.person_id,
                visa_number=old.number or "",
                superseded_by=by,
                renewal_request_id=renewal.request_id,
                superseded_at=superseded_at,
            )
        )
        log.info("visa %s superseded by %s", old.number, by)

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
