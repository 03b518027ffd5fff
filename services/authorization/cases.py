"""A case's life at the Directorate, who may act on it, and how an assessment becomes per-person decisions,
setting apart the people a waiver treaty covers (no visa needed: NOT_REQUIRED). Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts import (
    AuthorizationDenied,
    AuthorizationGranted,
    Decision,
    Finding,
    PersonDecision,
    PersonNotRequired,
    RequestSubmitted,
    Waiver,
)
from shared.treaties.coverage import Covered

from .rules import Assessment, Violation


class CaseState(StrEnum):
    PENDING = "PENDING"
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    REVOKED = "REVOKED"
    # Nobody granted, and a waiver treaty makes a visa unnecessary for someone: never recorded as a denial.
    NOT_REQUIRED = "NOT_REQUIRED"


_NEXT = {
    CaseState.PENDING: {CaseState.GRANTED, CaseState.DENIED, CaseState.NOT_REQUIRED},
    CaseState.GRANTED: {CaseState.REVOKED},
}


class InvalidTransition(ValueError):
    def __init__(self, current: CaseState, target: CaseState) -> None:
        super().__init__(f"a {current.value} case cannot become {target.value}")


def transition(current: CaseState, target: CaseState) -> CaseState:
    if target not in _NEXT.get(current, set()):
        raise InvalidTransition(current, target)
    return target


# --- who acts on a case ------------------------------------------------------------------------------------
#
# An officer takes a pending case: from then on it is theirs until they decide or release it. Nobody else may
# take, decide or release it meanwhile. A case nobody holds may be taken or decided by any officer, and
# deciding it makes it the decider's. The holder stays on a decided case: it records who reviewed it.
# Revocation is outside this rule: any officer may revoke a granted authorization, whoever decided it (it
# answers facts that come later, such as an end of mission or a persona non grata, and a grant by the policy
# has no officer at all).


class AssignedToAnother(ValueError):
    """The case is held by another officer (``holder``, an officer id): only they may decide or release it."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        super().__init__(f"the case is assigned to officer {holder}")


class NotPending(ValueError):
    """Only a pending case is taken or released: a decided one is no longer anyone's to work on."""

    def __init__(self, state: CaseState, action: str) -> None:
        super().__init__(f"a {state.value} case cannot be {action}: only a PENDING case can")


def may_act(assigned_to: str | None, officer_id: str) -> bool:
    """Whether ``officer_id`` may take, decide or release a case held by ``assigned_to`` (None: nobody)."""
    return assigned_to is None or assigned_to == officer_id


def _ensure_may_act(assigned_to: str | None, officer_id: str) -> None:
    if assigned_to is not None and not may_act(assigned_to, officer_id):
        raise AssignedToAnother(assigned_to)


def holder_after_take(state: CaseState, assigned_to: str | None, officer_id: str) -> str:
    """Who holds a case once ``officer_id`` takes it: them. Taking one's own case again changes nothing."""
    if state is not CaseState.PENDING:
        raise NotPending(state, "taken")
    _ensure_may_act(assigned_to, officer_id)
    return officer_id


def holder_after_release(state: CaseState, assigned_to: str | None, officer_id: str) -> None:
    """Who holds a case once ``officer_id`` releases it: nobody. Only its holder releases it; releasing a case
    nobody holds changes nothing."""
    if state is not CaseState.PENDING:
        raise NotPending(state, "released")
    _ensure_may_act(assigned_to, officer_id)
    return None


def holder_after_decision(assigned_to: str | None, officer_id: str) -> str:
    """Who holds a case ``officer_id`` decides (grants or denies): the decider, who must hold it or find it free."""
    _ensure_may_act(assigned_to, officer_id)
    return officer_id


class RenewalKeepsPost(ValueError):
    """A renewal's visas are issued by the post that issued the visas it renews: that post supersedes them."""

    def __init__(self) -> None:
        super().__init__("a renewal is issued by the consular post that issued the visas it renews")


def post_after_assignment(
    state: CaseState, assigned_to: str | None, officer_id: str, post: str, *, renewal: bool = False
) -> str:
    """The consular post of a case once ``officer_id`` assigns it ``post`` (a known post's code): who may is as for a
    take (pending, and the officer's or nobody's); the holder does not change. A renewal keeps its post."""
    if state is not CaseState.PENDING:
        raise NotPending(state, "sent to another post")
    _ensure_may_act(assigned_to, officer_id)
    if renewal:
        raise RenewalKeepsPost()
    return post


def decide(
    request: RequestSubmitted,
    assessment: Assessment,
    *,
    officer_denials: Mapping[str, str] | None = None,
) -> tuple[PersonDecision, ...]:
    """Grant each person the rules allow, for the validity the rules found, unless an officer denied them;
    a broken rule always denies. The family's status derives from the principal's (docs/domain/statuses.md):
    a principal an officer denies takes the family with them, each with the officer's reason (a principal the
    rules deny already does, through the rule ``principal-ineligible``).

    ``officer_denials`` maps a person id to the officer's reason (``"*"``: everyone).
    """
    officer_denials = officer_denials or {}
    # A renewal: each person granted gets a visa that supersedes the one named (docs/domain/lifecycle.md).
    renewed = {renewal.person_id: renewal.visa_number for renewal in request.renews}
    everyone = officer_denials.get("*")
    principal_denied = everyone or officer_denials.get(request.principal.person_id)
    decisions = []
    # Dependants joining an authorization: the principal holds theirs already, only the family is decided.
    for person in request.family if request.joins is not None else request.people:
        judged = assessment.for_person(person.person_id)
        found = [finding(violation) for violation in judged.violations]
        officer_reason = everyone or officer_denials.get(person.person_id)
        if officer_reason:
            found.append(Finding(rule="officer", message="officer", params={"reason": officer_reason}))
        elif principal_denied and person.role != "PRINCIPAL":
            params = {"who": person.person_id, "principal": request.principal.person_id, "reason": principal_denied}
            found.append(finding(Violation("principal-denied", params)))
        if found or judged.validity is None:
            decisions.append(
                PersonDecision(
                    person_id=person.person_id,
                    decision=Decision.DENIED,
                    reasons=tuple(reason_code(f) for f in found),
                    findings=tuple(found),
                    person=person,
                )
            )
            continue
        valid_from, valid_until = judged.validity
        decisions.append(
            PersonDecision(
                person_id=person.person_id,
                decision=Decision.GRANTED,
                person=person,
                valid_from=valid_from,
                valid_until=valid_until,
                renews=renewed.get(person.person_id),
            )
        )
    return tuple(decisions)


def finding(violation: Violation) -> Finding:
    """A violation as events and records keep it: its code, message id and parameters, never a sentence."""
    return Finding(rule=violation.rule, message=violation.message_id, params=dict(violation.params))


def reason_code(found: Finding) -> str:
    """A decision's ``reasons`` entry: the rule's code, or ``officer: <the officer's words>``."""
    return f"officer: {found.params['reason']}" if found.rule == "officer" else found.rule


def outcome(decisions: tuple[PersonDecision, ...]) -> type[AuthorizationGranted] | type[AuthorizationDenied]:
    """Granted when anyone is granted (the event carries each person's decision), else denied."""
    if any(decision.decision is Decision.GRANTED for decision in decisions):
        return AuthorizationGranted
    return AuthorizationDenied


# --- revocation: whole, or per person -----------------------------------------------------------------------


class NothingToRevoke(ValueError):
    def __init__(self) -> None:
        super().__init__("everyone named is already revoked or was never granted: nothing to revoke")


@dataclass(frozen=True)
class Revocation:
    """Whom a revocation revokes, and the case's state after it: GRANTED while someone granted remains."""

    person_ids: tuple[str, ...]
    state: CaseState


def revocation(
    state: CaseState, principal_id: str, granted: Sequence[str], revoked: Collection[str], named: Collection[str]
) -> Revocation:
    """Revoke ``named`` (everyone when empty) among the people granted and not revoked yet.

    The end of functions of one person (a divorce, a child who is no longer a dependant) revokes them alone; the
    principal's takes the family with them, whose status derives from theirs (docs/domain/statuses.md). A person
    already revoked is not revoked again (a second notice has no further effect: ``NothingToRevoke``). Only a
    GRANTED case is revoked; it becomes REVOKED once nobody granted remains.
    """
    if state is not CaseState.GRANTED:
        raise InvalidTransition(state, CaseState.REVOKED)
    standing = [person_id for person_id in granted if person_id not in revoked]
    everyone = not named or principal_id in named
    concerned = tuple(person_id for person_id in standing if everyone or person_id in named)
    if not concerned:
        raise NothingToRevoke()
    remaining = len(standing) > len(concerned)
    return Revocation(concerned, CaseState.GRANTED if remaining else transition(state, CaseState.REVOKED))


def in_force(state: CaseState, person_id: str, granted: Collection[str], revoked: Collection[str]) -> bool:
    """Whether ``person_id`` holds an authorization in force under a case: granted, not revoked since."""
    return state is CaseState.GRANTED and person_id in granted and person_id not in revoked


# --- a waiver: no visa needed ------------------------------------------------------------------------------


def waiver(covered: Covered) -> Waiver:
    """The contract's account of the treaty that covers a stay (docs/domain/waivers.md)."""
    entry = covered.entry
    return Waiver(
        country=entry.country,
        instrument=entry.instrument,
        source=entry.source,
        max_stay_days=entry.max_stay_days,
        window_days=entry.window_days,
        stay_days=covered.stay_days,
        stay_assumed=covered.stay_assumed,
        conditions=covered.conditions,
    )


@dataclass(frozen=True)
class Conclusion:
    """How a case ends: its state, the visa decisions (for an ``AuthorizationGranted`` or ``AuthorizationDenied``,
    none when nobody needs a visa) and the people a waiver covers (for an ``AuthorizationNotRequired``)."""

    state: CaseState
    decisions: tuple[PersonDecision, ...]
    not_required: tuple[PersonNotRequired, ...]

    @property
    def visa_event(self) -> type[AuthorizationGranted] | type[AuthorizationDenied] | None:
        return outcome(self.decisions) if self.decisions else None


def conclusion(request: RequestSubmitted, assessment: Assessment, decisions: tuple[PersonDecision, ...]) -> Conclusion:
    """Split ``decide``'s decisions: a person a waiver covers (eligible, treaty found) needs no visa, whatever
    an officer decided, and is neither granted nor denied; the others keep their decision.

    The case is GRANTED when anyone is granted (it can be revoked), else NOT_REQUIRED when a waiver covers
    anyone (a waiver is never recorded as a refusal), else DENIED.
    """
    people = {person.person_id: person for person in request.people}
    not_required = tuple(
        PersonNotRequired(person_id=p.person_id, person=people[p.person_id], waiver=waiver(p.waiver))
        for p in assessment.people
        if p.waiver is not None
    )
    waived = {p.person_id for p in not_required}
    visa_decisions = tuple(d for d in decisions if d.person_id not in waived)
    if any(d.decision is Decision.GRANTED for d in visa_decisions):
        state = CaseState.GRANTED
    elif not_required:
        state = CaseState.NOT_REQUIRED
    else:
        state = CaseState.DENIED
    return Conclusion(state, visa_decisions, not_required)
