"""A request's progress as the event handlers read and write it: its status and its people's, in SQLAlchemy Core.

Every event intake consumes moves some people of one request forward (``progress``) and the request's status with
them. The handlers run once per event, so they skip the ORM's work per unit of work (a session's identity map,
objects built and compared at flush: most of a handler's CPU, docs/performance.md): the request's row is locked
and read, then its applicants', and only the applicants that changed are written back, in one statement. The
sponsors' side (submissions, queries) keeps the ORM models of ``models``, over the same tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .models import Applicant, VisaRequest

requests = VisaRequest.__table__
applicants = Applicant.__table__


@dataclass
class Progress:
    """One person's progress in a request: the columns the events change."""

    person_id: str
    status: str
    decision: str | None
    reasons: list
    visa_number: str | None
    visa_valid_from: dt.date | None
    visa_valid_until: dt.date | None
    visa_mrz: list[str] | None
    waiver: dict | None


CHANGING = tuple(field.name for field in dataclasses.fields(Progress) if field.name != "person_id")


@dataclass
class RequestProgress:
    """A request being moved by an event: its status and its people's, in their order (``position``)."""

    id: str
    status: str
    updated_at: dt.datetime
    applicants: list[Progress]
    # The applicants as read: only those that differ at ``save`` are written.
    read: list[Progress] = dataclasses.field(default_factory=list)


# The row lock comes first and the applicants are read after it: on PostgreSQL a statement that waited for the lock
# reads the rows it joins as of before the other transaction's commit (docs/performance.md, "Tried and left out").
_LOCK = select(requests.c.status, requests.c.updated_at).where(requests.c.id == bindparam("id")).with_for_update()
_APPLICANTS = (
    select(applicants.c.person_id, *(applicants.c[name] for name in CHANGING))
    .where(applicants.c.request_id == bindparam("id"))
    .order_by(applicants.c.position)
)
# The columns to set are the parameters' other keys.
_SAVE_APPLICANT = update(applicants).where(applicants.c.person_id == bindparam("key"))
_SAVE_REQUEST = update(requests).where(requests.c.id == bindparam("key"))


async def locked(connection: AsyncConnection, request_id: str) -> RequestProgress | None:
    """The request's progress, its row locked until the transaction ends (every event about one request waits for
    the one before: each sees what the previous one wrote); None when intake has no such request."""
    row = (await connection.execute(_LOCK, {"id": request_id})).first()
    if row is None:
        return None
    people = [Progress(*found) for found in await connection.execute(_APPLICANTS, {"id": request_id})]
    return RequestProgress(
        request_id, row.status, row.updated_at, people, read=[dataclasses.replace(person) for person in people]
    )


async def save(connection: AsyncConnection, request: RequestProgress) -> None:
    """Write back the request's status and the applicants an event changed."""
    changed = [
        {"key": person.person_id, **{name: getattr(person, name) for name in CHANGING}}
        for person, before in zip(request.applicants, request.read, strict=True)
        if person != before
    ]
    if changed:
        await connection.execute(_SAVE_APPLICANT, changed)
    await connection.execute(
        _SAVE_REQUEST, {"key": request.id, "status": request.status, "updated_at": request.updated_at}
    )
