"""The Directorate's use cases: every way into authorization's domain goes through here.

The officers' HTTP API (and any console or command to come) calls the commands and queries; the event
consumer calls ``receive`` and ``record_visa`` inside the unit of work the bus opened for the event's inbox
entry. The decisions themselves are pure: ``rules.assess`` judges a request, ``cases.decide`` turns the
judgement and the officer's denials into per-person decisions, ``cases.conclusion`` sets apart the people a
waiver treaty covers (NOT_REQUIRED: neither granted nor denied), ``cases.transition`` guards the case's life,
and ``cases.holder_after_take|release|decision`` say which officer may act on it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import Clock
from shared.contracts import (
    AuthorizationNotRequired,
    AuthorizationRevoked,
    Decision,
    EventData,
    FunctionsEnded,
    ImmigrationStatus,
    RequestSubmitted,
    ReviewStarted,
    VisaIssued,
)
from shared.i18n import N_, Refusal
from shared.messaging import PoisonEvent, UnitOfWork
from shared.observability.logs import bind_request
from shared.privacy import failure_kind

from .cases import (
    CaseState,
    InvalidTransition,
    NothingToRevoke,
    Revocation,
    conclusion,
    decide,
    holder_after_decision,
    holder_after_release,
    holder_after_take,
    revocation,
    transition,
)
from .models import Case
from .rulebook import Rulebook, packaged
from .rules import Assessment, WaiverLookup, assess
from .settings import Policy

log = logging.getLogger("visa.authorization")

POLICY = "policy"
# Who revokes on a sponsor's notice of the end of functions (``revoked_by``), as ``policy`` decides automatically.
SPONSOR = "sponsor"


class Waivers(Protocol):
    """The treaty list as the Directorate reads it (``shared.treaties.TreatyCache`` fits)."""

    async def current(self) -> WaiverLookup: ...


class CaseNotFound(Refusal, LookupError):
    def __init__(self, request_id: str) -> None:
        super().__init__(N_("no case for request {request_id}"), request_id=request_id)


class UnknownPeople(Refusal, ValueError):
    def __init__(self, person_ids: set[str]) -> None:
        super().__init__(N_("deny: unknown person ids {person_ids}"), person_ids=sorted(person_ids))


@contextmanager
def _about_content(request: RequestSubmitted) -> Iterator[None]:
    """Around pure domain code only: its ``ValueError`` or ``ArithmeticError`` is about the event's data.

    No retry can change the data, so the event is poison at once (dead-lettered on its first delivery,
    for an operator to inspect and replay once the code is fixed) instead of being retried to its
    delivery limit. Database and broker failures happen outside this block and keep being retried.
    Implausible data does not get here: the rule ``implausible-request`` denies it (docs/plausibility.md).
    """
    try:
        yield
    except (ValueError, ArithmeticError) as error:
        raise PoisonEvent(f"request {request.request_id} cannot be assessed: {failure_kind(error)}") from error


class Directorate:
    def __init__(
        self,
        *,
        units: Callable[[], AbstractAsyncContextManager[UnitOfWork]],
        reads: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        policy: Policy,
        treaties: Waivers,
        clock: Clock,
        rulebook: Rulebook | None = None,
    ) -> None:
        self.units = units
        self.reads = reads
        self.policy = policy
        self.treaties = treaties
        self.clock = clock
        # Who counts as family, which staff may ask for which status (docs/domain/family.md, docs/domain/staff.md).
        self.rulebook = rulebook or packaged()

    def handlers(self) -> Mapping[type[EventData], Callable]:
        """The events this service consumes, each with its use case (``registry.AUTHORIZATION.handles``)."""
        return {RequestSubmitted: self.receive, FunctionsEnded: self.end_functions, VisaIssued: self.record_visa}

    # --- events ---------------------------------------------------------------------------------------

    async def receive(self, uow: UnitOfWork, request: RequestSubmitted) -> None:
        """A request arrives: the rules judge it, then the policy decides or it waits for an officer."""
        if await uow.session.get(Case, request.request_id) is not None:
            log.warning("request %s submitted twice under different event ids; kept the first", request.request_id)
            return
        assessment = await self._assess(request)
        case = Case(
            request_id=request.request_id,
            authorization_id=str(uuid.uuid4()),
            state=CaseState.PENDING,
            submission=request.model_dump(mode="json"),
            sponsor_id=request.sponsor.id,
            immigration_status=request.immigration_status,
            violations={p.person_id: [str(v) for v in p.violations] for p in assessment.people},
            opened_at=self.clock.now(),
            visas={},
        )
        uow.session.add(case)
        # A request nobody is eligible for is denied at once, with the rules it breaks; one whose eligible people
        # a waiver treaty all covers is answered at once too: there is no visa for an officer to grant.
        if not assessment.anyone_needs_a_visa or self.policy is Policy.AUTO:
            await self._conclude(uow, case, request, assessment, decided_by=POLICY)
        else:
            await uow.emit(ReviewStarted(request_id=request.request_id, case_id=case.authorization_id))
            log.info("request %s awaits an officer", request.request_id)

    async def record_visa(self, uow: UnitOfWork, issued: VisaIssued) -> None:
        """The Directorate knows which visas stand on its authorizations: a revocation names them."""
        case = await uow.session.get(Case, issued.request_id, with_for_update=True)
        if case is None or case.authorization_id != issued.authorization_id:
            log.warning("visa %s names an authorization this Directorate did not give", issued.visa_number)
            return
        case.visas = {**case.visas, issued.person_id: issued.visa_number}

    async def end_functions(self, uow: UnitOfWork, notice: FunctionsEnded) -> None:
        """The sponsor notifies the end of functions: the people concerned lose their authorization (the principal
        takes the family with them), and the consulate cancels their visas. A second notice, or one about a case
        not granted, has no effect."""
        case = await uow.session.get(Case, notice.request_id, with_for_update=True)
        if case is None:
            log.warning("end of functions for request %s, which has no case here: ignored", notice.request_id)
            return
        try:
            revoking = self._revocation(case, notice.person_ids)
        except (InvalidTransition, NothingToRevoke) as nothing:
            log.info("end of functions for request %s has no further effect: %s", notice.request_id, nothing)
            return
        note = notice.note_verbale
        reason = f"end of functions: {notice.reason} (note verbale {note.number} of {note.date})"
        await self._revoke(uow, case, revoking, reason=reason, revoked_by=SPONSOR)

    # --- officers' commands ---------------------------------------------------------------------------

    async def take(self, request_id: str, *, officer_id: str) -> Case:
        """The officer takes a pending case: nobody else may decide or release it until they do.

        Taking one's own case again changes nothing (``assigned_at`` stays the first time's); another's is
        refused (``AssignedToAnother``), a decided one too (``NotPending``).
        """
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            holder = holder_after_take(CaseState(case.state), case.assigned_to, officer_id)
            if case.assigned_to != holder:
                case.assigned_to, case.assigned_at = holder, self.clock.now()
                log.info("request %s taken by %s", request_id, officer_id)
        return case

    async def release(self, request_id: str, *, officer_id: str) -> Case:
        """The officer who holds a pending case gives it back: any officer may take or decide it again.

        Releasing a case nobody holds changes nothing; another's is refused, a decided one too.
        """
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            holder_after_release(CaseState(case.state), case.assigned_to, officer_id)
            if case.assigned_to is not None:
                case.assigned_to, case.assigned_at = None, None
                log.info("request %s released by %s", request_id, officer_id)
        return case

    async def grant(self, request_id: str, *, officer_id: str, denials: Mapping[str, str]) -> Case:
        """Grant everyone the rules allow, except the people the officer denies by name (id -> reason).

        As for ``deny``, the case must be pending and the officer's or nobody's; it is theirs from then on.
        """
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            self._claim(case, officer_id=officer_id, target=CaseState.GRANTED)
            request = RequestSubmitted.model_validate(case.submission)
            unknown = set(denials) - {person.person_id for person in request.people}
            if unknown:
                raise UnknownPeople(unknown)
            await self._decide(uow, case, request, officer_id=officer_id, denials=denials)
        return case

    async def deny(self, request_id: str, *, officer_id: str, reason: str) -> Case:
        """Deny everyone in the request, with the officer's reason (kept in each person's decision)."""
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            self._claim(case, officer_id=officer_id, target=CaseState.DENIED)
            request = RequestSubmitted.model_validate(case.submission)
            await self._decide(uow, case, request, officer_id=officer_id, denials={"*": reason})
        return case

    async def revoke(self, request_id: str, *, officer_id: str, reason: str, person_ids: tuple[str, ...] = ()) -> Case:
        """Revoke the authorization of the people named, or of everyone: the consulate cancels their visas, and
        issues none they were granted but not issued yet. Revoking the principal revokes the family too.

        Any officer may revoke a granted case, whoever holds or decided it: revocation answers what happens
        after the grant (an end of mission, a persona non grata), and a grant by the policy has no officer.
        Refused for someone already revoked or never granted (``NothingToRevoke``) and for a case not granted.
        """
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            known = {person.person_id for person in RequestSubmitted.model_validate(case.submission).people}
            if unknown := set(person_ids) - known:
                raise UnknownPeople(unknown)
            await self._revoke(uow, case, self._revocation(case, person_ids), reason=reason, revoked_by=officer_id)
        return case

    # --- queries --------------------------------------------------------------------------------------

    async def cases(
        self,
        state: CaseState = CaseState.PENDING,
        *,
        immigration_status: ImmigrationStatus | None = None,
        sponsor_id: str | None = None,
        assigned_to: str | None = None,
        unassigned: bool = False,
        limit: int = 100,
    ) -> list[Case]:
        """Cases in ``state``, oldest first; only those of ``immigration_status``, of the sponsor ``sponsor_id``,
        held by the officer ``assigned_to``, or held by nobody (``unassigned``), when given."""
        query = select(Case).where(Case.state == state)
        if immigration_status is not None:
            query = query.where(Case.immigration_status == immigration_status)
        if sponsor_id is not None:
            query = query.where(Case.sponsor_id == sponsor_id)
        if assigned_to is not None:
            query = query.where(Case.assigned_to == assigned_to)
        if unassigned:
            query = query.where(Case.assigned_to.is_(None))
        async with self.reads() as session:
            return list(await session.scalars(query.order_by(Case.opened_at, Case.request_id).limit(limit)))

    async def case(self, request_id: str) -> Case:
        async with self.reads() as session:
            return await self._case(session, request_id)

    # --- the steps ------------------------------------------------------------------------------------

    @staticmethod
    async def _case(session: AsyncSession, request_id: str, *, for_update: bool = False) -> Case:
        # Acting on a case locks it: two officers deciding at once cannot both decide.
        case = await session.get(Case, request_id, with_for_update=for_update)
        if case is None:
            raise CaseNotFound(request_id)
        return case

    async def _assess(self, request: RequestSubmitted) -> Assessment:
        waivers = await self.treaties.current()
        with _about_content(request):
            return assess(request, today=self.clock.today(), waivers=waivers, rulebook=self.rulebook)

    @staticmethod
    def _revocation(case: Case, person_ids: tuple[str, ...]) -> Revocation:
        granted = [d["person_id"] for d in case.decisions or () if d["decision"] == Decision.GRANTED]
        revoked = {person_id for earlier in case.revocations or () for person_id in earlier["person_ids"]}
        principal_id = case.submission["principal"]["person_id"]
        return revocation(CaseState(case.state), principal_id, granted, revoked, person_ids)

    async def _revoke(self, uow: UnitOfWork, case: Case, revoking: Revocation, *, reason: str, revoked_by: str) -> None:
        """Record a revocation on the case and publish it: exactly the people revoked, and their visas known so far
        (a visa issued meanwhile is still covered: the consulate matches people as well as numbers)."""
        now = self.clock.now()
        case.revocations = [
            *(case.revocations or ()),
            {
                "person_ids": list(revoking.person_ids),
                "reason": reason,
                "revoked_by": revoked_by,
                "revoked_at": now.isoformat(),
            },
        ]
        case.state = revoking.state
        if revoking.state is CaseState.REVOKED:
            case.revoked_at, case.revocation_reason, case.revoked_by = now, reason, revoked_by
        await uow.emit(
            AuthorizationRevoked(
                request_id=case.request_id,
                authorization_id=case.authorization_id,
                person_ids=revoking.person_ids,
                visa_numbers=tuple(sorted(case.visas[p] for p in revoking.person_ids if p in case.visas)),
                reason=reason,
                revoked_by=revoked_by,
                revoked_at=now,
            )
        )
        log.info(
            "authorization %s revoked for %d people by %s", case.authorization_id, len(revoking.person_ids), revoked_by
        )

    def _claim(self, case: Case, *, officer_id: str, target: CaseState) -> None:
        """Before an officer decides, first of all: the case is pending, and theirs or nobody's; it is theirs from
        now on (a refusal after this rolls the unit of work back, the assignment with it)."""
        if case.state != CaseState.PENDING:
            raise InvalidTransition(CaseState(case.state), target)
        holder = holder_after_decision(case.assigned_to, officer_id)
        if case.assigned_to != holder:
            case.assigned_to, case.assigned_at = holder, self.clock.now()

    async def _decide(
        self,
        uow: UnitOfWork,
        case: Case,
        request: RequestSubmitted,
        *,
        officer_id: str,
        denials: Mapping[str, str],
    ) -> None:
        """An officer decides a pending case they claimed (``_claim``). The rules are applied again: the law may
        have changed meanwhile."""
        await self._conclude(uow, case, request, await self._assess(request), decided_by=officer_id, denials=denials)

    async def _conclude(
        self,
        uow: UnitOfWork,
        case: Case,
        request: RequestSubmitted,
        assessment: Assessment,
        *,
        decided_by: str,
        denials: Mapping[str, str] | None = None,
    ) -> None:
        with _about_content(request):
            decisions = decide(request, assessment, officer_denials=denials)
            concluded = conclusion(request, assessment, decisions)
        case.state = transition(CaseState(case.state), concluded.state)
        case.decided_by = decided_by
        case.decided_at = self.clock.now()
        case.decisions = [decision.model_dump(mode="json") for decision in concluded.decisions] + [
            {"decision": CaseState.NOT_REQUIRED.value, **waived.model_dump(mode="json")}
            for waived in concluded.not_required
        ]
        # The people a waiver covers, then the visa decision on the others (each event only when it has people).
        if concluded.not_required:
            await uow.emit(
                AuthorizationNotRequired(
                    request_id=request.request_id,
                    case_id=case.authorization_id,
                    people=concluded.not_required,
                    decided_by=decided_by,
                    decided_at=case.decided_at,
                )
            )
        if (event_class := concluded.visa_event) is not None:
            await uow.emit(
                event_class(
                    request_id=request.request_id,
                    authorization_id=case.authorization_id,
                    immigration_status=request.immigration_status,
                    decisions=concluded.decisions,
                    decided_by=decided_by,
                    decided_at=case.decided_at,
                )
            )
        log.info("request %s %s by %s", request.request_id, case.state.lower(), decided_by)
