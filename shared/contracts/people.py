"""Who a request is about: the vocabulary shared by the request, the events and the rules."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from shared.i18n import Invalid, Message
from shared.mrz import iso_code


class ImmigrationStatus(StrEnum):
    DIPLOMATIC_RESIDENT = "DIPLOMATIC_RESIDENT"
    CONSULAR_RESIDENT = "CONSULAR_RESIDENT"
    OFFICIAL_RESIDENT = "OFFICIAL_RESIDENT"
    SHORT_STAY = "SHORT_STAY"
    # Cooperante: the status of ENIEX staff (docs/domain/staff.md; added to v1 as an optional value).
    COOPERANT = "COOPERANT"


class SponsorKind(StrEnum):
    GOVERNMENT = "government"
    INTERNATIONAL_ORGANIZATION = "international_organization"
    ENIEX = "eniex"


class StaffCategory(StrEnum):
    """The principal's place in the sending body's staff; it decides which statuses may be asked for
    (docs/domain/staff.md, the table in services/authorization/rulebook/staff.toml)."""

    DIPLOMATIC_AGENT = "DIPLOMATIC_AGENT"
    ADMINISTRATIVE_TECHNICAL_STAFF = "ADMINISTRATIVE_TECHNICAL_STAFF"
    SERVICE_STAFF = "SERVICE_STAFF"
    CONSULAR_OFFICER_OR_EMPLOYEE = "CONSULAR_OFFICER_OR_EMPLOYEE"
    INTERNATIONAL_ORGANIZATION_OFFICIAL = "INTERNATIONAL_ORGANIZATION_OFFICIAL"
    COOPERANT = "COOPERANT"


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
    # What the sponsor declares; who counts as family, and the sources: docs/domain/family.md.
    SPOUSE = "SPOUSE"
    PARTNER = "PARTNER"
    CHILD = "CHILD"
    PARENT = "PARENT"
    OTHER_DEPENDANT = "OTHER_DEPENDANT"


class FamilyCondition(StrEnum):
    """A condition the sponsor declares of a family member, which may extend who counts as family
    (docs/domain/family.md): post-secondary studies, a disability, dependency on the principal."""

    STUDIES = "STUDIES"
    DISABILITY = "DISABILITY"
    DEPENDENCY = "DEPENDENCY"


_COUNTRY = re.compile(r"^[A-Z]{3}$|^D$|^D<<$")


def country_code(value: str) -> str:
    """ISO 3166-1 alpha-3 with ICAO's additions (``UNO``, ``XXA``…); ICAO's ``D`` for Germany is read as ``DEU``,
    so that one State has one code throughout (the MRZ writes ICAO's form back: ``shared.mrz.country_field``)."""
    value = value.strip().upper()
    if not _COUNTRY.match(value):
        raise Invalid("must be a three-letter ICAO/ISO 3166-1 alpha-3 code, or D for Germany")
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
        raise Invalid("{code!r} is not an existing ISO 3166-1 alpha-3 country code (nor an ICAO 9303 one)", code=code)
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


class ApciRegistration(Contract):
    """An ENIEX's entry in APCI's register: the evidence a Cooperante request rests on (docs/domain/staff.md)."""

    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] = Field(
        description="The entry's number in APCI's register of ENIEX."
    )
    date: dt.date = Field(description="The day the ENIEX was registered (or its registration last renewed).")


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
    conditions: tuple[FamilyCondition, ...] = Field(
        default=(),
        description="Family members: the conditions the sponsor declares (studies, disability, dependency), which "
        "may extend who counts as family (additive to v1).",
    )


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
            return Message(
                "is implausible: before {earliest}, more than {years} years ago",
                earliest=earliest,
                years=OLDEST_AGE_YEARS,
            )
        return None

    def note_verbale_date(self, value: dt.date) -> str | None:
        earliest = self._before(NOTE_VERBALE_MAX_AGE_YEARS)
        if value < earliest:
            return Message(
                "is implausible: before {earliest}, more than {years} years ago",
                earliest=earliest,
                years=NOTE_VERBALE_MAX_AGE_YEARS,
            )
        return None

    def intended_arrival(self, value: dt.date) -> str | None:
        latest = self._after(ARRIVAL_HORIZON_YEARS)
        if value > latest:
            return Message(
                "is implausible: after {latest}, more than {years} years ahead",
                latest=latest,
                years=ARRIVAL_HORIZON_YEARS,
            )
        return None

    def posting_end(self, value: dt.date, arrival: dt.date) -> str | None:
        latest = add_days(add_years(arrival, POSTING_MAX_YEARS), self.slack_days)
        if value > latest:
            return Message(
                "is implausible: after {latest}, more than {years} years after the arrival",
                latest=latest,
                years=POSTING_MAX_YEARS,
            )
        return None

    def passport_expiry(self, value: dt.date) -> str | None:
        latest = self._after(PASSPORT_HORIZON_YEARS)
        if value > latest:
            return Message(
                "is implausible: after {latest}, more than {years} years ahead",
                latest=latest,
                years=PASSPORT_HORIZON_YEARS,
            )
        return None
