"""The Directorate's legal rules. Each test checks its rule both ways, so removing the rule fails it."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.authorization.rulebook import Rulebook, StaffRules, packaged
from services.authorization.rules import (
    Assessment,
    Violation,
    assess,
    implausible_fields,
    staff_category,
    validity,
    waiver_of,
)
from shared.contracts import (
    ApciRegistration,
    FamilyCondition,
    ImmigrationStatus,
    NoteVerbale,
    PassportType,
    Relationship,
    RequestSubmitted,
    SponsorKind,
)
from shared.contracts import StaffCategory as Staff
from shared.contracts.people import existing_country_code
from shared.treaties.model import TreatyEntry, TreatyList
from tests.support.rules import ARRIVAL, TODAY, person, relative, request

Status, Kind, PT = ImmigrationStatus, SponsorKind, PassportType
STAFF, APCI_MISSING = "staff-category-status", "apci-registration-missing"
DOCUMENTATION, POSTING = "documentation-missing", "posting-period-invalid"


def rules(a: Assessment, pid="p0") -> set[str]:
    return {v.rule for v in a.for_person(pid).violations}


def everyone(a: Assessment) -> dict[str, set[str]]:
    return {p.person_id: {v.rule for v in p.violations} for p in a.people}


def message(a: Assessment, pid: str, rule: str) -> str:
    return next(v.message for v in a.for_person(pid).violations if v.rule == rule)


# --- 1. sponsor-not-entitled -----------------------------------------------------------------------

ENTITLED = {
    (Kind.GOVERNMENT, Status.DIPLOMATIC_RESIDENT): True,
    (Kind.GOVERNMENT, Status.CONSULAR_RESIDENT): True,
    (Kind.GOVERNMENT, Status.OFFICIAL_RESIDENT): True,
    (Kind.GOVERNMENT, Status.SHORT_STAY): True,
    (Kind.INTERNATIONAL_ORGANIZATION, Status.DIPLOMATIC_RESIDENT): False,
    (Kind.INTERNATIONAL_ORGANIZATION, Status.CONSULAR_RESIDENT): False,
    (Kind.INTERNATIONAL_ORGANIZATION, Status.OFFICIAL_RESIDENT): True,
    (Kind.INTERNATIONAL_ORGANIZATION, Status.SHORT_STAY): True,
    (Kind.ENIEX, Status.DIPLOMATIC_RESIDENT): False,
    (Kind.ENIEX, Status.CONSULAR_RESIDENT): False,
    (Kind.ENIEX, Status.OFFICIAL_RESIDENT): False,
    (Kind.ENIEX, Status.SHORT_STAY): True,
    (Kind.GOVERNMENT, Status.COOPERANT): False,
    (Kind.INTERNATIONAL_ORGANIZATION, Status.COOPERANT): False,
    (Kind.ENIEX, Status.COOPERANT): True,
}


def test_matrix_is_complete():
    assert set(ENTITLED) == {(k, s) for k in Kind for s in Status}


@pytest.mark.parametrize(("sponsor", "status"), sorted(ENTITLED), ids=lambda v: v.value)
def test_sponsor_status_matrix(sponsor, status):
    a = assess(request(sponsor=sponsor, status=status), today=TODAY)
    if ENTITLED[sponsor, status]:
        assert everyone(a) == {"p0": set(), "p1": set()}
        assert a.anyone_eligible
    else:  # a request-level rule: everyone is denied, the family also through the principal
        assert everyone(a) == {"p0": {"sponsor-not-entitled"}, "p1": {"sponsor-not-entitled", "principal-ineligible"}}
        assert not a.anyone_eligible


def test_sponsor_message_names_status_and_sponsor_kind():
    a = assess(request(sponsor=Kind.ENIEX, status=Status.OFFICIAL_RESIDENT), today=TODAY)
    text = message(a, "p0", "sponsor-not-entitled")
    assert "Official resident" in text and "ENIEX" in text and "international organization" in text


# --- 2. documentation-missing ----------------------------------------------------------------------


def _blank_number(r: RequestSubmitted) -> RequestSubmitted:
    # The contract already rejects a blank number; the rule still guards against unvalidated data.
    return r.model_copy(update={"note_verbale": r.note_verbale.model_copy(update={"number": "  "})})


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize(
    "defective",
    [
        pytest.param(lambda s: request(status=s, note_date=TODAY + dt.timedelta(days=1)), id="note-dated-after-today"),
        pytest.param(lambda s: request(status=s, function="   "), id="function-blank"),
        pytest.param(lambda s: _blank_number(request(status=s)), id="note-number-blank"),
    ],
)
def test_documentation_missing(defective, status):
    assert everyone(assess(request(status=status, note_date=TODAY), today=TODAY)) == {"p0": set(), "p1": set()}
    a = assess(defective(status), today=TODAY)
    assert everyone(a) == {"p0": {"documentation-missing"}, "p1": {"documentation-missing", "principal-ineligible"}}


# --- 3. posting-period-invalid ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [s for s in Status if s != Status.SHORT_STAY])
def test_resident_status_needs_posting_end_after_arrival(status):
    assert rules(assess(request(status=status, posting_end=ARRIVAL + dt.timedelta(days=1)), today=TODAY)) == set()
    for end in (None, ARRIVAL, ARRIVAL - dt.timedelta(days=1)):
        a = assess(request(status=status, posting_end=end), today=TODAY)
        assert rules(a) == {"posting-period-invalid"}
        assert "posting-period-invalid" in rules(a, "p1")


def test_short_stay_needs_no_posting_end():
    assert everyone(assess(request(status=Status.SHORT_STAY, posting_end=None), today=TODAY)) == {
        "p0": set(),
        "p1": set(),
    }
    assert rules(assess(request(status=Status.OFFICIAL_RESIDENT, posting_end=None), today=TODAY)) != set()


# --- 4. diplomatic-passport-required ---------------------------------------------------------------


def test_diplomatic_family_member_with_ordinary_passport_is_the_only_one_denied():
    family = [
        relative("p1", passport=PT.ORDINARY),
        relative("p2", given="Lucie", relationship=Relationship.CHILD, born=dt.date(2012, 1, 9)),
    ]
    a = assess(request(family=family), today=TODAY)
    assert everyone(a) == {"p0": set(), "p1": {"diplomatic-passport-required"}, "p2": set()}
    assert a.anyone_eligible
    assert "Jean Dupont (p1)" in message(a, "p1", "diplomatic-passport-required")
    assert "an ordinary passport" in message(a, "p1", "diplomatic-passport-required")


def test_diplomatic_principal_needs_diplomatic_passport():
    a = assess(request(principal=person(passport=PT.OFFICIAL)), today=TODAY)
    assert rules(a) == {"diplomatic-passport-required"}
    assert "Marie Dupont (p0)" in message(a, "p0", "diplomatic-passport-required")
    # The same people under consular or official status: no passport rule in docs/domain/statuses.md.
    for status in (Status.CONSULAR_RESIDENT, Status.OFFICIAL_RESIDENT):
        r = request(status=status, principal=person(passport=PT.OFFICIAL), family=[relative(passport=PT.ORDINARY)])
        assert everyone(assess(r, today=TODAY)) == {"p0": set(), "p1": set()}


# --- 5. passport-expired ---------------------------------------------------------------------------


def test_passport_must_expire_after_arrival():
    ok = request(family=[relative(expires_on=ARRIVAL + dt.timedelta(days=1))])
    assert everyone(assess(ok, today=TODAY)) == {"p0": set(), "p1": set()}
    for expires in (ARRIVAL, ARRIVAL - dt.timedelta(days=400)):
        a = assess(request(family=[relative(expires_on=expires)]), today=TODAY)
        assert everyone(a) == {"p0": set(), "p1": {"passport-expired"}}
        assert "Jean Dupont (p1)" in message(a, "p1", "passport-expired")


# --- 6. principal-ineligible -----------------------------------------------------------------------


def test_principal_failure_cascades_to_the_family():
    family = [relative("p1"), relative("p2", given="Lucie", passport=PT.ORDINARY)]
    a = assess(request(principal=person(expires_on=ARRIVAL), family=family), today=TODAY)
    assert everyone(a) == {
        "p0": {"passport-expired"},
        "p1": {"principal-ineligible"},
        "p2": {"diplomatic-passport-required", "principal-ineligible"},  # in addition to their own
    }
    assert not a.anyone_eligible
    text = message(a, "p1", "principal-ineligible")
    assert "Jean Dupont (p1)" in text and "Marie Dupont (p0)" in text and "passport-expired" in text


# --- 7. short stay: ordinary-passport, and waivers -------------------------------------------------


def test_short_stay_procedure_excludes_ordinary_passports():
    for kind in PT:
        a = assess(request(status=Status.SHORT_STAY, principal=person(passport=kind), family=[]), today=TODAY)
        assert rules(a) == ({"ordinary-passport"} if kind == PT.ORDINARY else set()), kind
    # Only the short-stay procedure: an official resident with an ordinary passport is fine.
    r = request(status=Status.OFFICIAL_RESIDENT, principal=person(passport=PT.ORDINARY))
    assert rules(assess(r, today=TODAY)) == set()


def treaty(country: str, *kinds: PassportType, **fields) -> TreatyEntry:
    return TreatyEntry(
        country=country,
        country_name=country,
        passport_types=kinds,
        instrument=f"agreement with {country}",
        source="El Peruano",
        verified=True,
        **({"max_stay_days": 90} | fields),
    )


def treaties(*entries: TreatyEntry) -> TreatyList:
    return TreatyList(version="2025-01-01.1", published=dt.date(2025, 1, 1), entries=entries)


MOROCCO = treaties(treaty("MAR", PT.SERVICE), treaty("FRA", PT.ORDINARY, PT.DIPLOMATIC, window_days=180))


def test_a_waiver_is_no_violation_the_person_needs_no_visa_and_is_told_the_treaty():
    family = [relative(nationality="ESP", passport=PT.SERVICE)]  # no treaty: needs a visa
    r = request(status=Status.SHORT_STAY, principal=person(nationality="MAR", passport=PT.SERVICE), family=family)
    a = assess(r, today=TODAY, waivers=MOROCCO)
    assert everyone(a) == {"p0": set(), "p1": set()}
    covered = a.for_person("p0").waiver
    assert covered is not None and covered.entry.instrument == "agreement with MAR" and covered.stay_days == 90
    assert a.for_person("p1").waiver is None and a.for_person("p1").validity is not None
    assert a.anyone_needs_a_visa  # the spouse
    alone = request(status=Status.SHORT_STAY, principal=person(nationality="MAR", passport=PT.SERVICE), family=[])
    assert not assess(alone, today=TODAY, waivers=MOROCCO).anyone_needs_a_visa


def test_no_waiver_means_a_visa_is_needed():
    principal = person(nationality="MAR", passport=PT.DIPLOMATIC)  # the treaty exempts service passports only
    short = request(status=Status.SHORT_STAY, principal=principal, family=[])
    for waivers in (MOROCCO, None, treaties()):  # wrong passport, no list given, not on the list
        a = assess(short, today=TODAY, waivers=waivers)
        assert rules(a) == set() and a.for_person("p0").waiver is None and a.anyone_needs_a_visa
    # Waivers cover short stays only: posted staff still need a resident status.
    posted = request(status=Status.OFFICIAL_RESIDENT, principal=person(nationality="MAR", passport=PT.SERVICE))
    a = assess(posted, today=TODAY, waivers=MOROCCO)
    assert a.for_person("p0").coverage is None and a.for_person("p0").waiver is None


def test_an_ordinary_passport_a_treaty_covers_needs_no_visa_rather_than_another_procedure():
    covered = request(status=Status.SHORT_STAY, principal=person(passport=PT.ORDINARY), family=[])
    a = assess(covered, today=TODAY, waivers=MOROCCO)
    assert rules(a) == set() and a.for_person("p0").waiver is not None
    uncovered = request(status=Status.SHORT_STAY, principal=person(nationality="ESP", passport=PT.ORDINARY), family=[])
    assert rules(assess(uncovered, today=TODAY, waivers=MOROCCO)) == {"ordinary-passport"}


def test_a_waiver_is_the_holders_own_not_derived_from_the_principal():
    # The principal (Spain, ordinary passport) needs the ordinary procedure; the French spouse needs no visa.
    family = [relative(nationality="FRA", passport=PT.DIPLOMATIC), relative("p2", nationality="ESP")]
    r = request(status=Status.SHORT_STAY, principal=person(nationality="ESP", passport=PT.ORDINARY), family=family)
    a = assess(r, today=TODAY, waivers=MOROCCO)
    assert everyone(a) == {"p0": {"ordinary-passport"}, "p1": set(), "p2": {"principal-ineligible"}}
    assert a.for_person("p1").waiver is not None
    # A rule of the person's own still denies: a waiver is no way around the legal rules.
    expired = request(status=Status.SHORT_STAY, principal=person(expires_on=ARRIVAL), family=[])
    a = assess(expired, today=TODAY, waivers=MOROCCO)
    assert "passport-expired" in rules(a) and a.for_person("p0").waiver is None


# --- assessment shape and validity -----------------------------------------------------------------


def test_assessment_lists_principal_first_then_family_in_order():
    family = [relative("p2", given="Lucie"), relative("p1")]
    a = assess(request(family=family), today=TODAY)
    assert [p.person_id for p in a.people] == ["p0", "p2", "p1"]
    with pytest.raises(KeyError):
        a.for_person("nobody")
    violation = Violation("ordinary-passport", {"who": "Marie Dupont (p0)"})
    assert str(violation) == f"ordinary-passport: {violation.message}"
    assert violation.message.startswith("Marie Dupont (p0) holds an ordinary passport")


def test_validity_of_a_resident_visa_ends_with_the_posting_or_the_passport():
    r = request(posting_end=dt.date(2028, 3, 31))
    assert validity(r, r.principal, today=TODAY) == (TODAY, dt.date(2028, 3, 31))
    short_passport = person(expires_on=dt.date(2027, 6, 30))
    r = request(posting_end=dt.date(2028, 3, 31), principal=short_passport)
    assert validity(r, r.principal, today=TODAY) == (TODAY, dt.date(2027, 6, 30))


def test_validity_of_a_short_stay_visa_is_90_days_from_arrival_or_the_passport():
    r = request(status=Status.SHORT_STAY, posting_end=None)
    assert validity(r, r.principal, today=TODAY) == (TODAY, ARRIVAL + dt.timedelta(days=90))
    r = request(status=Status.SHORT_STAY, posting_end=None, principal=person(expires_on=dt.date(2025, 5, 15)))
    assert validity(r, r.principal, today=TODAY) == (TODAY, dt.date(2025, 5, 15))


# --- peruvian-national -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_a_peruvian_spouse_gets_no_peruvian_visa_and_the_rest_of_the_family_is_unaffected(status):
    posting = {} if status == Status.SHORT_STAY else {"posting_end": dt.date(2028, 3, 31)}
    a = assess(
        request(
            status=status, family=[relative(nationality="PER")], principal=person(passport=PT.DIPLOMATIC), **posting
        ),
        today=TODAY,
    )
    assert "peruvian-national" in rules(a, "p1")
    assert "peruvian-national" not in rules(a, "p0")
    assert "Peruvian national" in message(a, "p1", "peruvian-national")


def test_a_peruvian_principal_takes_the_family_with_them():
    a = assess(request(principal=person(nationality="PER")), today=TODAY)
    assert everyone(a) == {"p0": {"peruvian-national"}, "p1": {"principal-ineligible"}}


def test_a_foreign_national_is_not_refused_as_peruvian():
    for nationality in ("FRA", "PRY", "PRT"):
        assert "peruvian-national" not in rules(assess(request(principal=person(nationality=nationality)), today=TODAY))


# --- the words of each finding: exact messages, and the boundaries they sit on ----------------------------------
# The rule codes above say who is denied; these say what each is told: every parameter of every message read, and
# each boundary checked on both sides.


def the(a: Assessment, pid: str, rule: str) -> Violation:
    [found] = [v for v in a.for_person(pid).violations if v.rule == rule]
    return found


def with_kinship(relationship: Relationship, *, status: Status | None = None, **changes) -> Rulebook:
    """The packaged rulebook with one relationship's kinship changed: for every status, or (``status``) for one."""
    book = packaged()
    kinship = replace(book.family.relationships[relationship], **changes)
    if status is None:
        family = replace(book.family, relationships={**book.family.relationships, relationship: kinship})
    else:
        family = replace(book.family, by_status={status: {relationship: kinship}})
    return replace(book, family=family)


def test_a_violation_keeps_its_parameters_as_an_immutable_mapping_of_strings():
    v = Violation("passport-expired", {"number": 7, "who": "Marie", "expires": ARRIVAL, "arrival": ARRIVAL})
    assert dict(v.params) == {"number": "7", "who": "Marie", "expires": "2025-04-01", "arrival": "2025-04-01"}
    with pytest.raises(TypeError):
        v.params["number"] = "8"  # type: ignore[index]
    assert v.message == "Passport 7 of Marie expires on 2025-04-01, not after the intended arrival on 2025-04-01."


def test_asking_for_a_person_the_request_does_not_hold_names_them():
    with pytest.raises(KeyError) as raised:
        assess(request(), today=TODAY).for_person("p9")
    assert raised.value.args == ("p9",)


def test_the_sponsor_message_names_the_status_who_may_ask_the_sponsor_and_its_kind():
    v = the(assess(request(sponsor=Kind.ENIEX), today=TODAY), "p0", "sponsor-not-entitled")
    assert v.message == (
        "Diplomatic resident status is granted only at the request of a foreign government; the sponsor Sponsor X "
        "is an ENIEX (foreign technical-cooperation entity)."
    )


def test_the_staff_message_names_the_category_the_statuses_it_may_ask_for_and_the_status():
    v = the(assess(request(status=Status.OFFICIAL_RESIDENT, staff=Staff.DIPLOMATIC_AGENT), today=TODAY), "p0", STAFF)
    assert v.message_id == STAFF
    assert v.message == (
        "The principal is a diplomatic agent, who may ask for Diplomatic resident or Short stay; the request asks "
        "for Official resident status."
    )


def test_a_staff_category_that_may_ask_for_nothing_is_told_so():
    nothing = StaffRules(allowances=(), apci_statuses=frozenset())
    [v] = staff_category(request(staff=Staff.DIPLOMATIC_AGENT), nothing)
    assert v.message_id == f"{STAFF}/none"
    assert v.message == (
        "The principal is a diplomatic agent, who may ask for no status; the request asks for Diplomatic resident "
        "status."
    )
    assert staff_category(request(staff=Staff.DIPLOMATIC_AGENT), packaged().staff) == []


def test_a_cooperante_request_without_an_apci_registration_is_told_which_status_needs_it():
    v = the(assess(request(status=Status.COOPERANT, apci=None), today=TODAY), "p0", APCI_MISSING)
    assert v.message_id == APCI_MISSING
    assert v.message == (
        "Cooperant status rests on the ENIEX's registration with APCI (Peru's international-cooperation agency); "
        "the request gives none."
    )


def test_an_apci_registration_dated_today_counts_and_one_dated_tomorrow_is_named_with_its_dates():
    today = ApciRegistration(number="ENIEX-0421", date=TODAY)
    assert rules(assess(request(status=Status.COOPERANT, apci=today), today=TODAY)) == set()
    tomorrow = ApciRegistration(number="ENIEX-0421", date=TODAY + dt.timedelta(days=1))
    v = the(assess(request(status=Status.COOPERANT, apci=tomorrow), today=TODAY), "p0", APCI_MISSING)
    assert v.message_id == f"{APCI_MISSING}/date"
    assert v.message == (
        "Cooperant status rests on the ENIEX's registration with APCI (Peru's international-cooperation agency); "
        "registration ENIEX-0421 is dated 2025-03-04, after today (2025-03-03)."
    )


@pytest.mark.parametrize("number", ["", None])
def test_a_note_verbale_without_a_number_is_missing_documentation(number):
    note = NoteVerbale.model_construct(number=number, date=dt.date(2025, 2, 20))
    v = the(assess(request().model_copy(update={"note_verbale": note}), today=TODAY), "p0", DOCUMENTATION)
    assert v.message == "Official documentation is incomplete: the note verbale has no number."


@pytest.mark.parametrize("function", ["", None])
def test_a_request_without_a_function_is_missing_documentation(function):
    v = the(assess(request().model_copy(update={"function": function}), today=TODAY), "p0", DOCUMENTATION)
    assert v.message == "Official documentation is incomplete: the function to be performed is not stated."


def test_a_note_verbale_dated_after_today_is_named_with_its_dates():
    assert rules(assess(request(note_date=TODAY), today=TODAY)) == set()
    v = the(assess(request(note_date=TODAY + dt.timedelta(days=1)), today=TODAY), "p0", DOCUMENTATION)
    assert v.message == (
        "Official documentation is incomplete: note verbale NV 5-12-M/034 is dated 2025-03-04, after today "
        "(2025-03-03)."
    )


def test_the_posting_message_names_the_arrival_and_the_posting_end_or_its_absence():
    none = the(assess(request(posting_end=None), today=TODAY), "p0", POSTING)
    assert none.message_id == f"{POSTING}/none"
    assert none.message == (
        "A resident status needs a posting end date after the intended arrival (2025-04-01); the request gives none."
    )
    same_day = the(assess(request(posting_end=ARRIVAL), today=TODAY), "p0", POSTING)
    assert same_day.message_id == POSTING
    assert same_day.message == (
        "A resident status needs a posting end date after the intended arrival (2025-04-01); the request gives "
        "2025-04-01."
    )
    assert rules(assess(request(posting_end=ARRIVAL + dt.timedelta(days=1)), today=TODAY)) == set()


def test_the_implausible_request_message_names_each_field_with_its_problem():
    p = person()
    p = p.model_copy(update={"nationality": "ZZZ", "passport": p.passport.model_copy(update={"issuing_state": "ZZZ"})})
    with pytest.raises(ValueError) as raised:
        existing_country_code("ZZZ")
    problem = str(raised.value)
    v = the(assess(request(principal=p), today=TODAY), "p0", "implausible-request")
    assert v.params == {"fields": f"principal.nationality {problem}; principal.passport.issuing_state {problem}"}
    assert v.message == f"The request holds implausible data: {v.params['fields']}."


def test_plausibility_is_judged_with_two_days_of_slack_from_the_submission():
    # Submitted on 2025-03-03: an arrival is plausible up to two years ahead, two days of slack included.
    assert implausible_fields(request(arrival=dt.date(2027, 3, 5))) == []
    found = implausible_fields(request(arrival=dt.date(2027, 3, 6)))
    assert [(name, str(problem)) for name, problem in found] == [
        ("intended_arrival", "is implausible: after 2027-03-05, more than 2 years ahead")
    ]


def short_stay_leaving(departure: dt.date) -> RequestSubmitted:
    return request(status=Status.SHORT_STAY, posting_end=None).model_copy(update={"intended_departure": departure})


def test_a_departure_on_the_day_of_arrival_is_plausible_and_one_the_day_before_is_not():
    assert implausible_fields(short_stay_leaving(ARRIVAL)) == []
    found = implausible_fields(short_stay_leaving(ARRIVAL - dt.timedelta(days=1)))
    assert [(name, str(problem)) for name, problem in found] == [
        ("intended_departure", "is before the intended arrival")
    ]


def test_a_departure_more_than_ten_years_after_the_arrival_is_implausible():
    assert implausible_fields(short_stay_leaving(dt.date(2035, 4, 3))) == []  # ten years and two days of slack
    found = implausible_fields(short_stay_leaving(dt.date(2035, 4, 4)))
    assert [(name, str(problem)) for name, problem in found] == [
        ("intended_departure", "is implausible: after 2035-04-03, more than 10 years after the arrival")
    ]


def test_the_peruvian_national_message_names_the_person():
    v = the(assess(request(principal=person(nationality="PER")), today=TODAY), "p0", "peruvian-national")
    assert v.message == (
        "Marie Dupont (p0) is a Peruvian national: the Directorate's statuses are granted to foreigners only, and a "
        "Peruvian enters Peru as a national."
    )


def test_a_family_member_without_a_relationship_is_named():
    v = the(assess(request(family=[relative(relationship=None)]), today=TODAY), "p1", "relationship-not-recognized")
    assert v.message_id == "relationship-not-recognized/none"
    assert v.message == (
        "Jean Dupont (p1) is declared as a family member with no relationship: the Directorate counts as family only "
        "the relationships it recognizes."
    )


def test_a_relationship_counted_only_with_a_condition_names_the_member_the_relationship_and_the_condition():
    book = with_kinship(Relationship.OTHER_DEPENDANT, recognized=True)  # requires DEPENDENCY, as packaged
    dependant = relative(relationship=Relationship.OTHER_DEPENDANT)
    v = the(assess(request(family=[dependant]), today=TODAY, rulebook=book), "p1", "family-condition-required")
    assert v.message == (
        "another dependant counts as a member of the family nucleus only when declared with dependency on the "
        "principal; Jean Dupont (p1) is declared without it."
    )
    declared = relative(relationship=Relationship.OTHER_DEPENDANT, conditions=[FamilyCondition.DEPENDENCY])
    assert rules(assess(request(family=[declared]), today=TODAY, rulebook=book), "p1") == set()


@pytest.mark.parametrize(
    ("born", "age"),
    [
        pytest.param(dt.date(2003, 4, 2), "21", id="the-day-before-the-22nd-birthday"),
        pytest.param(dt.date(2003, 4, 1), "22", id="on-the-22nd-birthday"),
        pytest.param(dt.date(2004, 4, 1), "21", id="on-the-21st-birthday"),
    ],
)
def test_the_age_limit_message_counts_whole_years_on_the_arrival(born, age):
    child = relative(relationship=Relationship.CHILD, born=born)
    v = the(assess(request(family=[child]), today=TODAY), "p1", "family-age-limit")
    assert v.message_id == "family-age-limit"
    assert v.message == (
        f"Jean Dupont (p1), born on {born}, is {age} on the intended arrival (2025-04-01); a child counts as a "
        "member of the family nucleus only under the age of 21."
    )


def test_a_child_the_day_before_the_21st_birthday_still_counts():
    child = relative(relationship=Relationship.CHILD, born=dt.date(2004, 4, 2))
    assert rules(assess(request(family=[child]), today=TODAY), "p1") == set()


def test_the_diplomatic_passport_message_words_the_principal_and_a_family_member_apart():
    a = assess(request(principal=person(passport=PT.OFFICIAL)), today=TODAY)
    v = the(a, "p0", "diplomatic-passport-required")
    assert v.message_id == "diplomatic-passport-required"
    assert v.message == (
        "Diplomatic resident status requires the official to hold a diplomatic passport; Marie Dupont (p0) holds "
        "an official passport."
    )
    v = the(assess(request(family=[relative(passport=PT.SERVICE)]), today=TODAY), "p1", "diplomatic-passport-required")
    assert v.message_id == "diplomatic-passport-required/family"
    assert v.message == (
        "Diplomatic resident status requires each family member to hold a diplomatic passport; Jean Dupont (p1) "
        "holds a service passport."
    )


def test_the_expired_passport_message_names_the_passport_its_holder_and_both_dates():
    v = the(assess(request(principal=person(expires_on=ARRIVAL)), today=TODAY), "p0", "passport-expired")
    assert v.message == (
        "Passport XP04567 of Marie Dupont (p0) expires on 2025-04-01, not after the intended arrival on 2025-04-01."
    )


def test_the_ordinary_passport_message_names_the_holder():
    r = request(status=Status.SHORT_STAY, posting_end=None, principal=person(passport=PT.ORDINARY))
    v = the(assess(r, today=TODAY), "p0", "ordinary-passport")
    assert v.message == (
        "Marie Dupont (p0) holds an ordinary passport; this procedure covers diplomatic, special, official and "
        "service passports and laissez-passer."
    )


class Recording:
    """A treaty list without entries that records what it is asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, dt.date]] = []

    def candidates(self, nationality: str, issuing_state: str, on: dt.date) -> tuple[TreatyEntry, ...]:
        self.asked.append((nationality, issuing_state, on))
        return ()


def test_the_treaty_list_is_asked_by_nationality_issuing_state_and_arrival():
    p = person()
    p = p.model_copy(update={"passport": p.passport.model_copy(update={"issuing_state": "BEL"})})
    lookup = Recording()
    coverage = waiver_of(request(status=Status.SHORT_STAY, posting_end=None, principal=p), p, lookup)
    assert lookup.asked == [("FRA", "BEL", ARRIVAL)]
    assert not coverage.covered
    [(_, [shortfall])] = coverage.shortfalls
    assert shortfall.message == "no waiver treaty in force covers FRA nationals or passports of BEL."


def test_a_person_the_rules_deny_has_no_validity():
    a = assess(request(principal=person(expires_on=ARRIVAL)), today=TODAY)
    assert a.for_person("p0").validity is None
    assert a.for_person("p1").validity is None  # denied through the principal
    assert assess(request(), today=TODAY).for_person("p1").validity == (TODAY, dt.date(2028, 3, 31))


def test_the_validity_assess_gives_is_judged_by_the_rulebook_it_is_given():
    book = with_kinship(Relationship.CHILD, age_limit=18)
    child = relative(relationship=Relationship.CHILD, born=dt.date(2008, 1, 10))
    r = request(family=[child])
    assert assess(r, today=TODAY, rulebook=book).for_person("p1").validity == (TODAY, dt.date(2026, 1, 9))
    assert assess(r, today=TODAY).for_person("p1").validity == (TODAY, dt.date(2028, 3, 31))


def test_a_dependant_joining_an_authorization_no_longer_in_force_keeps_their_own_findings_and_is_told_why():
    joining = request(family=[relative(passport=PT.SERVICE)]).model_copy(update={"joins": "r-0"})
    a = assess(joining, today=TODAY, principal_authorized=False)
    assert rules(a, "p1") == {"diplomatic-passport-required", "principal-not-authorized"}
    v = the(a, "p1", "principal-not-authorized")
    assert v.message == (
        "Jean Dupont (p1) joins the family of the principal, Marie Dupont (p0), who holds no authorization in force "
        "under request r-0: a family member's status derives from the principal's."
    )


def test_the_principals_reasons_are_listed_once_each_in_the_familys_message():
    a = assess(request(principal=person(passport=PT.OFFICIAL, expires_on=ARRIVAL)), today=TODAY)
    v = the(a, "p1", "principal-ineligible")
    assert v.message == (
        "The status of Jean Dupont (p1) derives from the principal, Marie Dupont (p0), who is not eligible "
        "(diplomatic-passport-required, passport-expired)."
    )


def test_validity_reads_an_age_limit_for_a_family_member_only():
    # A principal's relationship field, if set, is not a kinship: no age limit ends their visa.
    principal = person(relationship=Relationship.CHILD, born=dt.date(2006, 1, 10))
    r = request(principal=principal)
    assert validity(r, principal, today=TODAY) == (TODAY, dt.date(2028, 3, 31))
    member = relative(relationship=None)
    assert validity(request(family=[member]), member, today=TODAY) == (TODAY, dt.date(2028, 3, 31))


def test_validity_reads_the_kinship_of_the_requests_status():
    book = with_kinship(Relationship.CHILD, status=Status.DIPLOMATIC_RESIDENT, age_limit=18)
    child = relative(relationship=Relationship.CHILD, born=dt.date(2008, 1, 10))
    r = request(family=[child])
    assert validity(r, child, today=TODAY, rulebook=book) == (TODAY, dt.date(2026, 1, 9))
    consular = request(status=Status.CONSULAR_RESIDENT, family=[child])
    assert validity(consular, child, today=TODAY, rulebook=book) == (TODAY, dt.date(2028, 3, 31))
