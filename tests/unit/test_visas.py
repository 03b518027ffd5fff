from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from services.issuance.visas import (
    MissingValidity,
    Standing,
    machine_readable_zone,
    standing,
    visa_number,
    visas_to_cancel,
    visas_to_issue,
)
from shared.contracts import Decision, ImmigrationStatus, Passport, PassportType, Person, PersonDecision, Sex
from shared.mrz import validate_mrv_a


def test_visa_numbers_fill_the_nine_characters_of_the_mrz_field():
    assert visa_number("PE", 1) == "PE0000001"
    assert visa_number("LIM", 42) == "LIM000042"
    with pytest.raises(OverflowError):
        visa_number("PE", 10**7)


def test_the_mrz_of_a_diplomatic_visa():
    person = Person(
        person_id="p0",
        role="PRINCIPAL",
        surnames="Eriksson",
        given_names="Anna María",
        sex=Sex.FEMALE,
        date_of_birth=dt.date(1974, 8, 12),
        nationality="SWE",
        passport=Passport(
            number="D1234567", type=PassportType.DIPLOMATIC, issuing_state="SWE", expires_on=dt.date(2032, 5, 1)
        ),
    )
    line1, line2 = machine_readable_zone(
        "PE0000001", person, ImmigrationStatus.DIPLOMATIC_RESIDENT, dt.date(2030, 1, 14)
    )
    assert line1 == "VDPERERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
    assert line2.startswith("PE00000018SWE7408122F3001145")
    assert validate_mrv_a(line1, line2) == []


@pytest.mark.parametrize(
    ("on", "cancelled", "expected"),
    [
        (dt.date(2027, 1, 1), False, Standing.VALID),
        (dt.date(2026, 12, 31), False, Standing.NOT_YET_VALID),
        (dt.date(2030, 1, 15), False, Standing.EXPIRED),
        (dt.date(2030, 1, 14), False, Standing.VALID),
        (dt.date(2027, 1, 1), True, Standing.CANCELLED),
        (dt.date(2031, 1, 1), True, Standing.CANCELLED),  # cancelled wins over expired
    ],
)
def test_a_verifier_sees_the_visa_standing(on, cancelled, expected):
    assert (
        standing(valid_from=dt.date(2027, 1, 1), valid_until=dt.date(2030, 1, 14), cancelled=cancelled, on=on)
        is expected
    )


# --- which visas a grant yields, and which a revocation cancels --------------------------------------------


def _person(person_id: str, *, expires_on: dt.date = dt.date(2032, 5, 1)) -> Person:
    return Person(
        person_id=person_id,
        role="PRINCIPAL" if person_id == "p0" else "FAMILY",
        relationship=None if person_id == "p0" else "SPOUSE",
        surnames="Eriksson",
        given_names="Anna",
        sex=Sex.FEMALE,
        date_of_birth=dt.date(1974, 8, 12),
        nationality="SWE",
        passport=Passport(number="D1234567", type=PassportType.DIPLOMATIC, issuing_state="SWE", expires_on=expires_on),
    )


def _granted(person: Person, until: dt.date = dt.date(2030, 1, 14)) -> PersonDecision:
    return PersonDecision(
        person_id=person.person_id,
        decision=Decision.GRANTED,
        person=person,
        valid_from=dt.date(2027, 1, 1),
        valid_until=until,
    )


def _denied(person: Person) -> PersonDecision:
    return PersonDecision(person_id=person.person_id, decision=Decision.DENIED, person=person, reasons=("officer: no",))


@dataclass
class Revocation:
    person_ids: tuple[str, ...] = ()
    visa_numbers: tuple[str, ...] = ()


@dataclass
class StandingVisa:
    person_id: str
    number: str | None


def test_a_grant_yields_a_visa_for_each_person_granted_and_none_for_the_denied():
    issue, withheld = visas_to_issue([_granted(_person("p0")), _denied(_person("p1"))], [])
    assert [(t.person_id, t.valid_from, t.valid_until) for t in issue] == [
        ("p0", dt.date(2027, 1, 1), dt.date(2030, 1, 14))
    ]
    assert withheld == []


def test_a_visa_never_outlives_the_passport():
    [terms], _ = visas_to_issue([_granted(_person("p0", expires_on=dt.date(2029, 6, 30)))], [])
    assert terms.valid_until == dt.date(2029, 6, 30)


def test_a_revocation_known_before_the_grant_withholds_the_people_it_names():
    decisions = [_granted(_person("p0")), _granted(_person("p1"))]
    issue, withheld = visas_to_issue(decisions, [Revocation(person_ids=("p1",))])
    assert [t.person_id for t in issue] == ["p0"] and withheld == ["p1"]
    # A revocation naming nobody covers the whole authorization.
    issue, withheld = visas_to_issue(decisions, [Revocation()])
    assert issue == [] and withheld == ["p0", "p1"]


def test_a_grant_without_validity_is_refused():
    decision = PersonDecision(person_id="p0", decision=Decision.GRANTED, person=_person("p0"))
    with pytest.raises(MissingValidity, match="p0"):
        visas_to_issue([decision], [])


def test_a_revocation_cancels_the_visas_it_names_by_person_or_number():
    visas = [StandingVisa("p0", "PE0000001"), StandingVisa("p1", "PE0000002"), StandingVisa("p2", "PE0000003")]
    assert visas_to_cancel(Revocation(person_ids=("p0",), visa_numbers=("PE0000003",)), visas) == [visas[0], visas[2]]
    assert visas_to_cancel(Revocation(), visas) == visas
    assert visas_to_cancel(Revocation(person_ids=("p9",)), visas) == []


# --- renewal: the new visa supersedes the old ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cancelled", "superseded", "expected"),
    [
        (False, True, Standing.SUPERSEDED),
        (True, True, Standing.CANCELLED),  # cancelled wins: a cancellation is what a border officer must see
        (False, False, Standing.VALID),
    ],
)
def test_a_superseded_visa_no_longer_stands(cancelled, superseded, expected):
    found = standing(
        valid_from=dt.date(2027, 1, 1),
        valid_until=dt.date(2030, 1, 14),
        cancelled=cancelled,
        superseded=superseded,
        on=dt.date(2028, 1, 1),
    )
    assert found is expected


def test_a_renewals_visa_names_the_visa_it_supersedes():
    renewal = _granted(_person("p0")).model_copy(update={"renews": "PE0000001"})
    issue, withheld = visas_to_issue([renewal, _granted(_person("p1"))], [])
    assert [(t.person_id, t.renews) for t in issue] == [("p0", "PE0000001"), ("p1", None)] and withheld == []


def test_a_renewal_of_a_visa_that_no_longer_stands_is_withheld():
    renewal = _granted(_person("p0")).model_copy(update={"renews": "PE0000001"})
    issue, withheld = visas_to_issue([renewal, _granted(_person("p1"))], [], ended={"PE0000001"})
    assert [t.person_id for t in issue] == ["p1"] and withheld == ["p0"]
    # Another visa having ended changes nothing for this renewal.
    issue, withheld = visas_to_issue([renewal], [], ended={"PE0000009"})
    assert [t.person_id for t in issue] == ["p0"] and withheld == []


def test_the_last_visa_number_of_a_prefix_and_the_overflow_named():
    assert visa_number("PE", 9_999_999) == "PE9999999"
    assert visa_number("LIMA", 10_000) == "LIMA10000"
    with pytest.raises(OverflowError, match="visa numbers with prefix 'LIMA' are exhausted"):
        visa_number("LIMA", 100_000)


def test_a_denial_before_a_grant_does_not_stop_the_grant():
    issue, withheld = visas_to_issue([_denied(_person("p0")), _granted(_person("p1"))], [])
    assert [t.person_id for t in issue] == ["p1"] and withheld == []


@pytest.mark.parametrize("missing", ["valid_from", "valid_until"])
def test_a_grant_missing_either_end_of_its_validity_is_refused(missing):
    decision = _granted(_person("p0")).model_copy(update={missing: None})
    with pytest.raises(MissingValidity, match="grant for p0 carries no validity"):
        visas_to_issue([decision], [])
