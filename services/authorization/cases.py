"""A case's life at the Directorate, and how an assessment becomes per-person decisions. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from shared.contracts import AuthorizationDenied, AuthorizationGranted, Decision, PersonDecision, RequestSubmitted

from .rules import Assessment


class CaseState(StrEnum):
    PENDING = "PENDING"
    GRANTED = "GRANTED"
    DENIED = "DENIED"
    REVOKED = "REVOKED"


_NEXT = {
    CaseState.PENDING: {CaseState.GRANTED, CaseState.DENIED},
    CaseState.GRANTED: {CaseState.REVOKED},
}


class InvalidTransition(ValueError):
    def __init__(self, current: CaseState, target: CaseState) -> None:
        super().__init__(f"a {current.value} case cannot become {target.value}")


def transition(current: CaseState, target: CaseState) -> CaseState:
    if target not in _NEXT.get(current, set()):
        raise InvalidTransition(current, target)
    return target


def decide(
    request: RequestSubmitted,
    assessment: Assessment,
    *,
    officer_denials: Mapping[str, str] | None = None,
) -> tuple[PersonDecision, ...]:
    """Grant each person the rules allow, for the validity the rules found, unless an officer denied them;
    a broken rule always denies.

    ``officer_denials`` maps a person id to the officer's reason (``"*"``: everyone).
    """
    officer_denials = officer_denials or {}
    everyone = officer_denials.get("*")
    decisions = []
    for person in request.people:
        judged = assessment.for_person(person.person_id)
        reasons = [str(violation) for violation in judged.violations]
        officer_reason = everyone or officer_denials.get(person.person_id)
        if officer_reason:
            reasons.append(f"officer: {officer_reason}")
        if reasons or judged.validity is None:
            decisions.append(
                PersonDecision(
                    person_id=person.person_id, decision=Decision.DENIED, reasons=tuple(reasons), person=person
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
            )
        )
    return tuple(decisions)


def outcome(decisions: tuple[PersonDecision, ...]) -> type[AuthorizationGranted] | type[AuthorizationDenied]:
    """Granted when anyone is granted (the event carries each person's decision), else denied."""
    if any(decision.decision is Decision.GRANTED for decision in decisions):
        return AuthorizationGranted
    return AuthorizationDenied
