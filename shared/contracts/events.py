"""The data of every event this system publishes, version 1.

A change that breaks a consumer gets a new type (``….v2``) published beside the old one; adding an
optional field does not. Consumers ignore fields they do not know.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from .people import ApciRegistration, Contract, ImmigrationStatus, NoteVerbale, Person, Sponsor, StaffCategory
from .reasons import Finding

TYPE_PREFIX = "pe.gob.rree.visa"
# A consular post's code (shared/posts.py). The authorization events carry the issuing post, and are published with
# it in the AMQP header ``post``: each post's issuance queue is bound by it (README, "Consular posts").
POST_CODE = r"^[A-Z0-9]{3,6}$"
ISSUING_POST = (
    "The consular post that issues (or issued) the visas of this authorization (additive to v1); absent from an "
    "older producer."
)


class Decision(StrEnum):
    GRANTED = "GRANTED"
    DENIED = "DENIED"


class EventData(Contract):
    """Base of every event's ``data``; each subclass names its CloudEvents type and routing key."""

    event_type: ClassVar[str]
    routing_key: ClassVar[str]


class RenewedVisa(Contract):
    """One visa a renewal request renews: the person (as this request names them) and the visa's number."""

    person_id: str
    visa_number: str
    request_id: str = Field(description="The request under which the renewed visa was issued.")


class RequestSubmitted(EventData):
    event_type: ClassVar[str] = f"{TYPE_PREFIX}.request.submitted.v1"
    routing_key: ClassVar[str] = "visa.request.submitted"

    request_id: str
    sponsor: Sponsor
    immigration_status: ImmigrationStatus
    note_verbale: NoteVerbale
    function: str
    intended_arrival: dt.date
    posting_end: dt.date | None = None
    intended_departure: dt.date | None = Field(
        default=None, description="Short stays: the last day in Peru, when the sponsor gives it (additive to v1)."
    )
    principal: Person
    family: tuple[Person, ...] = ()
    submitted_at: dt.datetime
    staff_category: StaffCategory | None = Field(
        default=None,
        description="The principal's staff category, which decides the statuses that may be asked for (additive "
        "to v1; intake always sets it). Absent, from an older producer: the Directorate does not judge it.",
    )
    apci_registration: ApciRegistration | None = Field(
        default=None,
        description="Cooperante: the ENIEX's entry in APCI's register, the evidence the status rests on (additive "
        "to v1).",
    )
    joins: str | None = Field(
        default=None,
        description="Dependants arriving later: the request whose authorization they join (additive to v1). The "
        "principal is that request's, named for the rules; only the family is decided.",
    )
    renews: tuple[RenewedVisa, ...] = Field(
        default=(),
        description="A renewal: each person's visa this request renews (additive to v1). The Directorate decides "
        "it like any request; the consulate supersedes each renewed visa once the new one is issued.",
    )
    post: str | None = Field(
        default=None,
        pattern=POST_CODE,
        description="The consular post the sponsor chose to issue the visas (additive to v1); absent: the "
        "Directorate's default post, or for a renewal the post of the request it renews.",
    )

    @property
    def people(self) -> tuple[Person, ...]:
        return (self.principal, *self.family)


class FunctionsEnded(EventData):
    """The sponsor notifies, by note verbale, that functions have ended: for the whole request (``person_ids``
    empty) or for the people named (a divorce, a child who is no longer a dependant). The Directorate revokes
    their authorization; a second notice about the same people has no further effect."""

    event_type: ClassVar[str] = f"{TYPE_PREFIX}.request.functions_ended.v1"
    routing_key: ClassVar[str] = "visa.request.functions-ended"

    request_id: str
    person_ids: tuple[str, ...] = Field(default=(), description="People concerned; empty means everyone.")
    note_verbale: NoteVerbale
    reason: str
    notified_at: dt.datetime


class ReviewStarted(EventData):
    """MRE has taken the request into its officers' review (policy ``review``)."""

    event_type: ClassVar[str] = f"{TYPE_PREFIX}.authorization.review_started.v1"
    routing_key: ClassVar[str] = "visa.authorization.review-started"

    request_id: str
    case_id: str


class PersonDecision(Contract):
    person_id: str
    decision: Decision
    reasons: tuple[str, ...] = Field(
        default=(), description="Rule codes, and each officer reason as 'officer: <the officer's words>'."
    )
    findings: tuple[Finding, ...] = Field(
        default=(),
        description="Each reason as a rule code, message id and parameters, to word it in any language "
        "(shared/contracts/reasons.py; additive to v1).",
    )
    # What issuance needs to issue without asking anyone: the person as submitted, and the validity.
    person: Person
    valid_from: dt.date | None = Field(default=None, description="Set when granted.")
    valid_until: dt.date | None = Field(default=None, description="Set when granted.")
    renews: str | None = Field(
        default=None, description="A renewal: the number of the visa the new one supersedes (additive to v1)."
    )


class _Decided(EventData):
    request_id: str
    authorization_id: str
    immigration_status: ImmigrationStatus
    decisions: tuple[PersonDecision, ...]
    decided_by: str = Field(description="An officer's id, or 'policy' for an automatic decision.")
    decided_at: dt.datetime
    post: str | None = Field(default=None, pattern=POST_CODE, description=ISSUING_POST)


class AuthorizationGranted(_Decided):
    """At least one person is authorized; each person's decision is in ``decisions``."""

    event_type: ClassVar[str] = f"{TYPE_PREFIX}.authorization.granted.v1"
    routing_key: ClassVar[str] = "visa.authorization.granted"


class AuthorizationDenied(_Decided):
    """Nobody in the request is authorized."""

    event_type: ClassVar[str] = f"{TYPE_PREFIX}.authorization.denied.v1"
    routing_key: ClassVar[str] = "visa.authorization.denied"


class Waiver(Contract):
    """The treaty that makes a visa unnecessary for one person's short stay, and on what conditions."""

    country: str = Field(description="The treaty list entry's country (ISO 3166-1 alpha-3).")
    instrument: str = Field(description="The agreement or decree, e.g. 'DS 042-2012-RE'.")
    source: str = Field(description="Where the instrument is published (docs/domain/waivers.md).")
    max_stay_days: int | None = Field(description="The longest stay it allows; null: the instrument states none.")
    window_days: int | None = Field(default=None, description="max_stay_days within any period this long.")
    stay_days: int | None = Field(
        default=None, description="The stay judged: from intended_departure, or the maximum when assumed."
    )
    stay_assumed: bool = Field(default=False, description="No intended departure: the maximum stay was assumed.")
    conditions: tuple[str, ...] = Field(default=(), description="Every condition the traveller must meet, in words.")


class PersonNotRequired(Contract):
    person_id: str
    person: Person
    waiver: Waiver


class AuthorizationNotRequired(EventData):
    """These people need no visa: a waiver treaty covers their short stay. Nothing is issued, nobody denied.

    The people of a request that do need a visa are decided in an ``AuthorizationGranted`` or
    ``AuthorizationDenied`` of the same case, which does not list these.
    """

    event_type: ClassVar[str] = f"{TYPE_PREFIX}.authorization.not_required.v1"
    routing_key: ClassVar[str] = "visa.authorization.not-required"

    request_id: str
    case_id: str
    people: tuple[PersonNotRequired, ...] = Field(min_length=1)
    decided_by: str = Field(description="An officer's id, or 'policy' for an automatic decision.")
    decided_at: dt.datetime
    post: str | None = Field(default=None, pattern=POST_CODE, description=ISSUING_POST)


class AuthorizationRevoked(EventData):
    event_type: ClassVar[str] = f"{TYPE_PREFIX}.authorization.revoked.v1"
    routing_key: ClassVar[str] = "visa.authorization.revoked"

    request_id: str
    authorization_id: str
    person_ids: tuple[str, ...] = Field(default=(), description="People concerned; empty means everyone.")
    visa_numbers: tuple[str, ...] = Field(default=(), description="Visas known to be concerned, if any.")
    reason: str
    revoked_by: str
    revoked_at: dt.datetime
    post: str | None = Field(default=None, pattern=POST_CODE, description=ISSUING_POST)

    def concerns(self, person_id: str, visa_number: str | None = None) -> bool:
        return revocation_concerns(self.person_ids, self.visa_numbers, person_id, visa_number)


def revocation_concerns(
    person_ids: tuple[str, ...] | list[str],
    visa_numbers: tuple[str, ...] | list[str],
    person_id: str,
    visa_number: str | None = None,
) -> bool:
    """Whether a revocation covers this person (or visa); naming neither covers the whole authorization."""
    if not person_ids and not visa_numbers:
        return True
    return person_id in person_ids or (visa_number is not None and visa_number in visa_numbers)


class VisaIssued(EventData):
    event_type: ClassVar[str] = f"{TYPE_PREFIX}.issued.v1"
    routing_key: ClassVar[str] = "visa.issued"

    request_id: str
    authorization_id: str
    person_id: str
    person: Person
    visa_number: str
    immigration_status: ImmigrationStatus
    valid_from: dt.date
    valid_until: dt.date
    mrz: tuple[str, str]
    issued_at: dt.datetime


class VisaSuperseded(EventData):
    """A renewal's visa was issued: the visa it renews no longer stands (never recorded as a cancellation)."""

    event_type: ClassVar[str] = f"{TYPE_PREFIX}.superseded.v1"
    routing_key: ClassVar[str] = "visa.superseded"

    request_id: str = Field(description="The request under which the superseded visa was issued.")
    authorization_id: str = Field(description="The authorization under which the superseded visa was issued.")
    person_id: str
    visa_number: str
    superseded_by: str = Field(description="The new visa's number.")
    renewal_request_id: str
    superseded_at: dt.datetime


class VisaCancelled(EventData):
    event_type: ClassVar[str] = f"{TYPE_PREFIX}.cancelled.v1"
    routing_key: ClassVar[str] = "visa.cancelled"

    request_id: str
    authorization_id: str
    person_id: str
    visa_number: str
    reason: str
    revocation_id: str = Field(description="Id of the AuthorizationRevoked event this cancellation executes.")
    cancelled_at: dt.datetime


EVENT_MODELS: dict[str, type[EventData]] = {
    model.event_type: model
    for model in (
        RequestSubmitted,
        FunctionsEnded,
        ReviewStarted,
        AuthorizationGranted,
        AuthorizationDenied,
        AuthorizationNotRequired,
        AuthorizationRevoked,
        VisaIssued,
        VisaCancelled,
        VisaSuperseded,
    )
}
