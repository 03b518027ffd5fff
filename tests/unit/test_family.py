"""Who counts as family (docs/domain/family.md): each relationship, each age band at its boundary, each declared
condition, and the family's status deriving from the principal's. Each row is checked both ways, with its rule
code, so removing a rule (or an entry of the packaged table) fails a test."""

from __future__ import annotations

import datetime as dt

import pytest

from services.authorization.cases import decide
from services.authorization.rules import Assessment, assess, validity
from shared.contracts import Decision, FamilyCondition, PassportType, Relationship
from shared.contracts import ImmigrationStatus as Status
from shared.contracts.people import add_days, add_years
from tests.support.rules import ARRIVAL, TODAY, person, relative, request, worded

C, R = FamilyCondition, Relationship
AGE_LIMIT, NOT_RECOGNIZED, REQUIRED = "family-age-limit", "relationship-not-recognized", "family-condition-required"


def born_aged(years: int, *, days: int = 0) -> dt.date:
    """The date of birth of someone exactly ``years`` old on ARRIVAL, ``days`` after that birthday."""
    return add_days(add_years(ARRIVAL, -years), -days)


def judged(member, *, status=Status.DIPLOMATIC_RESIDENT) -> set[str]:
    posting = {"posting_end": None} if status == Status.SHORT_STAY else {}
    a = assess(request(status=status, family=[member], **posting), today=TODAY)
    return {v.rule for v in a.for_person("p1").violations}


def message(a: Assessment, pid: str, rule: str) -> str:
    return next(v.message for v in a.for_person(pid).violations if v.rule == rule)


# --- each relationship, recognized or not --------------------------------------------------------------------

RELATIONSHIPS = {
    R.SPOUSE: set(),
    R.CHILD: set(),  # a child of 10
    R.PARTNER: {NOT_RECOGNIZED},
    R.PARENT: {NOT_RECOGNIZED},
    R.OTHER_DEPENDANT: {NOT_RECOGNIZED},
}


def test_every_relationship_has_a_row():
    assert set(RELATIONSHIPS) == set(Relationship)


@pytest.mark.parametrize("status", list(Status), ids=str)
@pytest.mark.parametrize("relationship", list(RELATIONSHIPS), ids=str)
def test_each_relationship_is_recognized_or_not_under_every_status(relationship, status):
    member = relative(relationship=relationship, born=born_aged(10))
    assert judged(member, status=status) == RELATIONSHIPS[relationship]


@pytest.mark.parametrize("conditions", [(), (C.STUDIES,), (C.DISABILITY,), (C.DEPENDENCY,), tuple(C)], ids=str)
@pytest.mark.parametrize("relationship", [R.PARTNER, R.PARENT, R.OTHER_DEPENDANT], ids=str)
def test_no_declared_condition_makes_an_unrecognized_relationship_count(relationship, conditions):
    assert judged(relative(relationship=relationship, born=born_aged(40), conditions=conditions)) == {NOT_RECOGNIZED}


def test_the_refusal_names_the_member_and_the_relationship_and_spares_the_rest_of_the_family():
    family = [relative("p1", relationship=R.PARENT), relative("p2", given="Lucie", relationship=R.SPOUSE)]
    a = assess(request(family=family), today=TODAY)
    assert {p.person_id: {v.rule for v in p.violations} for p in a.people} == {
        "p0": set(),
        "p1": {NOT_RECOGNIZED},
        "p2": set(),
    }
    assert message(a, "p1", NOT_RECOGNIZED) == (
        "The Directorate does not count a parent as a member of the family nucleus: Jean Dupont (p1) is declared "
        "as one."
    )


def test_a_family_member_without_a_relationship_is_not_recognized():
    # Intake requires a relationship; an event from another producer may lack one.
    a = assess(request(family=[relative(relationship=None)]), today=TODAY)
    [violation] = a.for_person("p1").violations
    assert violation.rule == NOT_RECOGNIZED and "no relationship" in violation.message


def test_the_principal_is_never_judged_as_family():
    a = assess(request(principal=person(born=dt.date(1940, 1, 1)), family=[]), today=TODAY)
    assert a.for_person("p0").violations == ()


# --- each age band at its boundary, on the intended arrival --------------------------------------------------

# conditions declared, age on the arrival and days past that birthday, the rules found
AGE_BANDS = [
    pytest.param((), 20, 364, set(), id="no-condition-the-day-before-21"),
    pytest.param((), 21, 0, {AGE_LIMIT}, id="no-condition-on-the-21st-birthday"),
    pytest.param((), 24, 0, {AGE_LIMIT}, id="no-condition-24"),
    pytest.param((C.STUDIES,), 21, 0, set(), id="studies-21"),
    pytest.param((C.STUDIES,), 24, 364, set(), id="studies-the-day-before-25"),
    pytest.param((C.STUDIES,), 25, 0, {AGE_LIMIT}, id="studies-on-the-25th-birthday"),
    pytest.param((C.DISABILITY,), 25, 0, set(), id="disability-25"),
    pytest.param((C.DISABILITY,), 60, 0, set(), id="disability-60"),
    pytest.param((C.STUDIES, C.DISABILITY), 40, 0, set(), id="studies-and-disability-40"),
    pytest.param((C.DEPENDENCY,), 21, 0, {AGE_LIMIT}, id="dependency-does-not-extend-a-child"),
]


@pytest.mark.parametrize(("conditions", "age", "days", "found"), AGE_BANDS)
def test_a_child_counts_within_the_age_band_of_the_conditions_declared(conditions, age, days, found):
    child = relative(relationship=R.CHILD, born=born_aged(age, days=days), conditions=conditions)
    assert judged(child) == found


@pytest.mark.parametrize("age", [18, 21, 25, 70], ids=lambda age: f"age-{age}")
def test_a_spouse_counts_at_any_age(age):
    assert judged(relative(relationship=R.SPOUSE, born=born_aged(age))) == set()


def test_a_birthday_on_29_february_falls_on_the_28th():
    leap = dt.date(2004, 2, 29)  # 21 on 2025-02-28
    for arrival, expected in ((dt.date(2025, 2, 27), set()), (dt.date(2025, 2, 28), {AGE_LIMIT})):
        r = request(arrival=arrival, family=[relative(relationship=R.CHILD, born=leap)])
        assert {v.rule for v in assess(r, today=TODAY).for_person("p1").violations} == expected, arrival


def test_the_age_limit_message_names_the_age_the_limit_and_the_conditions():
    child = relative(relationship=R.CHILD, born=born_aged(25), conditions=(C.STUDIES,))
    a = assess(request(family=[child]), today=TODAY)
    assert message(a, "p1", AGE_LIMIT) == (
        f"Jean Dupont (p1), born on {born_aged(25)}, is 25 on the intended arrival ({ARRIVAL}); a child declared "
        "with post-secondary studies counts as a member of the family nucleus only under the age of 25."
    )
    plain = assess(request(family=[relative(relationship=R.CHILD, born=born_aged(30))]), today=TODAY)
    assert "is 30 on the intended arrival" in message(plain, "p1", AGE_LIMIT)
    assert "only under the age of 21" in message(plain, "p1", AGE_LIMIT)


def test_a_childs_visa_ends_the_day_before_the_birthday_that_ends_the_band():
    child = relative(relationship=R.CHILD, born=born_aged(20))  # 21 a year after the arrival
    r = request(family=[child], posting_end=dt.date(2028, 3, 31))
    a = assess(r, today=TODAY)
    assert a.for_person("p1").validity == (TODAY, add_days(add_years(child.date_of_birth, 21), -1))
    assert a.for_person("p0").validity == (TODAY, dt.date(2028, 3, 31))  # the principal's: the posting
    studying = child.model_copy(update={"conditions": (C.STUDIES,)})
    assert validity(r, studying, today=TODAY)[1] == dt.date(2028, 3, 31)  # 25 only after the posting
    disabled = child.model_copy(update={"conditions": (C.DISABILITY,)})
    assert validity(r, disabled, today=TODAY)[1] == dt.date(2028, 3, 31)


# --- the family's status derives from the principal's --------------------------------------------------------


def test_a_principal_the_rules_deny_takes_the_family_with_them():
    family = [relative("p1"), relative("p2", given="Lucie", relationship=R.CHILD, born=born_aged(10))]
    a = assess(request(principal=person(expires_on=ARRIVAL), family=family), today=TODAY)
    assert {p.person_id: {v.rule for v in p.violations} for p in a.people} == {
        "p0": {"passport-expired"},
        "p1": {"principal-ineligible"},
        "p2": {"principal-ineligible"},
    }
    for pid in ("p1", "p2"):
        assert "passport-expired" in message(a, pid, "principal-ineligible")
    decisions = decide(request(principal=person(expires_on=ARRIVAL), family=family), a)
    assert {d.decision for d in decisions} == {Decision.DENIED}
    assert all("principal-ineligible" in d.reasons for d in decisions[1:])
    assert all(any(r.startswith("principal-ineligible: ") for r in worded(d)) for d in decisions[1:])


def test_a_principal_an_officer_denies_takes_the_family_with_them_each_with_the_reason():
    family = [relative("p1"), relative("p2", given="Lucie", relationship=R.CHILD, born=born_aged(10))]
    r = request(family=family)
    decisions = decide(r, assess(r, today=TODAY), officer_denials={"p0": "posting not confirmed"})
    assert [d.decision for d in decisions] == [Decision.DENIED] * 3
    for d in decisions[1:]:
        assert d.reasons == ("principal-denied",)
        assert worded(d) == (
            f"principal-denied: The status of {d.person_id} derives from the principal, p0, whom an officer denied: "
            "posting not confirmed",
        )
    granted = decide(r, assess(r, today=TODAY), officer_denials={"p2": "no birth certificate"})
    assert [d.decision for d in granted] == [Decision.GRANTED, Decision.GRANTED, Decision.DENIED]


def test_a_family_member_not_counted_does_not_take_the_principal_with_them():
    a = assess(request(family=[relative(relationship=R.CHILD, born=born_aged(30))]), today=TODAY)
    assert a.for_person("p0").eligible and not a.for_person("p1").eligible


def test_the_family_rules_add_to_the_others():
    member = relative(relationship=R.PARTNER, passport=PassportType.ORDINARY)
    assert judged(member) == {NOT_RECOGNIZED, "diplomatic-passport-required"}
