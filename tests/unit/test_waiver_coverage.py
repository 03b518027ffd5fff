"""Does a treaty cover a short stay? Each condition of ``shared/treaties/coverage.py`` both ways, table-driven."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from shared.contracts import PassportType, SponsorKind
from shared.settings import CommonSettings
from shared.treaties import load_bundled
from shared.treaties.cache import KEY_PREFIX, TreatyCache
from shared.treaties.coverage import Covered, Gap, NotCovered, Stay, add_months, judge, purpose_of, waiver
from shared.treaties.model import LIST_FORMAT, Purpose, TreatyEntry, TreatyList
from shared.treaties.wiring import treaty_cache

PT = PassportType
ARRIVAL = dt.date(2027, 1, 15)
FAR = dt.date(2032, 1, 1)


def entry(country: str = "IDN", **fields) -> TreatyEntry:
    base = {
        "country": country,
        "country_name": country,
        "passport_types": (PT.DIPLOMATIC, PT.SERVICE),
        "max_stay_days": 30,
        "instrument": f"agreement with {country}",
        "source": "El Peruano",
        "verified": True,
    }
    return TreatyEntry(**(base | fields))


def stay(**fields) -> Stay:
    base = {
        "nationality": "IDN",
        "issuing_state": "IDN",
        "passport_type": PT.DIPLOMATIC,
        "passport_expires_on": FAR,
        "arrival": ARRIVAL,
        "departure": None,
        "purpose": Purpose.OFFICIAL_ACTIVITY,
    }
    return Stay(**(base | fields))


def days(n: int) -> dt.date:
    """The departure of a stay of ``n`` days, arrival and departure included."""
    return ARRIVAL + dt.timedelta(days=n - 1)


# (what, the entry's fields, the stay's fields, the gaps found: empty means covered)
CASES = [
    # passport type
    ("a listed passport", {}, {"passport_type": PT.SERVICE}, set()),
    ("an unlisted passport", {}, {"passport_type": PT.ORDINARY}, {Gap.PASSPORT_TYPE}),
    # the length of the stay, arrival and departure included
    ("the longest stay allowed", {}, {"departure": days(30)}, set()),
    ("a day longer", {}, {"departure": days(31)}, {Gap.STAY_TOO_LONG}),
    ("a one-day stay", {}, {"departure": ARRIVAL}, set()),
    ("no departure: the maximum is assumed", {}, {}, set()),
    ("no maximum stated, a long stay", {"max_stay_days": None}, {"departure": days(400)}, set()),
    ("90 in 180: 90 days", {"max_stay_days": 90, "window_days": 180}, {"departure": days(90)}, set()),
    ("90 in 180: 91 days", {"max_stay_days": 90, "window_days": 180}, {"departure": days(91)}, {Gap.STAY_TOO_LONG}),
    # passport validity: months from entry, and through the departure
    ("valid exactly 6 months from entry", {"min_passport_validity_months": 6}, {"passport_expires_on": dt.date(2027, 7, 15)}, set()),
    ("a day short of 6 months", {"min_passport_validity_months": 6}, {"passport_expires_on": dt.date(2027, 7, 14)}, {Gap.PASSPORT_VALIDITY}),
    ("no minimum: valid through the departure", {}, {"passport_expires_on": days(10), "departure": days(10)}, set()),
    ("expires before the departure", {}, {"passport_expires_on": days(9), "departure": days(10)}, {Gap.PASSPORT_VALIDITY}),
    ("no departure: expiry is a condition, not a gap", {}, {"passport_expires_on": days(9)}, set()),
    # purposes
    ("official activity, which the treaty covers", {"purposes": ("OFFICIAL_ACTIVITY", "TRANSIT")}, {}, set()),
    ("another activity, which it does not", {"purposes": ("OFFICIAL_ACTIVITY", "TRANSIT")}, {"purpose": Purpose.OTHER}, {Gap.PURPOSE}),
    ("no purpose restricted", {"purposes": None}, {"purpose": Purpose.OTHER}, set()),
    # several at once: each is named
    (
        "wrong passport, too long, too little validity",
        {"min_passport_validity_months": 6},
        {"passport_type": PT.ORDINARY, "departure": days(45), "passport_expires_on": days(60)},
        {Gap.PASSPORT_TYPE, Gap.STAY_TOO_LONG, Gap.PASSPORT_VALIDITY},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("what", "treaty", "trip", "gaps"), CASES, ids=[case[0] for case in CASES])
def test_each_condition_both_ways(what, treaty, trip, gaps):
    found = judge((entry(**treaty),), stay(**trip))
    if gaps:
        assert isinstance(found, NotCovered) and not found.covered
        assert found.gaps == gaps
        [(judged, shortfalls)] = found.shortfalls
        assert judged.instrument == "agreement with IDN"
        assert all(str(s).startswith(f"{s.gap}: ") for s in shortfalls)
    else:
        assert isinstance(found, Covered) and found.covered
        assert found.entry.instrument == "agreement with IDN"


def test_a_covered_stay_names_the_treaty_its_maximum_and_every_condition():
    treaty = entry(
        max_stay_days=90,
        window_days=180,
        min_passport_validity_months=6,
        purposes=("OFFICIAL_ACTIVITY",),
        conditions=("not for a paid activity",),
    )
    found = judge((treaty,), stay(departure=days(20)))
    assert isinstance(found, Covered)
    assert (found.stay_days, found.stay_assumed) == (20, False)
    assert found.conditions == (
        "at most 90 days in any 180-day period: earlier stays in it count",
        "the passport must be valid 6 months from the date of entry",
        "for official activity only",
        "not for a paid activity",
    )


def test_without_a_departure_the_maximum_stay_is_assumed_and_said():
    found = judge((entry(),), stay(passport_expires_on=days(9)))
    assert isinstance(found, Covered)
    assert (found.stay_days, found.stay_assumed) == (30, True)
    assert found.conditions[0] == "at most 30 days from the date of entry"
    assert "assumed to end by 2027-02-13; a longer stay needs a visa" in found.conditions[1]
    assert "the passport expires on 2027-01-23: the stay must end by then" in found.conditions
    # An instrument stating no maximum: nothing to assume, and the answer says it states none.
    found = judge((entry(max_stay_days=None),), stay())
    assert isinstance(found, Covered) and (found.stay_days, found.stay_assumed) == (None, False)
    assert found.conditions == ("the instrument states no maximum stay",)


def test_the_shortfalls_say_what_failed_in_words():
    found = judge((entry(min_passport_validity_months=6),), stay(departure=days(31), passport_expires_on=days(40)))
    messages = {s.gap: s.message for _, shortfalls in found.shortfalls for s in shortfalls}
    assert "the stay of 31 days (2027-01-15 to 2027-02-14) is longer than the 30 days" in messages[Gap.STAY_TOO_LONG]
    assert "valid 6 months from entry (until 2027-07-15); it expires on 2027-02-23" in messages[Gap.PASSPORT_VALIDITY]
    found = judge((entry(passport_types=(PT.SERVICE,)),), stay())
    assert "exempts service passports, not diplomatic ones" in str(found.shortfalls[0][1][0])
    found = judge((entry(purposes=("OFFICIAL_ACTIVITY", "TRANSIT")),), stay(purpose=Purpose.OTHER))
    assert "covers official activity, transit to a third country, not another activity" in str(
        found.shortfalls[0][1][0]
    )


def test_the_first_entry_that_covers_wins_and_every_failure_is_kept_otherwise():
    bilateral = entry("LVA", purposes=("OFFICIAL_ACTIVITY",), max_stay_days=90)
    union = entry("LVA", instrument="EU-Peru", passport_types=(PT.ORDINARY, PT.DIPLOMATIC), max_stay_days=90)
    assert judge((bilateral, union), stay(nationality="LVA")).entry is bilateral
    assert judge((bilateral, union), stay(nationality="LVA", purpose=Purpose.OTHER)).entry is union
    found = judge((bilateral, union), stay(nationality="LVA", purpose=Purpose.OTHER, passport_type=PT.SERVICE))
    assert isinstance(found, NotCovered)
    assert [(e.instrument, {s.gap for s in gaps}) for e, gaps in found.shortfalls] == [
        ("agreement with LVA", {Gap.PURPOSE}),
        ("EU-Peru", {Gap.PASSPORT_TYPE}),
    ]


def test_no_entry_is_no_treaty():
    found = judge((), stay(nationality="USA", issuing_state="USA"))
    assert isinstance(found, NotCovered) and found.gaps == {Gap.NO_TREATY}
    assert found.shortfalls[0][0] is None
    assert "no waiver treaty in force covers USA nationals." in str(found.shortfalls[0][1][0])
    found = judge((), stay(nationality="USA", issuing_state="GBR"))
    assert "USA nationals or passports of GBR" in str(found.shortfalls[0][1][0])


LIST = TreatyList(
    version="2027-01-01.1",
    published=dt.date(2027, 1, 1),
    entries=(
        entry("VAT", decided_by="issuing_state", max_stay_days=None),
        entry("IDN", decided_by="nationality"),
        entry("TUR", verified=False, note="a visa agency's notice only", passport_types=(PT.ORDINARY,)),
        entry("ARE", in_force_from=dt.date(2027, 1, 16)),
    ),
)


@pytest.mark.parametrize(
    ("nationality", "issuing_state", "passport", "expected"),
    [
        ("ITA", "VAT", PT.DIPLOMATIC, "VAT"),  # the Holy See's passport, whoever holds it
        ("VAT", "ITA", PT.DIPLOMATIC, None),  # an Italian passport: the Holy See's decree does not speak of it
        ("IDN", "NLD", PT.DIPLOMATIC, "IDN"),  # "Los nacionales de la República de Indonesia"
        ("NLD", "IDN", PT.DIPLOMATIC, None),
        ("TUR", "TUR", PT.ORDINARY, None),  # unverified: not applied by default
        ("ARE", "ARE", PT.DIPLOMATIC, None),  # in force only from the day after the arrival
    ],
)
def test_who_decides_what_is_in_force_and_what_is_verified(nationality, issuing_state, passport, expected):
    found = waiver(LIST, stay(nationality=nationality, issuing_state=issuing_state, passport_type=passport))
    assert (found.entry.country if isinstance(found, Covered) else None) == expected


def test_an_unverified_entry_applies_only_when_asked():
    turkish = stay(nationality="TUR", issuing_state="TUR", passport_type=PT.ORDINARY)
    assert isinstance(waiver(LIST, turkish, include_unverified=True), Covered)
    with pytest.raises(ValueError, match="says why"):
        entry("TUR", verified=False)


def test_purpose_follows_the_sponsor():
    assert purpose_of(SponsorKind.GOVERNMENT) is Purpose.OFFICIAL_ACTIVITY
    assert purpose_of(SponsorKind.INTERNATIONAL_ORGANIZATION) is Purpose.OFFICIAL_ACTIVITY
    assert purpose_of(SponsorKind.ENIEX) is Purpose.OTHER


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2027, 1, 15), 6, dt.date(2027, 7, 15)),
        (dt.date(2026, 8, 31), 6, dt.date(2027, 2, 28)),
        (dt.date(2027, 8, 31), 6, dt.date(2028, 2, 29)),
        (dt.date(2027, 12, 1), 1, dt.date(2028, 1, 1)),
        (dt.date(9999, 12, 1), 6, dt.date.max),
    ],
)
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("what", "trip", "instrument", "covered"),
    [
        ("Indonesia, 30 days", {"nationality": "IDN", "departure": days(30)}, "exemption agreement (2003, renewed)", True),
        ("Indonesia, 31 days", {"nationality": "IDN", "departure": days(31)}, None, False),
        ("Indonesia, 5 months' validity", {"nationality": "IDN", "passport_expires_on": dt.date(2027, 6, 15)}, None, False),
        ("France, 90 days", {"nationality": "FRA", "departure": days(90)}, "EU-Peru short-stay visa waiver agreement", True),
        ("France, 91 days", {"nationality": "FRA", "departure": days(91)}, None, False),
        ("Latvia, an ENIEX's mission", {"nationality": "LVA", "purpose": Purpose.OTHER}, "EU-Peru short-stay visa waiver agreement", True),
        ("Latvia, official", {"nationality": "LVA"}, "agreement", True),
        ("Turkey, unverified", {"nationality": "TUR"}, None, False),
        ("Ireland, no part in the EU's", {"nationality": "IRL"}, None, False),
    ],
)  # fmt: skip
def test_the_bundled_list(what, trip, instrument, covered):
    found = waiver(load_bundled(), stay(issuing_state=trip["nationality"], **trip))
    assert found.covered is covered
    if covered:
        assert found.entry.instrument == instrument


def test_the_cache_keys_name_the_list_format():
    # A release reading entries another way keeps its lists apart: it never misreads an older one, nor is misread.
    assert LIST_FORMAT == 2 and KEY_PREFIX == "visa:treaties:v2"
    assert TreatyCache(None)._key("version") == "visa:treaties:v2:version"
    cache = treaty_cache(CommonSettings(visa_namespace="t1.", redis_url="redis://127.0.0.1:1/0"))
    assert cache._key("version") == "t1.visa:treaties:v2:version"


def test_a_stay_counts_the_day_of_arrival_and_the_day_of_departure():
    assert stay(departure=ARRIVAL).days == 1
    assert stay(departure=days(30)).days == 30
    assert stay().days is None
    assert dataclasses.replace(stay(), departure=dt.date(2027, 3, 15)).days == 60


def test_add_months_reaches_the_last_year_a_date_holds():
    assert add_months(dt.date(9999, 1, 31), 1) == dt.date(9999, 2, 28)
    assert add_months(dt.date(9998, 12, 15), 12) == dt.date(9999, 12, 15)


def test_the_passports_an_entry_exempts_are_listed_in_words():
    found = judge((entry(passport_types=(PT.LAISSEZ_PASSER,)),), stay())
    assert (
        found.shortfalls[0][1][0].message == "agreement with IDN exempts laissez-passer passports, not diplomatic ones."
    )
    found = judge((entry(passport_types=(PT.DIPLOMATIC, PT.SERVICE)),), stay(passport_type=PT.LAISSEZ_PASSER))
    assert found.shortfalls[0][1][0].message == (
        "agreement with IDN exempts diplomatic or service passports, not laissez-passer ones."
    )
    found = judge((entry(passport_types=(PT.DIPLOMATIC, PT.OFFICIAL, PT.SERVICE)),), stay(passport_type=PT.ORDINARY))
    assert found.shortfalls[0][1][0].message == (
        "agreement with IDN exempts diplomatic, official or service passports, not ordinary ones."
    )


def test_a_passport_expiring_before_the_departure_is_said_in_words():
    found = judge((entry(),), stay(passport_expires_on=days(9), departure=days(10)))
    assert (
        found.shortfalls[0][1][0].message == "the passport expires on 2027-01-23, before the departure on 2027-01-24."
    )


@pytest.mark.parametrize(
    ("expires", "said"),
    [(days(30), False), (days(29), True)],
    ids=["on-the-assumed-last-day", "the-day-before"],
)
def test_without_a_departure_a_passport_expiring_before_the_assumed_last_day_is_a_condition(expires, said):
    """30 days from 15 January end on 13 February: a passport valid through it needs no word."""
    found = judge((entry(),), stay(passport_expires_on=expires))
    assert isinstance(found, Covered)
    assert (f"the passport expires on {expires}: the stay must end by then" in found.conditions) is said


def test_several_purposes_are_listed_in_words():
    found = judge((entry(purposes=("OFFICIAL_ACTIVITY", "TRANSIT")),), stay())
    assert found.conditions[-1] == "for official activity, transit to a third country only"
