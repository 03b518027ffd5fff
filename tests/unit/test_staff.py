"""Who may hold which status (docs/domain/staff.md): each staff category against each status, the Cooperante
status and its APCI evidence, a Peruvian national. Each row is checked both ways, with its rule code."""

from __future__ import annotations

import datetime as dt
import string

import pytest

from services.authorization.rules import MESSAGES, Violation, assess
from shared.contracts import ApciRegistration, PassportType, SponsorKind
from shared.contracts import ImmigrationStatus as Status
from shared.contracts import StaffCategory as Staff
from tests.support.rules import APCI, TODAY, person, relative, request

STAFF, APCI_MISSING, PERUVIAN = "staff-category-status", "apci-registration-missing", "peruvian-national"

# The packaged table (services/authorization/rulebook/staff.toml): the statuses each category may ask for.
MAY_ASK = {
    Staff.DIPLOMATIC_AGENT: {Status.DIPLOMATIC_RESIDENT, Status.SHORT_STAY},
    Staff.ADMINISTRATIVE_TECHNICAL_STAFF: {Status.OFFICIAL_RESIDENT, Status.SHORT_STAY},
    Staff.SERVICE_STAFF: {Status.OFFICIAL_RESIDENT, Status.SHORT_STAY},
    Staff.CONSULAR_OFFICER_OR_EMPLOYEE: {Status.CONSULAR_RESIDENT, Status.SHORT_STAY},
    Staff.INTERNATIONAL_ORGANIZATION_OFFICIAL: {Status.OFFICIAL_RESIDENT, Status.SHORT_STAY},
    Staff.COOPERANT: {Status.COOPERANT, Status.SHORT_STAY},
}
MATRIX = [(category, status) for category in Staff for status in Status]


def everyone(r) -> dict[str, set[str]]:
    return {p.person_id: {v.rule for v in p.violations} for p in assess(r, today=TODAY).people}


def test_the_table_has_every_category():
    assert set(MAY_ASK) == set(Staff)


@pytest.mark.parametrize(("category", "status"), MATRIX, ids=[f"{c.value}-{s.value}" for c, s in MATRIX])
def test_each_staff_category_against_each_status(category, status):
    posting = {"posting_end": None} if status == Status.SHORT_STAY else {}
    r = request(status=status, staff=category, **posting)  # the sponsor, evidence and passports fit the status
    if status in MAY_ASK[category]:
        assert everyone(r) == {"p0": set(), "p1": set()}
    else:  # a request-level rule: everyone is denied, the family also through the principal
        assert everyone(r) == {"p0": {STAFF}, "p1": {STAFF, "principal-ineligible"}}


def test_the_staff_message_names_the_category_what_it_may_ask_for_and_the_status():
    a = assess(request(status=Status.OFFICIAL_RESIDENT, staff=Staff.DIPLOMATIC_AGENT), today=TODAY)
    [violation] = a.for_person("p0").violations
    assert violation.message == (
        "The principal is a diplomatic agent, who may ask for Diplomatic resident or Short stay; the request asks "
        "for Official resident status."
    )
    assert dict(violation.params) == {
        "category": "a diplomatic agent",
        "allowed": "Diplomatic resident or Short stay",
        "status": "Official resident",
    }


def test_a_request_without_a_staff_category_is_not_judged_by_it():
    # An event from an intake older than the field: judged as before, by the sponsor and the other rules.
    for status in Status:
        posting = {"posting_end": None} if status == Status.SHORT_STAY else {}
        assert STAFF not in everyone(request(status=status, staff=None, **posting))["p0"], status


# --- Cooperante: an ENIEX's staff, with its registration with APCI -------------------------------------------

APCI_CASES = [
    pytest.param(APCI, set(), id="registered"),
    pytest.param(ApciRegistration(number="ENIEX-0421", date=TODAY), set(), id="registered-today"),
    pytest.param(None, {APCI_MISSING}, id="no-registration"),
    pytest.param(
        ApciRegistration.model_construct(number="  ", date=dt.date(2019, 6, 12)), {APCI_MISSING}, id="blank-number"
    ),
    pytest.param(
        ApciRegistration(number="ENIEX-0421", date=TODAY + dt.timedelta(days=1)), {APCI_MISSING}, id="dated-tomorrow"
    ),
]


@pytest.mark.parametrize(("apci", "found"), APCI_CASES)
def test_a_cooperant_needs_the_eniex_registration_with_apci(apci, found):
    r = request(status=Status.COOPERANT, apci=apci)
    expected = {"p0": found, "p1": found | ({"principal-ineligible"} if found else set())}
    assert everyone(r) == expected


def test_the_apci_messages():
    missing = assess(request(status=Status.COOPERANT, apci=None), today=TODAY).for_person("p0").violations[0]
    assert missing.message == (
        "Cooperant status rests on the ENIEX's registration with APCI (Peru's international-cooperation agency); "
        "the request gives none."
    )
    later = ApciRegistration(number="ENIEX-0421", date=dt.date(2025, 3, 4))
    dated = assess(request(status=Status.COOPERANT, apci=later), today=TODAY).for_person("p0").violations[0]
    assert dated.rule == APCI_MISSING
    assert "registration ENIEX-0421 is dated 2025-03-04, after today (2025-03-03)" in dated.message


@pytest.mark.parametrize("status", [s for s in Status if s != Status.COOPERANT], ids=str)
def test_no_other_status_needs_an_apci_registration(status):
    posting = {"posting_end": None} if status == Status.SHORT_STAY else {}
    assert APCI_MISSING not in everyone(request(status=status, apci=None, **posting))["p0"]


@pytest.mark.parametrize("sponsor", list(SponsorKind), ids=str)
def test_only_an_eniex_may_ask_for_cooperante(sponsor):
    found = everyone(request(status=Status.COOPERANT, sponsor=sponsor))["p0"]
    assert found == (set() if sponsor == SponsorKind.ENIEX else {"sponsor-not-entitled"})


def test_a_cooperant_is_a_resident_status_with_a_posting():
    assert everyone(request(status=Status.COOPERANT, posting_end=None))["p0"] == {"posting-period-invalid"}
    ordinary = person(passport=PassportType.ORDINARY)  # no passport rule for Cooperante
    assert everyone(request(status=Status.COOPERANT, principal=ordinary))["p0"] == set()


# --- a Peruvian national ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status), ids=str)
@pytest.mark.parametrize("who", ["principal", "spouse"])
def test_a_peruvian_national_is_refused_with_its_own_rule(status, who):
    posting = {"posting_end": None} if status == Status.SHORT_STAY else {}
    peruvian = (
        {"principal": person(nationality="PER")} if who == "principal" else {"family": [relative(nationality="PER")]}
    )
    found = everyone(request(status=status, **peruvian, **posting))
    if who == "principal":
        assert found == {"p0": {PERUVIAN}, "p1": {"principal-ineligible"}}
    else:
        assert found == {"p0": set(), "p1": {PERUVIAN}}
    foreign = everyone(request(status=status, **posting))
    assert foreign == {"p0": set(), "p1": set()}


# --- the messages: one template per message id, named parameters only -------------------------------------------


def test_every_message_is_one_template_with_named_parameters():
    for message_id, template in MESSAGES.items():
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        assert all(name.isidentifier() for name in fields), (message_id, fields)


def test_a_violation_is_its_code_and_parameters_and_reads_as_before():
    violation = Violation(
        "passport-expired", {"number": "X1", "who": "A B (p0)", "expires": "2025-04-01", "arrival": "2025-04-01"}
    )
    assert (
        violation.message
        == "Passport X1 of A B (p0) expires on 2025-04-01, not after the intended arrival on 2025-04-01."
    )
    assert str(violation) == f"passport-expired: {violation.message}"
    assert violation.message_id == "passport-expired" and violation.template == MESSAGES["passport-expired"]
    with pytest.raises(KeyError):
        Violation("no-such-rule")
    with pytest.raises(TypeError):
        violation.params["who"] = "someone else"  # type: ignore[index]
