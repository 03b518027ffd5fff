"""What an officer may do with a case now, as the console offers it: derived from the case's state and holder by
the same rules the use cases enforce (``cases.py``). Pure.

A pending case nobody holds may be taken, granted or denied; one the officer holds may be released, granted or
denied; one another officer holds offers nothing. A granted case (someone granted and not revoked: a case with
nobody left is REVOKED) may be revoked by any officer. Denied, revoked and not-required cases offer nothing.
An action not offered is still refused by the use case if forced.
"""

from __future__ import annotations

from enum import StrEnum

from .cases import CaseState, may_act


class Action(StrEnum):
    TAKE = "take"
    RELEASE = "release"
    GRANT = "grant"
    DENY = "deny"
    REVOKE = "revoke"


def offered(state: CaseState, assigned_to: str | None, officer_id: str) -> tuple[Action, ...]:
    """The actions ``officer_id`` may take on a case in ``state`` held by ``assigned_to`` (None: nobody)."""
    if state is CaseState.PENDING:
        if not may_act(assigned_to, officer_id):
            return ()
        hold = Action.RELEASE if assigned_to == officer_id else Action.TAKE
        return (hold, Action.GRANT, Action.DENY)
    if state is CaseState.GRANTED:
        return (Action.REVOKE,)
    return ()
