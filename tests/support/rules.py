"""Submitted requests as authorization's rules assess them: a principal of France and a spouse, dated
around a fixed ``TODAY`` so that what the rules decide never depends on the day the tests run."""

from __future__ import annotations

import datetime as dt

from shared.contracts import (
    ImmigrationStatus,
    NoteVerbale,
    Passport,
    PassportType,
    Person,
    Relationship,
    RequestSubmitted,
    Sex,
    Sponsor,
    SponsorKind,
)

TODAY = dt.date(2025, 3, 3)
ARRIVAL = dt.date(2025, 4, 1)
FAR = dt.date(2032, 1, 1)


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
) -> Person:
    return Person(
        person_id=pid,
        role=role,
        relationship=relationship,
        surnames=surnames,
        given_names=given,
        sex=Sex.FEMALE,
        date_of_birth=dt.date(1980, 5, 17),
        nationality=nationality,
        passport=Passport(
            number=f"X{pid.upper()}4567", type=passport, issuing_state=nationality, expires_on=expires_on
        ),
    )


def relative(pid="p1", *, given="Jean", relationship=Relationship.SPOUSE, **kw) -> Person:
    return person(pid, role="FAMILY", relationship=relationship, given=given, **kw)


def request(
    *,
    status=ImmigrationStatus.DIPLOMATIC_RESIDENT,
    sponsor=SponsorKind.GOVERNMENT,
    note_date=dt.date(2025, 2, 20),
    function="Second Secretary",
    arrival=ARRIVAL,
    posting_end=dt.date(2028, 3, 31),
    principal=None,
    family=None,
) -> RequestSubmitted:
    return RequestSubmitted(
        request_id="r1",
        sponsor=Sponsor(id="s1", kind=sponsor, name="Sponsor X"),
        immigration_status=status,
        note_verbale=NoteVerbale(number="NV 5-12-M/034", date=note_date),
        function=function,
        intended_arrival=arrival,
        posting_end=posting_end,
        principal=principal or person(),
        family=(relative(),) if family is None else tuple(family),
        submitted_at=dt.datetime(2025, 3, 3, 9, 30, tzinfo=dt.UTC),
    )
