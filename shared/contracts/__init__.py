"""The one place the event contract lives: envelope, event data, and the people they describe."""

from .envelope import CONTENT_TYPE, Envelope, UnknownEventType
from .events import (
    EVENT_MODELS,
    AuthorizationDenied,
    AuthorizationGranted,
    AuthorizationRevoked,
    Decision,
    EventData,
    PersonDecision,
    RequestSubmitted,
    ReviewStarted,
    VisaCancelled,
    VisaIssued,
)
from .people import (
    ImmigrationStatus,
    NoteVerbale,
    Passport,
    PassportType,
    Person,
    Relationship,
    Sex,
    Sponsor,
    SponsorKind,
)

__all__ = [
    "CONTENT_TYPE",
    "EVENT_MODELS",
    "AuthorizationDenied",
    "AuthorizationGranted",
    "AuthorizationRevoked",
    "Decision",
    "Envelope",
    "EventData",
    "ImmigrationStatus",
    "NoteVerbale",
    "Passport",
    "PassportType",
    "Person",
    "PersonDecision",
    "Relationship",
    "RequestSubmitted",
    "ReviewStarted",
    "Sex",
    "Sponsor",
    "SponsorKind",
    "UnknownEventType",
    "VisaCancelled",
    "VisaIssued",
]
