"""Who a request is about: the vocabulary shared by the request, the events and the rules."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


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
    SPOUSE = "SPOUSE"
    PARTNER = "PARTNER"
    CHILD = "CHILD"
    PARENT = "PARENT"
    OTHER_DEPENDANT = "OTHER_DEPENDANT"


_COUNTRY = re.compile(r"^[A-Z]{3}$|^D$|^D<<$")


def country_code(value: str) -> str:
    """ISO 3166-1 alpha-3 with ICAO's additions (``D`` for Germany, ``UNO``, ``XXA``…)."""
    value = value.strip().upper()
    if not _COUNTRY.match(value):
        raise ValueError("must be a three-letter ICAO/ISO 3166-1 alpha-3 code, or D for Germany")
    return value.rstrip("<")


CountryCode = Annotated[str, AfterValidator(country_code)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class Contract(BaseModel):
    """Base of every contract model: immutable, and tolerant of fields it does not know yet."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Passport(Contract):
    number: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z0-9]{1,9}$")]
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
