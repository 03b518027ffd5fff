"""The Directorate receives each request: rules first, then policy or an officer."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from shared.contracts import (
    AuthorizationGranted,
    AuthorizationRevoked,
    Decision,
    RequestSubmitted,
    ReviewStarted,
    VisaIssued,
)
from shared.messaging import PoisonEvent, UnitOfWork
from shared.privacy import failure_kind
from shared.treaties import TreatyCache

from .cases import CaseState, decide, outcome, transition
from .models import Case
from .rules import Assessment, assess
from .settings import Policy

log = logging.getLogger("visa.authorization")

POLICY = "policy"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    def __init__(self, policy: Policy, treaties: TreatyCache) -> None:
        self.policy = policy
        self.treaties = treaties

    async def on_submitted(self, uow: UnitOfWork, request: RequestSubmitted) -> None:
        if await uow.session.get(Case, request.request_id) is not None:
            log.warning("request %s submitted twice under different event ids; kept the first", request.request_id)
            return
        today = dt.date.today()
        waivers = await self.treaties.current()
        with _about_content(request):
            assessment = assess(request, today=today, waivers=waivers)
        case = Case(
            request_id=request.request_id,
            authorization_id=str(uuid.uuid4()),
            state=CaseState.PENDING,
            submission=request.model_dump(mode="json"),
            violations={p.person_id: [str(v) for v in p.violations] for p in assessment.people},
            opened_at=_now(),
            visas={},
        )
        uow.session.add(case)
        # A request nobody is eligible for is denied at once, with the rules it breaks.
        if not assessment.anyone_eligible or self.policy is Policy.AUTO:
            await self.conclude(uow, case, request, decided_by=POLICY, assessment=assessment)
        else:
            await uow.emit(ReviewStarted(request_id=request.request_id, case_id=case.authorization_id))
            log.info("request %s awaits an officer", request.request_id)

    async def conclude(
        self,
        uow: UnitOfWork,
        case: Case,
        request: RequestSubmitted,
        *,
        decided_by: str,
        officer_denials: dict[str, str] | None = None,
        assessment: Assessment | None = None,
    ) -> None:
        """Decide the case. An officer's decision re-applies the rules: the law may have changed meanwhile."""
        today = dt.date.today()
        waivers = await self.treaties.current() if assessment is None else None
        with _about_content(request):
            assessment = assessment or assess(request, today=today, waivers=waivers)
            decisions = decide(request, assessment, today=today, officer_denials=officer_denials)
            event_class = outcome(decisions)
        granted = event_class is AuthorizationGranted
        case.state = transition(CaseState(case.state), CaseState.GRANTED if granted else CaseState.DENIED)
        case.decided_by = decided_by
        case.decided_at = _now()
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

    async def on_visa_issued(self, uow: UnitOfWork, issued: VisaIssued) -> None:
        """The Directorate knows which visas stand on its authorizations: a revocation names them."""
        case = await uow.session.get(Case, issued.request_id, with_for_update=True)
        if case is None or case.authorization_id != issued.authorization_id:
            log.warning("visa %s names an authorization this Directorate did not give", issued.visa_number)
            return
        case.visas = {**case.visas, issued.person_id: issued.visa_number}

    async def revoke(self, uow: UnitOfWork, case: Case, *, reason: str, revoked_by: str) -> None:
        """Revoke the whole authorization: the consulate cancels every visa issued under it."""
        case.state = transition(CaseState(case.state), CaseState.REVOKED)
        granted = tuple(d["person_id"] for d in case.decisions or () if d["decision"] == Decision.GRANTED)
        case.revoked_at = _now()
        case.revocation_reason = reason
        await uow.emit(
            AuthorizationRevoked(
                request_id=case.request_id,
                authorization_id=case.authorization_id,
                # Every granted person, and the visas known so far: one issued meanwhile is still covered.
                person_ids=granted,
                visa_numbers=tuple(sorted(case.visas.values())),
                reason=reason,
                revoked_by=revoked_by,
                revoked_at=case.revoked_at,
            )
        )
        log.info("authorization %s revoked by %s", case.authorization_id, revoked_by)
