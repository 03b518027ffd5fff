"""Submitted requests as authorization's rules assess them: a principal of France and a spouse, dated
around a fixed ``TODAY`` so that what the rules decide never depends on the day the tests run.

Unless a test says otherwise, a request is one the rules grant for its status: the sponsor entitled to ask for it
(an ENIEX for a Cooperante, a government otherwise), a staff category that may ask for it (``STAFF_FOR``), and
for a Cooperante the ENIEX's APCI registration."""

from __future__ import annotations

import datetime as dt

from shared.contracts import (
    ApciRegistration,
    ImmigrationStatus,
    NoteVerbale,
    Passport,
    PassportType,
    Person,
    PersonDecision,
    Relationship,
    RequestSubmitted,
    Sex,
    Sponsor,
    SponsorKind,
    StaffCategory,
)

TODAY = dt.date(2025, 3, 3)
ARRIVAL = dt.date(2025, 4, 1)
FAR = dt.date(2032, 1, 1)
APCI = ApciRegistration(number="ENIEX-0421", date=dt.date(2019, 6, 12))

# A staff category that may ask for each status in the packaged rulebook (services/authorization/rulebook/).
STAFF_FOR = {
    ImmigrationStatus.DIPLOMATIC_RESIDENT: StaffCategory.DIPLOMATIC_AGENT,
    ImmigrationStatus.CONSULAR_RESIDENT: StaffCategory.CONSULAR_OFFICER_OR_EMPLOYEE,
    ImmigrationStatus.OFFICIAL_RESIDENT: StaffCategory.ADMINISTRATIVE_TECHNICAL_STAFF,
    ImmigrationStatus.SHORT_STAY: StaffCategory.DIPLOMATIC_AGENT,
    ImmigrationStatus.COOPERANT: StaffCategory.COOPERANT,
}
_FITTING = object()  # the default that fits the status (see the module's docstring)


def person(
    pid="p0",
    *,
    role="PRINCIPAL",
    passport=PassportType.DIPLOMATIC,
    expires_on=FAR,
    nationality="FRA",
    relationship=None,
    given="Marie",
    surnames="Dupont",
    born=dt.date(1980, 5, 17),
    conditions=(),
) -> Person:
    return Person(
        person_id=pid,
        role=role,
        relationship=relationship,
        surnames=surnames,
        given_names=given,
        sex=Sex.FEMALE,
        date_of_birth=born,
        nationality=nationality,
        passport=Passport(
            number=f"X{pid.upper()}4567", type=passport, issuing_state=nationality, expires_on=expires_on
        ),
        conditions=tuple(conditions),
    )


def relative(pid="p1", *, given="Jean", relationship=Relationship.SPOUSE, **kw) -> Person:
    return person(pid, role="FAMILY", relationship=relationship, given=given, **kw)


def request(
    *,
    status=ImmigrationStatus.DIPLOMATIC_RESIDENT,
    sponsor=None,
    note_date=dt.date(2025, 2, 20),
    function="Second Secretary",
    arrival=ARRIVAL,
    posting_end=dt.date(2028, 3, 31),
    principal=None,
    family=None,
    staff=_FITTING,
    apci=_FITTING,
) -> RequestSubmitted:
    """``sponsor`` None, ``staff`` and ``apci`` left out: what fits ``status``; ``staff=None``, ``apci=None``: absent."""
    cooperant = status == ImmigrationStatus.COOPERANT
    sponsor = sponsor or (SponsorKind.ENIEX if cooperant else SponsorKind.GOVERNMENT)
    return RequestSubmitted(
        request_id="r1",
        sponsor=Sponsor(id="s1", kind=sponsor, name="Sponsor X"),
        staff_category=STAFF_FOR[status] if staff is _FITTING else staff,
        apci_registration=(APCI if cooperant else None) if apci is _FITTING else apci,
        immigration_status=status,
        note_verbale=NoteVerbale(number="NV 5-12-M/034", date=note_date),
        function=function,
        intended_arrival=arrival,
        posting_end=posting_end,
        principal=principal or person(),
        family=(relative(),) if family is None else tuple(family),
        submitted_at=dt.datetime(2025, 3, 3, 9, 30, tzinfo=dt.UTC),
    )


def worded(decision: PersonDecision, language: str = "en") -> tuple[str, ...]:
    """A decision's reasons as a reader sees them: each finding worded (``"rule: sentence"``) in ``language``."""
    return tuple(finding.render(language) for finding in decision.findings)
