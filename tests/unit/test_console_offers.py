"""What the officers' console offers on a case: derived from its state and holder as the use cases decide."""

from __future__ import annotations

import pytest

from services.authorization.cases import CaseState
from services.authorization.offers import Action, offered

ME, OTHER = "officer-me", "officer-other"


@pytest.mark.parametrize(
    ("state", "holder", "expected"),
    [
        (CaseState.PENDING, None, (Action.TAKE, Action.GRANT, Action.DENY)),
        (CaseState.PENDING, ME, (Action.RELEASE, Action.GRANT, Action.DENY)),
        (CaseState.PENDING, OTHER, ()),
        (CaseState.GRANTED, ME, (Action.REVOKE,)),
        (CaseState.GRANTED, OTHER, (Action.REVOKE,)),  # any officer revokes, whoever decided
        (CaseState.GRANTED, None, (Action.REVOKE,)),  # a grant by the policy has no officer
        (CaseState.DENIED, ME, ()),
        (CaseState.REVOKED, ME, ()),
        (CaseState.NOT_REQUIRED, None, ()),
    ],
)
def test_the_actions_offered_follow_the_state_and_the_holder(state, holder, expected):
    assert offered(state, holder, ME) == expected
