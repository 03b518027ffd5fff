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
from shared.contracts import (
    ApciRegistration,
    FamilyCondition,
    ImmigrationStatus,
    NoteVerbale,
    Passport,
    Relationship,
    Sex,
    StaffCategory,
)
from shared.contracts.events import POST_CODE
from shared.contracts.people import (
    ARRIVAL_HORIZON_YEARS,
    ExistingCountryCode,
    Name,
    Plausibility,
    add_years,
    upper_code,
)
from shared.i18n import Invalid
from shared.mrz import transliterate

RESIDENT_STATUSES = {
    ImmigrationStatus.DIPLOMATIC_RESIDENT,
    ImmigrationStatus.CONSULAR_RESIDENT,
    ImmigrationStatus.OFFICIAL_RESIDENT,
    ImmigrationStatus.COOPERANT,
}


def _plausible() -> Plausibility:
    # The bounds and their reasons: docs/plausibility.md.
    return Plausibility(clock.current().today())


def _refuse(problem: str | None) -> None:
    if problem:
        raise ValueError(problem)


def _born(value: dt.date) -> dt.date:
    if value >= clock.current().today():
        raise Invalid("must be in the past")
    _refuse(_plausible().date_of_birth(value))
    return value


def _note_dated(value: dt.date) -> dt.date:
    if value > clock.current().today():
        raise Invalid("cannot be in the future")
    _refuse(_plausible().note_verbale_date(value))
    return value


def _expires(value: dt.date) -> dt.date:
    if value <= clock.current().today():
        raise Invalid("must be in the future: the passport has expired")
    _refuse(_plausible().passport_expiry(value))
    return value


def _arrival_date(value: dt.date) -> dt.date:
    if value < clock.current().today():
        raise Invalid("cannot be in the past")
    _refuse(_plausible().intended_arrival(value))
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
    conditions: list[FamilyCondition] = Field(
        default_factory=list,
        max_length=len(FamilyCondition),
        description="Conditions declared of this member (STUDIES: post-secondary studies; DISABILITY; DEPENDENCY "
        "on the principal): who counts as family may depend on them (docs/domain/family.md).",
    )

    @field_validator("conditions")
    @classmethod
    def _once_each(cls, value: list[FamilyCondition]) -> list[FamilyCondition]:
        if len(set(value)) != len(value):
            raise Invalid("must name each condition once")
        return value


def _registered(value: dt.date) -> dt.date:
    if value > clock.current().today():
        raise Invalid("cannot be in the future")
    return value


class ApciRegistrationIn(ApciRegistration):
    model_config = _Strict.model_config
    date: Annotated[dt.date, AfterValidator(_registered)] = Field(
        description="The day the ENIEX was registered with APCI (or its registration last renewed)."
    )


class VisaRequestIn(_Strict):
    immigration_status: ImmigrationStatus
    staff_category: StaffCategory = Field(
        description="The principal's place in the sending body's staff; which statuses it may ask for is the "
        "Directorate's table (docs/domain/staff.md)."
    )
    apci_registration: ApciRegistrationIn | None = Field(
        default=None,
        validate_default=True,
        description="COOPERANT (required): the ENIEX's entry in the register of APCI, Peru's international-"
        "cooperation agency (docs/domain/staff.md).",
    )
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
    post: str | None = Field(
        default=None,
        pattern=POST_CODE,
        description="The consular post that is to issue the visas, one of GET /v1/posts; MRE's default post when "
        "not given (an officer may assign another while the request is under review).",
    )

    @field_validator("apci_registration")
    @classmethod
    def _apci(cls, value: ApciRegistrationIn | None, info: ValidationInfo) -> ApciRegistrationIn | None:
        # Evidence missing makes the request incomplete; whether it suffices is the Directorate's rule.
        if value is None and info.data.get("immigration_status") is ImmigrationStatus.COOPERANT:
            raise Invalid("is required for the COOPERANT status: the ENIEX's registration with APCI")
        return value

    @field_validator("intended_arrival")
    @classmethod
    def _arrival(cls, value: dt.date) -> dt.date:
        return _arrival_date(value)

    @field_validator("posting_end")
    @classmethod
    def _posting_end(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        status, arrival = info.data.get("immigration_status"), info.data.get("intended_arrival")
        if value is None and status in RESIDENT_STATUSES:
            raise Invalid("is required for a resident status")
        if value is None:
            return value
        if arrival is not None and value <= arrival:
            raise Invalid("must be after intended_arrival")
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
            raise Invalid("is for a short stay only: a resident status ends with posting_end")
        if arrival is not None and value < arrival:
            raise Invalid("cannot be before intended_arrival")
        _refuse(_plausible().posting_end(value, arrival or add_years(clock.current().today(), ARRIVAL_HORIZON_YEARS)))
        return value


PersonIds = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]],
    Field(max_length=21),
]


class RenewalIn(_Strict):
    """A renewal of the visas issued under a request: a new note verbale, a new posting end. The Directorate
    decides it like a request; each new visa supersedes the one it renews (docs/domain/lifecycle.md)."""

    note_verbale: NoteVerbaleIn
    posting_end: dt.date = Field(description="The new end of the posting: the renewed visas end with it.")
    function: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)] | None = Field(
        default=None, description="The function to be performed; the request's own when not given."
    )
    person_ids: PersonIds | None = Field(
        default=None,
        description="Whose visas to renew (the principal's among them); every visa of the request that still stands "
        "when not given.",
    )

    @field_validator("posting_end")
    @classmethod
    def _posting_end(cls, value: dt.date) -> dt.date:
        today = clock.current().today()
        if value <= today:
            raise Invalid("must be in the future")
        _refuse(_plausible().posting_end(value, today))
        return value


class DependantsIn(_Strict):
    """Family members who arrive after the principal: they join the principal's authorization, and MRE decides them
    by the same rules (docs/domain/family.md, "Arriving later")."""

    note_verbale: NoteVerbaleIn
    intended_arrival: dt.date = Field(description="When the new family members arrive.")
    family: list[FamilyMemberIn] = Field(min_length=1, max_length=20)

    @field_validator("intended_arrival")
    @classmethod
    def _arrival(cls, value: dt.date) -> dt.date:
        return _arrival_date(value)


class EndOfFunctionsIn(_Strict):
    """The sponsor's notice that functions have ended, for the whole request or for the people named (a divorce, a
    child who is no longer a dependant): the Directorate revokes their authorization, the consulate cancels
    their visas (docs/domain/lifecycle.md)."""

    note_verbale: NoteVerbaleIn
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)] = Field(
        description="Why, in a few words: 'end of mission', 'divorce', 'no longer a dependant'."
    )
    person_ids: PersonIds = Field(default_factory=list, description="The people concerned; everyone when empty.")


class Accepted(BaseModel):
    request_id: str
    status: str


class Notified(BaseModel):
    request_id: str
    person_ids: list[str] = Field(description="The people whose functions ended, as notified; empty: everyone.")
