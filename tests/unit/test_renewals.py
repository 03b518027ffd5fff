"""Which visas a renewal may renew, and whom a notice of the end of functions concerns (services/intake/renewals.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from services.intake.progress import Status
from services.intake.renewals import NotRenewable, ended_by_notice, renewable, why_not_renewable
from shared.contracts import ImmigrationStatus

TODAY = dt.date(2028, 3, 1)
RESIDENT = ImmigrationStatus.DIPLOMATIC_RESIDENT


@dataclass
class Held:
    person_id: str
    role: str
    position: int
    status: str = Status.ISSUED
    visa_number: str | None = None
    visa_valid_until: dt.date | None = dt.date(2029, 1, 1)

    def __post_init__(self) -> None:
        if self.visa_number is None and self.status in (Status.ISSUED, Status.CANCELLED, Status.SUPERSEDED):
            self.visa_number = f"PE000000{self.position}"


def family(**changes: dict) -> list[Held]:
    """The principal (p0), a spouse (p1) and a child (p2), each holding a visa, with ``changes`` per person."""
    people = [Held("p0", "PRINCIPAL", 0), Held("p1", "FAMILY", 1), Held("p2", "FAMILY", 2)]
    for person in people:
        for name, value in changes.get(person.person_id, {}).items():
            setattr(person, name, value)
    return people


@pytest.mark.parametrize(
    ("held", "renewing", "reason"),
    [
        (Held("p0", "PRINCIPAL", 0), (), None),
        (Held("p0", "PRINCIPAL", 0, visa_valid_until=TODAY), (), None),  # valid through today
        (Held("p0", "PRINCIPAL", 0, visa_valid_until=TODAY - dt.timedelta(days=1)), (), "expired on"),
        (Held("p0", "PRINCIPAL", 0, status=Status.CANCELLED), (), "was cancelled"),
        (Held("p0", "PRINCIPAL", 0, status=Status.SUPERSEDED), (), "already renewed"),
        (Held("p0", "PRINCIPAL", 0), ("PE0000000",), "already being renewed"),
        (Held("p0", "PRINCIPAL", 0, status=Status.AUTHORIZED), (), "holds no issued visa"),
        (Held("p0", "PRINCIPAL", 0, status=Status.DENIED), (), "holds no issued visa"),
        (Held("p0", "PRINCIPAL", 0, status=Status.UNDER_REVIEW), (), "holds no issued visa"),
    ],
    ids=[
        "issued",
        "last-day",
        "expired",
        "cancelled",
        "superseded",
        "being-renewed",
        "authorized",
        "denied",
        "pending",
    ],
)
def test_why_a_visa_is_not_renewable(held, renewing, reason):
    found = why_not_renewable(held, renewing=renewing, today=TODAY)
    assert found is None if reason is None else reason in found


def test_by_default_every_standing_visa_is_renewed_principal_first():
    people = family(p1={"status": Status.CANCELLED})
    chosen = renewable(RESIDENT, list(reversed(people)), None, renewing=(), today=TODAY)
    assert [p.person_id for p in chosen] == ["p0", "p2"]


def test_named_people_are_renewed_with_the_principal():
    chosen = renewable(RESIDENT, family(), ["p2", "p0"], renewing=(), today=TODAY)
    assert [p.person_id for p in chosen] == ["p0", "p2"]


@pytest.mark.parametrize(
    ("changes", "named", "reason"),
    [
        ({}, ["p2"], "renewed with the principal's"),
        ({"p0": {"status": Status.CANCELLED}}, None, "the principal's visa cannot be renewed"),
        ({"p2": {"status": Status.CANCELLED}}, ["p0", "p2"], "PE0000002 was cancelled"),
        ({"p1": {"visa_valid_until": dt.date(2027, 1, 1)}}, ["p0", "p1"], "PE0000001 expired on 2027-01-01"),
    ],
    ids=["family-alone", "principal-cancelled", "named-cancelled", "named-expired"],
)
def test_a_renewal_that_cannot_be_is_refused_with_the_reason(changes, named, reason):
    with pytest.raises(NotRenewable, match=reason):
        renewable(RESIDENT, family(**changes), named, renewing=(), today=TODAY)


def test_a_short_stay_is_not_renewed():
    with pytest.raises(NotRenewable, match="short-stay"):
        renewable(ImmigrationStatus.SHORT_STAY, family(), None, renewing=(), today=TODAY)


@pytest.mark.parametrize(
    ("changes", "named", "expected"),
    [
        ({}, [], ["p0", "p1", "p2"]),
        ({}, ["p2"], ["p2"]),
        ({"p2": {"status": Status.CANCELLED}}, ["p2"], []),  # already ended: a notice has nothing left to end
        ({"p2": {"status": Status.AUTHORIZED, "visa_number": None}}, ["p2"], ["p2"]),  # authorized, not issued yet
        ({"p1": {"status": Status.DENIED}, "p2": {"status": Status.SUPERSEDED}}, [], ["p0"]),
    ],
    ids=["everyone", "one", "already-cancelled", "not-yet-issued", "only-standing"],
)
def test_whom_a_notice_of_the_end_of_functions_concerns(changes, named, expected):
    assert ended_by_notice(family(**changes), named) == expected


@pytest.mark.parametrize(
    ("held", "renewing", "sentence"),
    [
        (
            Held("p0", "PRINCIPAL", 0, status=Status.UNDER_REVIEW),
            (),
            "p0 holds no issued visa to renew",
        ),
        (
            Held("p0", "PRINCIPAL", 0, status=Status.CANCELLED),
            (),
            "visa PE0000000 was cancelled: a cancelled visa is not renewed, submit a new request",
        ),
        (
            Held("p0", "PRINCIPAL", 0, status=Status.SUPERSEDED),
            (),
            "visa PE0000000 was already renewed: renew the visa that superseded it",
        ),
        (
            Held("p0", "PRINCIPAL", 0, visa_valid_until=dt.date(2028, 2, 29)),
            (),
            "visa PE0000000 expired on 2028-02-29: an expired visa is not renewed, submit a new request",
        ),
        (Held("p0", "PRINCIPAL", 0), ("PE0000000",), "visa PE0000000 is already being renewed"),
    ],
    ids=["pending", "cancelled", "superseded", "expired", "being-renewed"],
)
def test_the_reason_is_worded_in_full_naming_the_visa(held, renewing, sentence):
    """The whole sentence, not a fragment: the msgid is what the Spanish catalog translates."""
    assert why_not_renewable(held, renewing=renewing, today=TODAY) == sentence


@pytest.mark.parametrize(
    ("changes", "renewing", "sentence"),
    [
        (
            {"p0": {"status": Status.CANCELLED}},
            (),
            "the principal's visa cannot be renewed (visa PE0000000 was cancelled: a cancelled visa is not renewed, "
            "submit a new request), nor can the family's without it",
        ),
        (
            {"p0": {"visa_valid_until": dt.date(2028, 2, 1)}},
            (),
            "the principal's visa cannot be renewed (visa PE0000000 expired on 2028-02-01: an expired visa is not "
            "renewed, submit a new request), nor can the family's without it",
        ),
        (
            {},
            ("PE0000000",),
            "the principal's visa cannot be renewed (visa PE0000000 is already being renewed), nor can the family's "
            "without it",
        ),
    ],
    ids=["cancelled", "expired", "being-renewed"],
)
def test_a_renewal_of_everyone_without_the_principal_names_the_principals_reason(changes, renewing, sentence):
    """The family's visas still stand; the reason given is the principal's (listed last here, first by position)."""
    with pytest.raises(NotRenewable) as refused:
        renewable(RESIDENT, list(reversed(family(**changes))), None, renewing=renewing, today=TODAY)
    assert str(refused.value) == sentence


@pytest.mark.parametrize(
    ("status", "named", "sentence"),
    [
        (ImmigrationStatus.SHORT_STAY, None, "a short-stay visa is not renewed: submit a new request for a new stay"),
        (RESIDENT, ["p1"], "a family member's visa is renewed with the principal's: name the principal too"),
    ],
    ids=["short-stay", "family-alone"],
)
def test_a_refused_renewal_is_worded_in_full(status, named, sentence):
    with pytest.raises(NotRenewable) as refused:
        renewable(status, family(), named, renewing=(), today=TODAY)
    assert str(refused.value) == sentence
