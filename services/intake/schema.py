"""The sponsor's request as the public API receives it: admissibility is checked here, in full.

Whether the request *deserves* a visa is MRE's decision, not intake's; intake only refuses what is
incomplete or malformed, naming every bad field, before anything is stored or published.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from shared.contracts import ImmigrationStatus, NoteVerbale, Passport, Relationship, Sex
from shared.contracts.people import CountryCode, Name
from shared.mrz import transliterate

RESIDENT_STATUSES = {
    ImmigrationStatus.DIPLOMATIC_RESIDENT,
    ImmigrationStatus.CONSULAR_RESIDENT,
    ImmigrationStatus.OFFICIAL_RESIDENT,
}


def _past(value: dt.date) -> dt.date:
    if value >= dt.date.today():
        raise ValueError("must be in the past")
    return value


def _not_future(value: dt.date) -> dt.date:
    if value > dt.date.today():
        raise ValueError("cannot be in the future")
    return value


def _future(value: dt.date) -> dt.date:
    if value <= dt.date.today():
        raise ValueError("must be in the future: the passport has expired")
    return value


def _machine_readable(value: str) -> str:
    # Every visa carries the name in its MRZ: a name ICAO 9303 cannot transliterate is refused now,
    # not discovered by the consulate after MRE has authorized it.
    if value:
        transliterate(value)
    return value


MrzName = Annotated[Name, AfterValidator(_machine_readable)]
GivenNames = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120), AfterValidator(_machine_readable)]


class _Strict(BaseModel):
    # A misspelt field is an error the sponsor must see, not data silently dropped.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PassportIn(Passport):
    model_config = _Strict.model_config
    expires_on: Annotated[dt.date, AfterValidator(_future)]


class NoteVerbaleIn(NoteVerbale):
    model_config = _Strict.model_config
    date: Annotated[dt.date, AfterValidator(_not_future)]


class PersonIn(_Strict):
    surnames: MrzName
    given_names: GivenNames = ""
    sex: Sex
    date_of_birth: Annotated[dt.date, AfterValidator(_past)]
    nationality: CountryCode
    passport: PassportIn


class FamilyMemberIn(PersonIn):
    relationship: Relationship


class VisaRequestIn(_Strict):
    immigration_status: ImmigrationStatus
    note_verbale: NoteVerbaleIn
    function: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
    intended_arrival: dt.date
    posting_end: dt.date | None = Field(default=None, validate_default=True)
    principal: PersonIn
    family: list[FamilyMemberIn] = Field(default_factory=list, max_length=20)

    @field_validator("intended_arrival")
    @classmethod
    def _arrival(cls, value: dt.date) -> dt.date:
        if value < dt.date.today():
            raise ValueError("cannot be in the past")
        return value

    @field_validator("posting_end")
    @classmethod
    def _posting_end(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        status, arrival = info.data.get("immigration_status"), info.data.get("intended_arrival")
        if value is None and status in RESIDENT_STATUSES:
            raise ValueError("is required for a resident status")
        if value is not None and arrival is not None and value <= arrival:
            raise ValueError("must be after intended_arrival")
        return value


class Accepted(BaseModel):
    request_id: str
    status: str
