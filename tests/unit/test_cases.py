from __future__ import annotations

import datetime as dt

import pytest

from services.authorization.cases import (
    AssignedToAnother,
    CaseState,
    InvalidTransition,
    NothingToRevoke,
    NotPending,
    decide,
    holder_after_decision,
    holder_after_release,
    holder_after_take,
    in_force,
    may_act,
    outcome,
    revocation,
    transition,
)
from services.authorization.rules import assess
from shared.contracts import AuthorizationDenied, AuthorizationGranted, Decision, RenewedVisa
from tests.support.rules import TODAY, request, worded


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (CaseState.PENDING, CaseState.GRANTED),
        (CaseState.PENDING, CaseState.DENIED),
        (CaseState.GRANTED, CaseState.REVOKED),
    ],
)
def test_allowed_transitions(current, target):
    assert transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (CaseState.GRANTED, CaseState.DENIED),
        (CaseState.DENIED, CaseState.GRANTED),
        (CaseState.DENIED, CaseState.REVOKED),
        (CaseState.PENDING, CaseState.REVOKED),
        (CaseState.REVOKED, CaseState.GRANTED),
        (CaseState.GRANTED, CaseState.GRANTED),
    ],
)
def test_forbidden_transitions(current, target):
    with pytest.raises(InvalidTransition, match=f"{current.value} case cannot become {target.value}"):
        transition(current, target)


def test_eligible_people_are_granted_with_their_validity():
    submitted = request()
    decisions = decide(submitted, assess(submitted, today=TODAY))
    assert [d.decision for d in decisions] == [Decision.GRANTED, Decision.GRANTED]
    assert all(d.valid_from == TODAY and d.valid_until is not None and d.reasons == () for d in decisions)
    assert outcome(decisions) is AuthorizationGranted


def test_an_officer_denies_one_person_by_name_and_the_rest_are_granted():
    submitted = request()
    decisions = decide(submitted, assess(submitted, today=TODAY), officer_denials={"p1": "no proof of marriage"})
    assert [d.decision for d in decisions] == [Decision.GRANTED, Decision.DENIED]
    assert decisions[1].reasons == ("officer: no proof of marriage",) and decisions[1].valid_until is None
    assert outcome(decisions) is AuthorizationGranted


def test_an_officer_who_denies_the_principal_denies_the_family_with_that_reason():
    submitted = request()
    decisions = decide(submitted, assess(submitted, today=TODAY), officer_denials={"p0": "posting not confirmed"})
    assert [d.decision for d in decisions] == [Decision.DENIED, Decision.DENIED]
    assert decisions[0].reasons == ("officer: posting not confirmed",)
    assert decisions[1].reasons == ("principal-denied",)  # the code; the words are the reader's to choose
    assert worded(decisions[1]) == (
        "principal-denied: The status of p1 derives from the principal, p0, whom an officer denied: "
        "posting not confirmed",
    )
    assert worded(decisions[0]) == ("officer: posting not confirmed",)
    assert decisions[1].valid_until is None
    assert outcome(decisions) is AuthorizationDenied


def test_a_family_member_denied_by_name_keeps_the_officers_own_reason_only():
    submitted = request()
    decisions = decide(
        submitted, assess(submitted, today=TODAY), officer_denials={"p0": "no posting", "p1": "no marriage proof"}
    )
    assert decisions[1].reasons == ("officer: no marriage proof",)


def test_an_officer_denial_of_everyone_is_a_denial():
    submitted = request()
    decisions = decide(submitted, assess(submitted, today=TODAY), officer_denials={"*": "incomplete file"})
    assert {d.decision for d in decisions} == {Decision.DENIED}
    assert outcome(decisions) is AuthorizationDenied


def test_no_officer_can_grant_what_a_rule_forbids():
    submitted = request(note_date=TODAY + dt.timedelta(days=1))
    decisions = decide(submitted, assess(submitted, today=TODAY))
    assert {d.decision for d in decisions} == {Decision.DENIED}
    assert any(reason.startswith("documentation-missing") for reason in decisions[0].reasons)


# --- who acts on a case: officers A and B ------------------------------------------------------------------

A, B = "officer-a", "officer-b"


@pytest.mark.parametrize(
    ("assigned_to", "officer", "allowed"),
    [(None, A, True), (A, A, True), (A, B, False), (B, A, False)],
)
def test_an_officer_may_act_on_a_case_that_is_theirs_or_nobodys(assigned_to, officer, allowed):
    assert may_act(assigned_to, officer) is allowed


@pytest.mark.parametrize(("assigned_to", "officer"), [(None, A), (A, A)])
def test_a_pending_case_nobodys_or_ones_own_is_taken_and_decided(assigned_to, officer):
    assert holder_after_take(CaseState.PENDING, assigned_to, officer) == officer  # again: the same holder
    assert holder_after_decision(assigned_to, officer) == officer  # the decider holds it
    assert holder_after_release(CaseState.PENDING, assigned_to, officer) is None  # nobody's: nothing to give back


@pytest.mark.parametrize(
    "act",
    [
        lambda: holder_after_take(CaseState.PENDING, A, B),
        lambda: holder_after_release(CaseState.PENDING, A, B),
        lambda: holder_after_decision(A, B),
    ],
    ids=["take", "release", "decide"],
)
def test_another_officers_case_is_neither_taken_released_nor_decided(act):
    with pytest.raises(AssignedToAnother, match=f"assigned to officer {A}$") as refused:
        act()
    assert refused.value.holder == A  # an id, never a name


@pytest.mark.parametrize("state", [CaseState.GRANTED, CaseState.DENIED, CaseState.REVOKED])
@pytest.mark.parametrize(("action", "rule"), [("taken", holder_after_take), ("released", holder_after_release)])
@pytest.mark.parametrize("assigned_to", [None, A])
def test_a_decided_case_is_neither_taken_nor_released(state, action, rule, assigned_to):
    with pytest.raises(NotPending, match=f"a {state.value} case cannot be {action}"):
        rule(state, assigned_to, A)


# --- revocation, whole or per person --------------------------------------------------------------------------

GRANTED_PEOPLE = ("p0", "p1", "p2")  # the principal, the spouse, a child


@pytest.mark.parametrize(
    ("revoked", "named", "expected_people", "expected_state"),
    [
        ((), (), ("p0", "p1", "p2"), CaseState.REVOKED),  # everyone
        ((), ("p2",), ("p2",), CaseState.GRANTED),  # one child: the others keep their authorization
        (("p2",), ("p1",), ("p1",), CaseState.GRANTED),
        (("p2",), ("p1", "p2"), ("p1",), CaseState.GRANTED),  # someone already revoked is not revoked again
        (("p1",), ("p2",), ("p2",), CaseState.GRANTED),  # the principal still holds theirs
        ((), ("p0",), ("p0", "p1", "p2"), CaseState.REVOKED),  # the principal takes the family
        (("p1",), ("p0",), ("p0", "p2"), CaseState.REVOKED),
        (("p1", "p2"), (), ("p0",), CaseState.REVOKED),
    ],
    ids=[
        "everyone",
        "one-child",
        "spouse-after-child",
        "skips-revoked",
        "last-one",
        "principal",
        "principal-rest",
        "rest",
    ],
)
def test_revocation_concerns_exactly_the_people_still_granted(revoked, named, expected_people, expected_state):
    found = revocation(CaseState.GRANTED, "p0", GRANTED_PEOPLE, revoked, named)
    assert found.person_ids == expected_people
    assert found.state is expected_state


def test_a_second_revocation_of_the_same_people_has_nothing_to_revoke():
    with pytest.raises(
        NothingToRevoke, match="^everyone named is already revoked or was never granted: nothing to revoke$"
    ):
        revocation(CaseState.GRANTED, "p0", GRANTED_PEOPLE, ("p2",), ("p2",))
    with pytest.raises(NothingToRevoke):  # a person who was denied, not granted
        revocation(CaseState.GRANTED, "p0", ("p0", "p1"), (), ("p2",))


@pytest.mark.parametrize("state", [CaseState.PENDING, CaseState.DENIED, CaseState.REVOKED, CaseState.NOT_REQUIRED])
def test_only_a_granted_case_is_revoked(state):
    with pytest.raises(InvalidTransition):
        revocation(state, "p0", GRANTED_PEOPLE, (), ())


def test_a_renewal_grant_names_the_visa_each_person_renews():
    submitted = request()
    principal = submitted.principal.person_id
    renewal = submitted.model_copy(
        update={"renews": (RenewedVisa(person_id=principal, visa_number="PE0000001", request_id="r-0"),)}
    )
    decisions = decide(renewal, assess(renewal, today=TODAY))
    assert {d.person_id: d.renews for d in decisions} == {
        p.person_id: ("PE0000001" if p.person_id == principal else None) for p in renewal.people
    }
    assert all(d.renews is None for d in decide(submitted, assess(submitted, today=TODAY)))


# --- dependants joining an authorization ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "granted", "revoked", "expected"),
    [
        (CaseState.GRANTED, ("p0", "p1"), (), True),
        (CaseState.GRANTED, ("p0", "p1"), ("p0",), False),  # revoked since
        (CaseState.GRANTED, ("p1",), (), False),  # the principal was denied, the spouse granted
        (CaseState.REVOKED, ("p0",), ("p0",), False),
        (CaseState.PENDING, (), (), False),
        (CaseState.DENIED, (), (), False),
    ],
)
def test_whether_the_principals_authorization_is_in_force(state, granted, revoked, expected):
    assert in_force(state, "p0", granted, revoked) is expected


def test_dependants_joining_are_decided_alone_and_only_while_the_principal_holds_an_authorization():
    joining = request().model_copy(update={"joins": "r-0"})
    decisions = decide(joining, assess(joining, today=TODAY))
    assert [d.person_id for d in decisions] == [p.person_id for p in joining.family]
    assert all(d.decision is Decision.GRANTED for d in decisions)

    refused = assess(joining, today=TODAY, principal_authorized=False)
    assert refused.for_person(joining.principal.person_id).eligible  # judged, but not decided again
    assert [v.rule for v in refused.for_person(joining.family[0].person_id).violations] == ["principal-not-authorized"]
    assert [d.decision for d in decide(joining, refused)] == [Decision.DENIED]
    # The flag means nothing for an ordinary request.
    assert assess(request(), today=TODAY, principal_authorized=False).people == assess(request(), today=TODAY).people
