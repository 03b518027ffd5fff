"""Plausibility (docs/plausibility.md): bounds, date arithmetic that cannot overflow, existing countries, names."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from services.authorization.cases import decide, outcome
from services.authorization.rules import MAX_VALIDITY_YEARS, assess, implausible_fields, validity
from shared.contracts import (
    AuthorizationDenied,
    ImmigrationStatus,
    NoteVerbale,
    Passport,
    PassportType,
    Person,
    RequestSubmitted,
    Sex,
    Sponsor,
    SponsorKind,
)
from shared.contracts.people import Plausibility, add_days, add_years, existing_country_code
from shared.mrz import transliterate
from shared.treaties.model import load_bundled
from tests.support.rules import worded

TODAY = dt.date(2026, 11, 30)
SUBMITTED = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


def person(pid="p0", *, role="PRINCIPAL", born=dt.date(1974, 8, 12), expires=dt.date(2031, 1, 1), **kw) -> Person:
    fields = {"surnames": "Eriksson", "given_names": "Anna", "nationality": "SWE", "issuing_state": "SWE"} | kw
    return Person(
        person_id=pid,
        role=role,
        relationship="SPOUSE" if role == "FAMILY" else None,
        surnames=fields["surnames"],
        given_names=fields["given_names"],
        sex=Sex.FEMALE,
        date_of_birth=born,
        nationality=fields["nationality"],
        passport=Passport(
            number="D1234567", type=PassportType.DIPLOMATIC, issuing_state=fields["issuing_state"], expires_on=expires
        ),
    )


def request(
    *,
    status=ImmigrationStatus.DIPLOMATIC_RESIDENT,
    note=dt.date(2026, 11, 20),
    arrival=dt.date(2027, 1, 15),
    posting_end=dt.date(2030, 1, 14),
    principal=None,
    family=(),
) -> RequestSubmitted:
    return RequestSubmitted(
        request_id="r1",
        sponsor=Sponsor(id="s1", kind=SponsorKind.GOVERNMENT, name="Embassy of Sweden", country="SWE"),
        immigration_status=status,
        note_verbale=NoteVerbale(number="NV-123/2026", date=note),
        function="First Secretary",
        intended_arrival=arrival,
        posting_end=posting_end,
        principal=principal or person(),
        family=tuple(family),
        submitted_at=SUBMITTED,
    )


def the_jam() -> RequestSubmitted:
    """The request that jammed authorization: a short stay arriving 9999-12-30, a passport valid to 9999-12-31."""
    return request(
        status=ImmigrationStatus.SHORT_STAY,
        arrival=dt.date(9999, 12, 30),
        posting_end=None,
        principal=person(expires=dt.date(9999, 12, 31)),
    )


# --- date arithmetic ----------------------------------------------------------------------------------------


def test_day_arithmetic_is_clamped_instead_of_overflowing():
    assert add_days(dt.date(9999, 12, 30), 90) == dt.date.max
    assert add_days(dt.date(1, 1, 2), -90) == dt.date.min
    assert add_days(dt.date(2026, 1, 1), 90) == dt.date(2026, 4, 1)
    assert add_years(dt.date(9999, 12, 30), 12) == dt.date.max
    assert add_years(dt.date(1, 1, 1), -1) == dt.date.min
    assert add_years(dt.date(2024, 2, 29), 1) == dt.date(2025, 2, 28)
    assert add_years(dt.date(2024, 2, 29), 4) == dt.date(2028, 2, 28)  # one rule for every year: the 28th
    assert add_years(dt.date(2026, 11, 30), -120) == dt.date(1906, 11, 30)


def test_the_short_stay_of_year_9999_gets_a_validity_without_overflow():
    jam = the_jam()
    assert validity(jam, jam.principal, today=TODAY) == (TODAY, add_years(TODAY, MAX_VALIDITY_YEARS))


EXTREMES = [dt.date.min, dt.date(1, 1, 2), dt.date(2026, 11, 30), dt.date(9999, 12, 30), dt.date.max]


@pytest.mark.parametrize("status", list(ImmigrationStatus))
def test_no_date_makes_the_domain_raise(status):
    """Every combination of extreme dates is assessed and decided, denied or granted, never an exception."""
    for note, arrival, posting_end, born, expires in itertools.product(EXTREMES, repeat=5):
        submitted = request(
            status=status,
            note=note,
            arrival=arrival,
            posting_end=posting_end,
            principal=person(born=born, expires=expires),
        )
        for today in (dt.date.min, TODAY, dt.date.max):
            decisions = decide(submitted, assess(submitted, today=today))
            outcome(decisions)
            validity(submitted, submitted.principal, today=today)


def test_validity_cap_never_shortens_a_plausible_posting():
    # The latest plausible posting: arrival 2 years ahead, posting end 10 years after it, decided at once.
    arrival = add_years(TODAY, 2)
    longest = request(
        arrival=arrival, posting_end=add_years(arrival, 10), principal=person(expires=add_years(TODAY, 20))
    )
    assert validity(longest, longest.principal, today=TODAY) == (TODAY, add_years(arrival, 10))


# --- the implausible-request rule --------------------------------------------------------------------------


def reasons(submitted: RequestSubmitted, today: dt.date = TODAY) -> list[str]:
    return [str(v) for p in assess(submitted, today=today).people for v in p.violations]


def test_the_jam_is_denied_as_implausible_naming_its_fields():
    jam = the_jam()

    decisions = decide(jam, assess(jam, today=TODAY))

    assert outcome(decisions) is AuthorizationDenied
    assert decisions[0].reasons == ("implausible-request",)
    [reason] = worded(decisions[0])
    assert reason.startswith("implausible-request: ")
    assert "intended_arrival is implausible" in reason
    assert "principal.passport.expires_on is implausible" in reason


IMPLAUSIBLE = {
    "born in year 1": (lambda: request(principal=person(born=dt.date(1, 1, 1))), "principal.date_of_birth"),
    "spouse born in year 1": (
        lambda: request(family=[person("p1", role="FAMILY", born=dt.date(1, 1, 1))]),
        "family[0].date_of_birth",
    ),
    "note verbale of year 1": (lambda: request(note=dt.date(1, 1, 1)), "note_verbale.date"),
    "passport to 9999": (
        lambda: request(principal=person(expires=dt.date(9999, 12, 31))),
        "principal.passport.expires_on",
    ),
    "resident arriving in 9999": (
        lambda: request(arrival=dt.date(9999, 1, 1), posting_end=dt.date(9999, 12, 31)),
        "intended_arrival",
    ),
    "posting of 11 years": (lambda: request(posting_end=dt.date(2038, 1, 16)), "posting_end"),
    "nationality ZZZ": (lambda: request(principal=person(nationality="ZZZ")), "principal.nationality"),
    "issuing state QQQ": (lambda: request(principal=person(issuing_state="QQQ")), "principal.passport.issuing_state"),
    "emoji in a name": (lambda: request(principal=person(given_names="Anna 😀")), "principal.given_names"),
}


@pytest.mark.parametrize("make, field", IMPLAUSIBLE.values(), ids=IMPLAUSIBLE.keys())
def test_implausible_data_in_an_event_is_denied_with_the_field_named(make, field):
    submitted = make()

    assert field in dict(implausible_fields(submitted))
    assert all(p.violations for p in assess(submitted, today=TODAY).people)
    assert any(r.startswith("implausible-request: ") and field in r for r in reasons(submitted))


def test_what_intake_admits_at_the_edges_is_plausible_whenever_the_case_is_decided():
    arrival = add_years(TODAY, 2)
    edge = request(
        note=add_years(TODAY, -2),
        arrival=arrival,
        posting_end=add_years(arrival, 10),
        principal=person(born=add_years(TODAY, -120), expires=add_years(TODAY, 20)),
    )

    assert implausible_fields(edge) == []
    for decided in (TODAY, add_years(TODAY, 1), add_years(TODAY, 3)):  # judged from the submission, not the decision
        assert not any(r.startswith("implausible-request") for r in reasons(edge, decided))


def test_plausibility_windows_and_slack():
    bounds = Plausibility(TODAY)
    assert bounds.date_of_birth(dt.date(1906, 11, 30)) is None
    assert "before 1906-11-30" in bounds.date_of_birth(dt.date(1906, 11, 29))
    assert bounds.note_verbale_date(dt.date(2024, 11, 30)) is None
    assert bounds.note_verbale_date(dt.date(2024, 11, 29))
    assert bounds.intended_arrival(dt.date(2028, 11, 30)) is None
    assert bounds.intended_arrival(dt.date(2028, 12, 1))
    assert bounds.posting_end(dt.date(2038, 11, 30), dt.date(2028, 11, 30)) is None
    assert bounds.posting_end(dt.date(2038, 12, 1), dt.date(2028, 11, 30))
    assert bounds.passport_expiry(dt.date(2046, 11, 30)) is None
    assert bounds.passport_expiry(dt.date(2046, 12, 1))
    assert Plausibility(TODAY, slack_days=2).intended_arrival(dt.date(2028, 12, 2)) is None
    assert Plausibility(dt.date.max).passport_expiry(dt.date.max) is None  # no overflow at the edges
    assert Plausibility(dt.date.min).date_of_birth(dt.date.min) is None


# --- countries, case, names -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ZZZ", "QQQ", "XXX", "UTO", "zzz"])
def test_country_codes_that_do_not_exist_are_refused(code):
    with pytest.raises(ValueError, match="not an existing ISO 3166-1 alpha-3"):
        existing_country_code(code)


def test_existing_codes_in_either_case_are_kept_upper_case():
    assert existing_country_code("swe") == "SWE"
    assert existing_country_code(" Per ") == "PER"
    assert existing_country_code("D<<") == existing_country_code("D") == "DEU"  # ICAO's Germany, one code throughout


@pytest.mark.parametrize("code", ["UNO", "XXA", "XXB", "EUE", "GBN", "XOM"])
def test_icao_codes_of_officials_documents_exist(code):
    # A UN laissez-passer holder or a stateless official is a sponsor's case too (ICAO 9303 Part 3).
    assert existing_country_code(code.lower()) == code


def test_every_country_of_the_treaty_list_exists():
    listed = {entry.country for entry in load_bundled().entries}
    assert listed
    for code in listed:
        assert existing_country_code(code) == code


def test_a_passport_number_is_case_blind_like_the_country_codes():
    passport = Passport(number=" d1234567 ", type=PassportType.DIPLOMATIC, issuing_state="swe", expires_on=TODAY)
    assert (passport.number, passport.issuing_state) == ("D1234567", "SWE")
    with pytest.raises(ValueError):
        Passport(number="d-1234567", type=PassportType.DIPLOMATIC, issuing_state="SWE", expires_on=TODAY)


@pytest.mark.parametrize(
    "name", ["Anna 😀", "😀", "Anna\u2764\ufe0f", "Ana €", "A+B", "Jos\u00e9 \U0001f1f5\U0001f1ea"]
)
def test_transliteration_refuses_symbols_instead_of_dropping_them(name):
    with pytest.raises(ValueError, match="cannot transliterate"):
        transliterate(name)


def test_apostrophes_still_carry_no_letter():
    assert transliterate("O`Neil") == transliterate("O'Neil") == transliterate("O\u02bcNeil") == "ONEIL"
