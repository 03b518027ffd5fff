"""Intake's use cases: every way into intake's domain goes through here.

Sponsors' HTTP routes (and any console to come) call ``submit`` and the queries; the event consumer keeps
each request's status current through the ``on_…`` use cases, inside the unit of work the bus opened for the
event's inbox entry. How a status moves is decided by the pure functions of ``progress``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import Clock
from shared.contracts import (
    ApciRegistration,
    AuthorizationDenied,
    AuthorizationGranted,
    AuthorizationNotRequired,
    AuthorizationRevoked,
    Decision,
    EventData,
    FunctionsEnded,
    ImmigrationStatus,
    NoteVerbale,
    PassportType,
    Person,
    RenewedVisa,
    RequestSubmitted,
    ReviewStarted,
    Sponsor,
    VisaCancelled,
    VisaIssued,
    VisaSuperseded,
)
from shared.contracts.people import existing_country_code
from shared.contracts.reasons import note
from shared.db import keyset_page
from shared.i18n import N_, Refusal
from shared.messaging import Additions, UnitOfWork
from shared.observability.logs import bind_request
from shared.posts import Posts, PostsFile

from . import rows
from .models import Applicant, SponsorRecord, VisaRequest
from .progress import Status, advance, request_status
from .renewals import ended_by_notice, renewable
from .rows import Progress, RequestProgress, Submission
from .schema import DependantsIn, EndOfFunctionsIn, NoteVerbaleIn, PersonIn, RenewalIn, VisaRequestIn

log = logging.getLogger("visa.intake")


class TreatyList(Protocol):
    version: str

    def waiver_for(self, nationality: str, passport_type: PassportType, on: dt.date) -> object | None: ...


class Treaties(Protocol):
    """The treaty list as intake reads it (``shared.treaties.TreatyCache`` fits)."""

    async def current(self) -> TreatyList: ...


class IdempotencyConflict(Refusal, ValueError):
    def __init__(self) -> None:
        super().__init__(N_("Idempotency-Key was already used for a different request"))


class RequestNotFound(Refusal, LookupError):
    def __init__(self, request_id: str) -> None:
        super().__init__(N_("no request {request_id}"), request_id=request_id)


class NotInRequest(Refusal, ValueError):
    def __init__(self, person_ids: Iterable[str]) -> None:
        super().__init__(N_("no such person in this request: {person_ids}"), person_ids=", ".join(sorted(person_ids)))


class NotJoinable(Refusal, ValueError):
    """Dependants cannot join this request's authorization; the message says why."""


class NothingToEnd(Refusal, ValueError):
    def __init__(self) -> None:
        super().__init__(N_("nobody named holds an authorization or a visa: there are no functions to end"))


@dataclass(frozen=True)
class WaiverAnswer:
    nationality: str
    passport_type: PassportType
    on: dt.date
    treaty: object | None  # the treaty entry that waives the visa, if any
    list_version: str


def _sponsor(record: SponsorRecord) -> Sponsor:
    return Sponsor(id=record.id, kind=record.kind, name=record.name, country=record.country)


def _person(person_id: str, role: str, data: PersonIn) -> Person:
    return Person(person_id=person_id, role=role, **data.model_dump())


def _record(
    submitted: RequestSubmitted,
    sponsor: SponsorRecord,
    body: VisaRequestIn | dict,
    key: str | None,
    fingerprint: str,
    *,
    renews: Mapping[str, str] | None = None,
) -> Submission:
    renews = renews or {}
    return Submission(
        request={
            "id": submitted.request_id,
            "sponsor_id": sponsor.id,
            "idempotency_key": key,
            "fingerprint": fingerprint,
            "immigration_status": submitted.immigration_status.value,
            "status": Status.SUBMITTED,
            "submitted": body if isinstance(body, dict) else body.model_dump(mode="json"),
            "submitted_at": submitted.submitted_at,
            "updated_at": submitted.submitted_at,
        },
        applicants=[
            {
                "person_id": person.person_id,
                "request_id": submitted.request_id,
                "position": position,
                "role": person.role,
                "relationship": person.relationship,
                "surnames": person.surnames,
                "given_names": person.given_names,
                "status": Status.SUBMITTED,
                "decision": None,
                "reasons": [],
                "visa_number": None,
                "visa_valid_from": None,
                "visa_valid_until": None,
                "visa_mrz": None,
                "waiver": None,
                "renews_visa": renews.get(person.person_id),
            }
            for position, person in enumerate(submitted.people)
            # Dependants joining an authorization: the principal is the earlier request's applicant, not this one's.
            if submitted.joins is None or person.role != "PRINCIPAL"
        ],
    )


def _move(applicant: Progress, reported: Status) -> None:
    applicant.status = advance(Status(applicant.status), reported)


class Intake:
    def __init__(
        self,
        *,
        units: Callable[[], AbstractAsyncContextManager[UnitOfWork]],
        adding: Callable[[], AbstractAsyncContextManager[Additions]],
        reads: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        treaties: Treaties,
        clock: Clock,
        posts: Callable[[], Posts] | None = None,
    ) -> None:
        self.units = units
        # A request accepted only adds rows: written at once (on PostgreSQL one statement, shared/db.py).
        self.adding = adding
        self.reads = reads
        self.treaties = treaties
        self.clock = clock
        # The consular posts a sponsor may choose (shared/posts.py: read again when the file changes).
        self.posts = posts or PostsFile().current

    def handlers(self) -> Mapping[type[EventData], Callable]:
        """The events this service consumes, each with its use case (``registry.INTAKE.handles``)."""
        return {
            ReviewStarted: self.on_review_started,
            AuthorizationGranted: self.on_decided,
            AuthorizationDenied: self.on_decided,
            AuthorizationNotRequired: self.on_not_required,
            AuthorizationRevoked: self.on_revoked,
            VisaIssued: self.on_issued,
            VisaCancelled: self.on_cancelled,
            VisaSuperseded: self.on_superseded,
        }

    # --- sponsors' commands and queries ---------------------------------------------------------------

    async def submit(self, sponsor: SponsorRecord, body: VisaRequestIn, idempotency_key: str | None) -> str:
        """Accept a formal request; MRE's Directorate of Privileges receives it as ``RequestSubmitted``.

        Returns the request id; a retry under the same Idempotency-Key returns the first one's.
        """
        # Without a departure (or a post), the body is fingerprinted as before the field existed: a retry across an
        # upgrade under the same Idempotency-Key is still the same request.
        unsaid = {name for name in ("intended_departure", "post") if getattr(body, name) is None} or None
        if body.post is not None:
            self.posts().get(body.post)  # UnknownPost: refused before anything is stored
        fingerprint = hashlib.sha256(body.model_dump_json(exclude=unsaid).encode()).hexdigest()
        if idempotency_key and (earlier := await self._replay(sponsor.id, idempotency_key, fingerprint)):
            return earlier
        submitted = self._submission(str(uuid.uuid4()), sponsor, body)
        return await self._accept(submitted, _record(submitted, sponsor, body, idempotency_key, fingerprint))

    async def renew(self, sponsor: SponsorRecord, request_id: str, body: RenewalIn, idempotency_key: str | None) -> str:
        """Ask MRE to renew visas issued under a request: a new request, decided like any other, naming the visa
        each person renews (``RequestSubmitted.renews``). Refuses (``NotRenewable``) a visa that no longer stands,
        one already being renewed, or a family member's without the principal's (``renewals.renewable``).

        Returns the renewal request's id; a retry under the same Idempotency-Key returns the first one's.
        """
        fingerprint = hashlib.sha256(f"renewal:{request_id}:{body.model_dump_json()}".encode()).hexdigest()
        if idempotency_key and (earlier := await self._replay(sponsor.id, idempotency_key, fingerprint)):
            return earlier
        original = await self.request_of(sponsor, request_id)
        if body.person_ids is not None and (
            unknown := set(body.person_ids) - {a.person_id for a in original.applicants}
        ):
            raise NotInRequest(unknown)
        async with self.reads() as session:
            renewing = set(
                await session.scalars(
                    select(Applicant.renews_visa)
                    .join(VisaRequest, VisaRequest.id == Applicant.request_id)
                    .where(
                        Applicant.renews_visa.in_([a.visa_number for a in original.applicants if a.visa_number]),
                        Applicant.status.not_in([Status.DENIED, Status.CANCELLED]),
                    )
                )
            )
        chosen = renewable(
            ImmigrationStatus(original.immigration_status),
            original.applicants,
            body.person_ids,
            renewing=renewing,
            today=self.clock.today(),
        )
        submitted, as_accepted = self._renewal(sponsor, original, body, chosen)
        renews = {renewal.person_id: renewal.visa_number for renewal in submitted.renews}
        return await self._accept(
            submitted, _record(submitted, sponsor, as_accepted, idempotency_key, fingerprint, renews=renews)
        )

    async def add_dependants(
        self, sponsor: SponsorRecord, request_id: str, body: DependantsIn, idempotency_key: str | None
    ) -> str:
        """Family members who arrive later join the principal's authorization (docs/domain/family.md, "Arriving
        later"): a new request naming the one it joins (``RequestSubmitted.joins``), with the principal as first
        submitted, which MRE decides for the new members only. Refuses (``NotJoinable``) a short stay, a request
        that itself joined another, and a principal who holds no authorization or visa.

        Returns the new request's id; a retry under the same Idempotency-Key returns the first one's.
        """
        fingerprint = hashlib.sha256(f"dependants:{request_id}:{body.model_dump_json()}".encode()).hexdigest()
        if idempotency_key and (earlier := await self._replay(sponsor.id, idempotency_key, fingerprint)):
            return earlier
        original = await self.request_of(sponsor, request_id)
        first = original.submitted
        if original.immigration_status == ImmigrationStatus.SHORT_STAY:
            raise NotJoinable(N_("a short stay's family is submitted with it: submit a new request"))
        if first.get("joins") is not None:
            raise NotJoinable(
                N_("request {request_id} itself joined request {joined}: add dependants to that one"),
                request_id=original.id,
                joined=first["joins"],
            )
        principal = next(a for a in original.applicants if a.role == "PRINCIPAL")
        if principal.status not in (Status.AUTHORIZED, Status.ISSUED):
            raise NotJoinable(
                N_("the principal holds no authorization in force under request {request_id}: its status is {status}"),
                request_id=original.id,
                status=principal.status,
            )
        submitted = self._follow_up(
            sponsor,
            original,
            body.note_verbale,
            function=first["function"],
            intended_arrival=body.intended_arrival,
            posting_end=first.get("posting_end"),
            principal=Person(person_id=principal.person_id, role="PRINCIPAL", **first["principal"]),
            family=tuple(_person(str(uuid.uuid4()), "FAMILY", member) for member in body.family),
            joins=original.id,
        )
        as_accepted = {
            **first,
            **body.model_dump(mode="json"),
            "joins": original.id,
        }
        return await self._accept(submitted, _record(submitted, sponsor, as_accepted, idempotency_key, fingerprint))

    async def end_functions(self, sponsor: SponsorRecord, request_id: str, body: EndOfFunctionsIn) -> tuple[str, ...]:
        """The sponsor notifies the end of functions (``FunctionsEnded``): the Directorate revokes the authorization
        of the people named (everyone when none is), the consulate cancels their visas. A second notice about the
        same people has no further effect there. Refuses (``NothingToEnd``) when nobody concerned holds an
        authorization or a visa."""
        visa_request = await self.request_of(sponsor, request_id)
        named = tuple(dict.fromkeys(body.person_ids))
        if unknown := set(named) - {a.person_id for a in visa_request.applicants}:
            raise NotInRequest(unknown)
        if not ended_by_notice(visa_request.applicants, named):
            raise NothingToEnd()
        bind_request(request_id)
        async with self.units() as uow:
            await uow.emit(
                FunctionsEnded(
                    request_id=request_id,
                    person_ids=named,
                    note_verbale=NoteVerbale(**body.note_verbale.model_dump()),
                    reason=body.reason,
                    notified_at=self.clock.now(),
                )
            )
        log.info("end of functions notified for request %s (%s)", request_id, len(named) or "everyone")
        return named

    async def request_of(self, sponsor: SponsorRecord, request_id: str) -> VisaRequest:
        async with self.reads() as session:
            visa_request = await session.get(VisaRequest, request_id)
        # Another sponsor's request does not exist, as far as this sponsor can tell.
        if visa_request is None or visa_request.sponsor_id != sponsor.id:
            raise RequestNotFound(request_id)
        return visa_request

    async def requests_of(self, sponsor: SponsorRecord, limit: int) -> list[VisaRequest]:
        """The sponsor's requests, newest first."""
        async with self.reads() as session:
            return list(
                await session.scalars(
                    select(VisaRequest)
                    .where(VisaRequest.sponsor_id == sponsor.id)
                    .order_by(VisaRequest.submitted_at.desc())
                    .limit(limit)
                )
            )

    async def waiver(self, nationality: str, passport_type: PassportType, on: dt.date | None) -> WaiverAnswer:
        """Does a short stay with this passport need a visa? Raises ``ValueError`` for a country that does not
        exist."""
        code = existing_country_code(nationality)
        on = on or self.clock.today()
        treaties = await self.treaties.current()
        return WaiverAnswer(code, passport_type, on, treaties.waiver_for(code, passport_type, on), treaties.version)

    async def requests_page(self, after: str | None, limit: int) -> tuple[list[VisaRequest], str | None]:
        """Every request, in id order, one page after the cursor ``after`` (the auditors' view)."""
        async with self.reads() as session:
            return await keyset_page(session, select(VisaRequest), VisaRequest.id, after, limit)

    def _submission(self, request_id: str, sponsor: SponsorRecord, body: VisaRequestIn) -> RequestSubmitted:
        return RequestSubmitted(
            request_id=request_id,
            sponsor=_sponsor(sponsor),
            immigration_status=body.immigration_status,
            staff_category=body.staff_category,
            apci_registration=body.apci_registration and ApciRegistration(**body.apci_registration.model_dump()),
            note_verbale=NoteVerbale(**body.note_verbale.model_dump()),
            function=body.function,
            intended_arrival=body.intended_arrival,
            posting_end=body.posting_end,
            intended_departure=body.intended_departure,
            principal=_person(str(uuid.uuid4()), "PRINCIPAL", body.principal),
            family=tuple(_person(str(uuid.uuid4()), "FAMILY", member) for member in body.family),
            submitted_at=self.clock.now(),
            post=body.post,
        )

    def _follow_up(
        self, sponsor: SponsorRecord, original: VisaRequest, note_verbale: NoteVerbaleIn, **fields: Any
    ) -> RequestSubmitted:
        """A request that follows ``original`` (a renewal, dependants joining it): the same sponsor and status, the
        staff category and APCI evidence as first submitted (absent from a request older than them), a note verbale
        of its own, and ``fields``."""
        first = original.submitted
        return RequestSubmitted(
            request_id=str(uuid.uuid4()),
            sponsor=_sponsor(sponsor),
            immigration_status=original.immigration_status,
            staff_category=first.get("staff_category"),
            apci_registration=first.get("apci_registration"),
            note_verbale=NoteVerbale(**note_verbale.model_dump()),
            submitted_at=self.clock.now(),
            **fields,
        )

    def _renewal(
        self, sponsor: SponsorRecord, original: VisaRequest, body: RenewalIn, chosen: list[Applicant]
    ) -> tuple[RequestSubmitted, dict]:
        """The renewal as the Directorate receives it, and as intake keeps it: the people as first submitted (new
        ids: a person id names one applicant of one request), the new note verbale and posting end, each renewed
        visa named. Kept in the shape of a request, so that a renewal can be renewed in turn."""
        first = original.submitted
        data = {0: first["principal"]} | dict(enumerate(first.get("family", ()), start=1))
        renewed = [(str(uuid.uuid4()), applicant) for applicant in chosen]
        people = [
            Person(person_id=new_id, role=applicant.role, **data[applicant.position]) for new_id, applicant in renewed
        ]
        submitted = self._follow_up(
            sponsor,
            original,
            body.note_verbale,
            function=body.function or first["function"],
            intended_arrival=self.clock.today(),
            posting_end=body.posting_end,
            principal=people[0],
            family=tuple(people[1:]),
            renews=tuple(
                RenewedVisa(person_id=new_id, visa_number=applicant.visa_number, request_id=original.id)
                for new_id, applicant in renewed
            ),
        )
        as_accepted = {
            **first,
            **submitted.model_dump(
                mode="json", include={"note_verbale", "function", "intended_arrival", "posting_end"}
            ),
            "principal": data[chosen[0].position],
            "family": [data[applicant.position] for applicant in chosen[1:]],
            "renews": {"request_id": original.id, "visas": [applicant.visa_number for applicant in chosen]},
        }
        return submitted, as_accepted

    async def _accept(self, submitted: RequestSubmitted, record: Submission) -> str:
        """Store a request and stage its ``RequestSubmitted`` in one unit of work; its id, or, when its
        Idempotency-Key raced in from a concurrent retry that won, the id that retry was answered."""
        bind_request(submitted.request_id)
        try:
            async with self.adding() as additions:
                rows.accept(additions, record)
                await additions.emit(submitted)
        except IntegrityError:
            key, sponsor_id = record.request["idempotency_key"], record.request["sponsor_id"]
            if key and (earlier := await self._replay(sponsor_id, key, record.request["fingerprint"])):
                return earlier
            raise
        return submitted.request_id

    async def _replay(self, sponsor_id: str, key: str, fingerprint: str) -> str | None:
        """The id of the request the sponsor already submitted under this Idempotency-Key, if any."""
        async with self.reads() as session:
            earlier = await session.scalar(
                select(VisaRequest).where(VisaRequest.sponsor_id == sponsor_id, VisaRequest.idempotency_key == key)
            )
        if earlier is None:
            return None
        if earlier.fingerprint != fingerprint:
            raise IdempotencyConflict()
        return earlier.id

    # --- events: each request's status, kept current -------------------------------------------------

    async def on_review_started(self, uow: UnitOfWork, event: ReviewStarted) -> None:
        request = await self._request(uow, event.request_id)
        if request is None:
            return
        for applicant in request.applicants:
            _move(applicant, Status.UNDER_REVIEW)
        await self._refresh(uow, request)

    async def on_decided(self, uow: UnitOfWork, event: AuthorizationGranted | AuthorizationDenied) -> None:
        request = await self._request(uow, event.request_id)
        if request is None:
            return
        decisions = {decision.person_id: decision for decision in event.decisions}
        for applicant in request.applicants:
            decision = decisions.get(applicant.person_id)
            if decision is None:
                continue
            granted = decision.decision is Decision.GRANTED
            _move(applicant, Status.AUTHORIZED if granted else Status.DENIED)
            if applicant.decision is None:
                applicant.decision = decision.decision.value
                # Codes and parameters (contracts/reasons.py), worded when read; an event from before findings
                # existed keeps its reasons as they came.
                found = [finding.model_dump() for finding in decision.findings] or list(decision.reasons)
                applicant.reasons = [*found, *applicant.reasons]
        await self._refresh(uow, request)

    async def on_not_required(self, uow: UnitOfWork, event: AuthorizationNotRequired) -> None:
        """A waiver treaty covers these people's short stay: no visa, and no refusal either."""
        request = await self._request(uow, event.request_id)
        if request is None:
            return
        covered = {person.person_id: person.waiver for person in event.people}
        for applicant in request.applicants:
            if applicant.person_id in covered:
                _move(applicant, Status.NOT_REQUIRED)
                if applicant.waiver is None:
                    applicant.waiver = covered[applicant.person_id].model_dump(mode="json")
        await self._refresh(uow, request)

    async def on_revoked(self, uow: UnitOfWork, event: AuthorizationRevoked) -> None:
        # People not yet issued lose their authorization now, even if the grant has not reached us yet;
        # issued visas stay ISSUED until the consulate reports them cancelled (VisaCancelled).
        request = await self._request(uow, event.request_id)
        if request is None:
            return
        for applicant in request.applicants:
            if event.concerns(applicant.person_id, applicant.visa_number) and applicant.status not in (
                Status.DENIED,
                Status.NOT_REQUIRED,
                Status.ISSUED,
                Status.CANCELLED,
            ):
                _move(applicant, Status.CANCELLED)
                applicant.reasons = [*applicant.reasons, note("authorization-revoked", reason=event.reason)]
        await self._refresh(uow, request)

    async def on_issued(self, uow: UnitOfWork, event: VisaIssued) -> None:
        request = await self._request(uow, event.request_id)
        if request is None:
            return
        for applicant in request.applicants:
            if applicant.person_id == event.person_id:
                _move(applicant, Status.ISSUED)
                applicant.visa_number = event.visa_number
                applicant.visa_valid_from = event.valid_from
                applicant.visa_valid_until = event.valid_until
                applicant.visa_mrz = list(event.mrz)
        await self._refresh(uow, request)

    async def on_superseded(self, uow: UnitOfWork, event: VisaSuperseded) -> None:
        """A renewal's visa was issued: the visa it renews (under the earlier request) no longer stands."""
        await self._visa_ended(uow, event, Status.SUPERSEDED, note("visa-superseded", number=event.superseded_by))

    async def on_cancelled(self, uow: UnitOfWork, event: VisaCancelled) -> None:
        await self._visa_ended(uow, event, Status.CANCELLED, note("visa-cancelled", reason=event.reason))

    async def _visa_ended(
        self, uow: UnitOfWork, event: VisaSuperseded | VisaCancelled, status: Status, reason: dict
    ) -> None:
        request = await self._request(uow, event.request_id)
        if request is None:
            return
        for applicant in request.applicants:
            if applicant.person_id == event.person_id:
                _move(applicant, status)
                applicant.reasons = [*applicant.reasons, reason]
        await self._refresh(uow, request)

    @staticmethod
    async def _request(uow: UnitOfWork, request_id: str) -> RequestProgress | None:
        # The row lock serializes every event about one request: each sees what the previous one wrote.
        request = await rows.locked(await uow.session.connection(), request_id)
        if request is None:
            # Not ours (another intake's), or a foreign producer: nothing to keep current.
            log.warning("event about unknown request %s ignored", request_id)
        return request

    async def _refresh(self, uow: UnitOfWork, request: RequestProgress) -> None:
        status = request_status(Status(applicant.status) for applicant in request.applicants)
        if status != request.status:
            log.info("request %s is %s", request.id, status)
        request.status = status
        await rows.save(await uow.session.connection(), request, at=self.clock.now())
