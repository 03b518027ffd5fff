"""Who a request is about: the vocabulary shared by the request, the events and the rules."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from shared.mrz import iso_code


class ImmigrationStatus(StrEnum):
    DIPLOMATIC_RESIDENT = "DIPLOMATIC_RESIDENT"
    CONSULAR_RESIDENT = "CONSULAR_RESIDENT"
    OFFICIAL_RESIDENT = "OFFICIAL_RESIDENT"
    SHORT_STAY = "SHORT_STAY"


class SponsorKind(StrEnum):
    GOVERNMENT = "government"
    INTERNATIONAL_ORGANIZATION = "international_organization"
    ENIEX = "eniex"


class PassportType(StrEnum):
    DIPLOMATIC = "DIPLOMATIC"
    OFFICIAL = "OFFICIAL"
    SERVICE = "SERVICE"
    SPECIAL = "SPECIAL"
    ORDINARY = "ORDINARY"
    LAISSEZ_PASSER = "LAISSEZ_PASSER"


class Sex(StrEnum):
    FEMALE = "F"
    MALE = "M"
    UNSPECIFIED = "X"


class Relationship(StrEnum):
    # What the sponsor declares; no rule judges it. Who counts as family, and the sources: docs/domain/statuses.md.
    SPOUSE = "SPOUSE"
    PARTNER = "PARTNER"
    CHILD = "CHILD"
    PARENT = "PARENT"
    OTHER_DEPENDANT = "OTHER_DEPENDANT"


_COUNTRY = re.compile(r"^[A-Z]{3}$|^D$|^D<<$")


def country_code(value: str) -> str:
    """ISO 3166-1 alpha-3 with ICAO's additions (``UNO``, ``XXA``…); ICAO's ``D`` for Germany is read as ``DEU``,
    so that one State has one code throughout (the MRZ writes ICAO's form back: ``shared.mrz.country_field``)."""
    value = value.strip().upper()
    if not _COUNTRY.match(value):
        raise ValueError("must be a three-letter ICAO/ISO 3166-1 alpha-3 code, or D for Germany")
    return iso_code(value)


CountryCode = Annotated[str, AfterValidator(country_code)]

# Codes that exist: ISO 3166-1 alpha-3 as pycountry ships it (ICAO's "D" is read as "DEU"), and the ICAO Doc 9303
# Part 3 codes of documents a diplomat or official may travel on: the United Nations and its agencies,
# other international organizations, the EU, the British variants, stateless persons and refugees
# (docs/plausibility.md, docs/domain/mrz.md). "XXX" (unspecified nationality) is not among them.
ICAO_CODES = frozenset(
    {"UNO", "UNA", "UNK", "EUE", "GBD", "GBN", "GBO", "GBP", "GBS", "XXA", "XXB", "XXC"}
    | {"XBA", "XIM", "XCC", "XCE", "XCO", "XEC", "XPO", "XES", "XMP", "XOM", "XDC"}
)
EXISTING_COUNTRIES = frozenset(country.alpha_3 for country in pycountry.countries) | ICAO_CODES


def existing_country_code(value: str) -> str:
    """A ``country_code`` naming a country that exists (docs/plausibility.md), e.g. not ``ZZZ``."""
    code = country_code(value)
    if code not in EXISTING_COUNTRIES:
        raise ValueError(f"{code!r} is not an existing ISO 3166-1 alpha-3 country code (nor an ICAO 9303 one)")
    return code


ExistingCountryCode = Annotated[str, AfterValidator(existing_country_code)]


def upper_code(value: Any) -> Any:
    """Codes copied from a document are case-blind: accepted in either case, kept in upper case.

    A ``BeforeValidator``: pydantic checks a ``pattern`` before its own ``to_upper``, so ``d1234567``
    would fail ``^[A-Z0-9]…$`` while ``swe`` passed as ``SWE`` (docs/plausibility.md, "Case").
    """
    return value.strip().upper() if isinstance(value, str) else value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class Contract(BaseModel):
    """Base of every contract model: immutable, and tolerant of fields it does not know yet."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Passport(Contract):
    number: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,9}$"), BeforeValidator(upper_code)]
    type: PassportType
    issuing_state: CountryCode
    expires_on: dt.date


class NoteVerbale(Contract):
    """The sponsor's diplomatic note: the official documentation every status requires."""

    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    date: dt.date


class Sponsor(Contract):
    id: str
    kind: SponsorKind
    name: str
    country: str | None = None


class Person(Contract):
    """One person of a request: the principal or a member of the family nucleus."""

    person_id: str = Field(description="Stable id of this person within the request, assigned by intake.")
    role: Annotated[str, StringConstraints(pattern=r"^(PRINCIPAL|FAMILY)$")]
    relationship: Relationship | None = None
    surnames: Name
    given_names: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    sex: Sex
    date_of_birth: dt.date
    nationality: CountryCode
    passport: Passport


# --- Plausibility: how far from today each date of a request may lie (docs/plausibility.md) -------------

OLDEST_AGE_YEARS = 120  # date of birth: nobody living is older
NOTE_VERBALE_MAX_AGE_YEARS = 2  # a note verbale older than that no longer speaks for a current posting
ARRIVAL_HORIZON_YEARS = 2  # postings are announced months, not years, ahead
POSTING_MAX_YEARS = 10  # the longest posting after the arrival
PASSPORT_HORIZON_YEARS = 20  # no State issues a passport valid for longer
# A visa never lasts longer than the latest posting end a plausible request can give.
MAX_VALIDITY_YEARS = ARRIVAL_HORIZON_YEARS + POSTING_MAX_YEARS


def add_days(day: dt.date, days: int) -> dt.date:
    """``day + days``, held within ``date.min``…``date.max``: never an ``OverflowError``."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later (or earlier): 29 February becomes the 28th; clamped, never overflowing."""
    year = day.year + years
    if year > dt.MAXYEAR:
        return dt.date.max
    if year < dt.MINYEAR:
        return dt.date.min
    return day.replace(year=year, day=min(day.day, 28)) if (day.month, day.day) == (2, 29) else day.replace(year=year)


@dataclass(frozen=True)
class Plausibility:
    """The window each date of a request must fall in, seen from ``today``: each check returns the
    problem in words, or None. ``slack_days`` widens every window (a consumer's clock is not intake's).

    Only the far side of each window is here: that a birth is in the past, a note verbale not in the
    future, a passport unexpired, are admissibility at intake and legal rules at authorization.
    """

    today: dt.date
    slack_days: int = 0

    def _after(self, years: int) -> dt.date:
        return add_days(add_years(self.today, years), self.slack_days)

    def _before(self, years: int) -> dt.date:
        return add_days(add_years(self.today, -years), -self.slack_days)

    def date_of_birth(self, value: dt.date) -> str | None:
        earliest = self._before(OLDEST_AGE_YEARS)
        if value < earliest:
            return f"is implausible: before {earliest}, more than {OLDEST_AGE_YEARS} years ago"
        return None

    def note_verbale_date(self, value: dt.date) -> str | None:
        earliest = self._before(NOTE_VERBALE_MAX_AGE_YEARS)
        if value < earliest:
            return f"is implausible: before {earliest}, more than {NOTE_VERBALE_MAX_AGE_YEARS} years ago"
        return None

    def intended_arrival(self, value: dt.date) -> str | None:
        latest = self._after(ARRIVAL_HORIZON_YEARS)
        if value > latest:
            return f"is implausible: after {latest}, more than {ARRIVAL_HORIZON_YEARS} years ahead"
        return None

    def posting_end(self, value: dt.date, arrival: dt.date) -> str | None:
        latest = add_days(add_years(arrival, POSTING_MAX_YEARS), self.slack_days)
        if value > latest:
            return f"is implausible: after {latest}, more than {POSTING_MAX_YEARS} years after the arrival"
        return None

    def passport_expiry(self, value: dt.date) -> str | None:
        latest = self._after(PASSPORT_HORIZON_YEARS)
        if value > latest:
            return f"is implausible: after {latest}, more than {PASSPORT_HORIZON_YEARS} years ahead"
        return None
