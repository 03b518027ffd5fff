"""The Directorate's legal rules. Each test checks its rule both ways, so removing the rule fails it."""

from __future__ import annotations

import datetime as dt

import pytest

from services.authorization.rules import Assessment, Violation, assess, validity
from shared.contracts import ImmigrationStatus, PassportType, Relationship, RequestSubmitted, SponsorKind
from shared.treaties.model import TreatyEntry, TreatyList
from tests.support.rules import ARRIVAL, TODAY, person, relative, request

Status, Kind, PT = ImmigrationStatus, SponsorKind, PassportType


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
