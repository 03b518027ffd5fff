"""The sponsor's request as the public API receives it: admissibility is checked here, in full.

Whether the request *deserves* a visa is MRE's decision, not intake's; intake only refuses what is
incomplete, malformed or implausible (docs/plausibility.md: dates far from today, countries that do
not exist, names no MRZ can hold), naming every bad field, before anything is stored or published.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from shared import clock
from shared.contracts import ImmigrationStatus, NoteVerbale, Passport, Relationship, Sex
from shared.contracts.people import (
    ARRIVAL_HORIZON_YEARS,
    ExistingCountryCode,
    Name,
    Plausibility,
    add_years,
    upper_code,
)
from shared.mrz import transliterate

RESIDENT_STATUSES = {
    ImmigrationStatus.DIPLOMATIC_RESIDENT,
    ImmigrationStatus.CONSULAR_RESIDENT,
    ImmigrationStatus.OFFICIAL_RESIDENT,
}


def _plausible() -> Plausibility:
    # The bounds and their reasons: docs/plausibility.md.
    return Plausibility(clock.current().today())


def _refuse(problem: str | None) -> None:
    if problem:
        raise ValueError(problem)


def _born(value: dt.date) -> dt.date:
    if value >= clock.current().today():
        raise ValueError("must be in the past")
    _refuse(_plausible().date_of_birth(value))
    return value


def _note_dated(value: dt.date) -> dt.date:
    if value > clock.current().today():
        raise ValueError("cannot be in the future")
    _refuse(_plausible().note_verbale_date(value))
    return value


def _expires(value: dt.date) -> dt.date:
    if value <= clock.current().today():
        raise ValueError("must be in the future: the passport has expired")
    _refuse(_plausible().passport_expiry(value))
    return value


def _machine_readable(value: str) -> str:
    # Every visa carries the name in its MRZ: a name ICAO 9303 cannot transliterate faithfully (another
    # script, a digit, an emoji) is refused now, not discovered by the consulate after MRE authorized it.
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
    issuing_state: ExistingCountryCode
    expires_on: Annotated[dt.date, AfterValidator(_expires)]


class NoteVerbaleIn(NoteVerbale):
    model_config = _Strict.model_config
    date: Annotated[dt.date, AfterValidator(_note_dated)]


class PersonIn(_Strict):
    surnames: MrzName
    given_names: GivenNames = ""
    # Codes copied from the passport are case-blind, as its number and the country codes are.
    sex: Annotated[Sex, BeforeValidator(upper_code)]
    date_of_birth: Annotated[dt.date, AfterValidator(_born)]
    nationality: ExistingCountryCode
    passport: PassportIn


class FamilyMemberIn(PersonIn):
    relationship: Relationship


class VisaRequestIn(_Strict):
    immigration_status: ImmigrationStatus
    note_verbale: NoteVerbaleIn
    function: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
    intended_arrival: dt.date
    posting_end: dt.date | None = Field(default=None, validate_default=True)
    intended_departure: dt.date | None = Field(
        default=None,
        description="Short stays only: the last day in Peru. Without it, a waiver treaty is judged for its longest "
        "stay, and the answer says so.",
    )
    principal: PersonIn
    family: list[FamilyMemberIn] = Field(default_factory=list, max_length=20)

    @field_validator("intended_arrival")
    @classmethod
    def _arrival(cls, value: dt.date) -> dt.date:
        if value < clock.current().today():
            raise ValueError("cannot be in the past")
        _refuse(_plausible().intended_arrival(value))
        return value

    @field_validator("posting_end")
    @classmethod
    def _posting_end(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        status, arrival = info.data.get("immigration_status"), info.data.get("intended_arrival")
        if value is None and status in RESIDENT_STATUSES:
            raise ValueError("is required for a resident status")
        if value is None:
            return value
        if arrival is not None and value <= arrival:
            raise ValueError("must be after intended_arrival")
        # An arrival refused above is judged as the latest plausible one: posting_end is still named.
        _refuse(_plausible().posting_end(value, arrival or add_years(clock.current().today(), ARRIVAL_HORIZON_YEARS)))
        return value

    @field_validator("intended_departure")
    @classmethod
    def _departure(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        status, arrival = info.data.get("immigration_status"), info.data.get("intended_arrival")
        if value is None:
            return value
        if status is not None and status is not ImmigrationStatus.SHORT_STAY:
            raise ValueError("is for a short stay only: a resident status ends with posting_end")
        if arrival is not None and value < arrival:
            raise ValueError("cannot be before intended_arrival")
        _refuse(_plausible().posting_end(value, arrival or add_years(clock.current().today(), ARRIVAL_HORIZON_YEARS)))
        return value


class Accepted(BaseModel):
    request_id: str
    status: str
