"""The Directorate's use cases: every way into authorization's domain goes through here.

The officers' HTTP API (and any console or command to come) calls the commands and queries; the event
consumer calls ``receive`` and ``record_visa`` inside the unit of work the bus opened for the event's inbox
entry. The decisions themselves are pure: ``rules.assess`` judges a request, ``cases.decide`` turns the
judgement and the officer's denials into per-person decisions, ``cases.transition`` guards the case's life.
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
    AuthorizationGranted,
    AuthorizationRevoked,
    Decision,
    EventData,
    RequestSubmitted,
    ReviewStarted,
    VisaIssued,
)
from shared.messaging import PoisonEvent, UnitOfWork
from shared.observability.logs import bind_request
from shared.privacy import failure_kind

from .cases import CaseState, InvalidTransition, decide, outcome, transition
from .models import Case
from .rules import Assessment, WaiverLookup, assess
from .settings import Policy

log = logging.getLogger("visa.authorization")

POLICY = "policy"


class Waivers(Protocol):
    """The treaty list as the Directorate reads it (``shared.treaties.TreatyCache`` fits)."""

    async def current(self) -> WaiverLookup: ...


class CaseNotFound(LookupError):
    def __init__(self, request_id: str) -> None:
        super().__init__(f"no case for request {request_id}")


class UnknownPeople(ValueError):
    def __init__(self, person_ids: set[str]) -> None:
        super().__init__(f"deny: unknown person ids {sorted(person_ids)}")


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
    ) -> None:
        self.units = units
        self.reads = reads
        self.policy = policy
        self.treaties = treaties
        self.clock = clock

    def handlers(self) -> Mapping[type[EventData], Callable]:
        """The events this service consumes, each with its use case (``registry.AUTHORIZATION.handles``)."""
        return {RequestSubmitted: self.receive, VisaIssued: self.record_visa}

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
            violations={p.person_id: [str(v) for v in p.violations] for p in assessment.people},
            opened_at=self.clock.now(),
            visas={},
        )
        uow.session.add(case)
        # A request nobody is eligible for is denied at once, with the rules it breaks.
        if not assessment.anyone_eligible or self.policy is Policy.AUTO:
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

    # --- officers' commands ---------------------------------------------------------------------------

    async def grant(self, request_id: str, *, officer_id: str, denials: Mapping[str, str]) -> Case:
        """Grant everyone the rules allow, except the people the officer denies by name (id -> reason)."""
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            request = RequestSubmitted.model_validate(case.submission)
            unknown = set(denials) - {person.person_id for person in request.people}
            if unknown:
                raise UnknownPeople(unknown)
            await self._decide(uow, case, request, officer_id=officer_id, denials=denials, target=CaseState.GRANTED)
        return case

    async def deny(self, request_id: str, *, officer_id: str, reason: str) -> Case:
        """Deny everyone in the request, with the officer's reason."""
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            request = RequestSubmitted.model_validate(case.submission)
            await self._decide(
                uow, case, request, officer_id=officer_id, denials={"*": reason}, target=CaseState.DENIED
            )
        return case

    async def revoke(self, request_id: str, *, officer_id: str, reason: str) -> Case:
        """Revoke the whole authorization: the consulate cancels every visa issued under it."""
        bind_request(request_id)
        async with self.units() as uow:
            case = await self._case(uow.session, request_id, for_update=True)
            case.state = transition(CaseState(case.state), CaseState.REVOKED)
            granted = tuple(d["person_id"] for d in case.decisions or () if d["decision"] == Decision.GRANTED)
            case.revoked_at = self.clock.now()
            case.revocation_reason = reason
            await uow.emit(
                AuthorizationRevoked(
                    request_id=case.request_id,
                    authorization_id=case.authorization_id,
                    # Every granted person, and the visas known so far: one issued meanwhile is still covered.
                    person_ids=granted,
                    visa_numbers=tuple(sorted(case.visas.values())),
                    reason=reason,
                    revoked_by=officer_id,
                    revoked_at=case.revoked_at,
                )
            )
        log.info("authorization %s revoked by %s", case.authorization_id, officer_id)
        return case

    # --- queries --------------------------------------------------------------------------------------

    async def cases(self, state: CaseState, limit: int) -> list[Case]:
        """Cases in ``state``, oldest first."""
        async with self.reads() as session:
            return list(
                await session.scalars(select(Case).where(Case.state == state).order_by(Case.opened_at).limit(limit))
            )

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
            return assess(request, today=self.clock.today(), waivers=waivers)

    async def _decide(
        self,
        uow: UnitOfWork,
        case: Case,
        request: RequestSubmitted,
        *,
        officer_id: str,
        denials: Mapping[str, str],
        target: CaseState,
    ) -> None:
        """An officer decides a pending case. The rules are applied again: the law may have changed meanwhile."""
        if case.state != CaseState.PENDING:
            raise InvalidTransition(CaseState(case.state), target)
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
        event_class = outcome(decisions)
        granted = event_class is AuthorizationGranted
        case.state = transition(CaseState(case.state), CaseState.GRANTED if granted else CaseState.DENIED)
        case.decided_by = decided_by
        case.decided_at = self.clock.now()
        case.decisions = [decision.model_dump(mode="json") for decision in decisions]
        await uow.emit(
            event_class(
                request_id=request.request_id,
                authorization_id=case.authorization_id,
                immigration_status=request.immigration_status,
                decisions=decisions,
                decided_by=decided_by,
                decided_at=case.decided_at,
            )
        )
        log.info("request %s %s by %s", request.request_id, case.state.lower(), decided_by)
