"""Intake's rows on its hot paths, in SQLAlchemy Core: a request accepted, and its progress as the events move it.

Each submission and each event consumed is one unit of work, so these paths skip the ORM's work per unit of work
(a session's identity map, objects built, tracked and compared at flush: most of what SQLAlchemy cost there,
docs/performance.md). A submission adds the request's row and its applicants' (``accept``). An event locks and
reads the request's row, then its applicants' (on SQLite, one read of both), and writes back only the applicants that
changed, in one statement.
The queries and the sponsors' other commands keep the ORM models of ``models``, over the same tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.messaging import Additions

from .models import Applicant, VisaRequest

requests = VisaRequest.__table__
applicants = Applicant.__table__


@dataclass
class Progress:
    """One person's progress in a request: the columns the events change. A handler gives a column a new value and
    never changes a list or a dict in place: ``save`` finds what changed by comparing with the values read."""

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
    applicants: list[Progress]
    # The applicants as read: only those that differ at ``save`` are written.
    read: list[Progress] = dataclasses.field(default_factory=list)


# The row lock comes first and the applicants are read after it: on PostgreSQL a statement that waited for the lock
# reads the rows it joins as of before the other transaction's commit (docs/performance.md, "Tried and left out").
_LOCK = select(requests.c.status).where(requests.c.id == bindparam("id")).with_for_update()
_APPLICANTS = (
    select(applicants.c.person_id, *(applicants.c[name] for name in CHANGING))
    .where(applicants.c.request_id == bindparam("id"))
    .order_by(applicants.c.position)
)
# On SQLite the transaction holds the database's write lock from its start (``BEGIN IMMEDIATE``): no row lock to take,
# so the request's row and its applicants' are one read.
_READ_AT_ONCE = (
    select(requests.c.status, applicants.c.person_id, *(applicants.c[name] for name in CHANGING))
    .select_from(requests.outerjoin(applicants, applicants.c.request_id == requests.c.id))
    .where(requests.c.id == bindparam("id"))
    .order_by(applicants.c.position)
)
# The columns to set are the parameters' other keys.
_SAVE_APPLICANT = update(applicants).where(applicants.c.person_id == bindparam("key"))
_SAVE_REQUEST = update(requests).where(requests.c.id == bindparam("key"))


@lru_cache(maxsize=32)
def _save_at_once(count: int):
    """On PostgreSQL, the request's row and ``count`` applicants' in one statement: each applicant's ``UPDATE`` a
    data-modifying ``WITH`` query (each changes another row), the request's the statement itself. Parameters: the
    request's ``key``, ``status`` and ``updated_at``; applicant i's ``a<i>_key`` and ``a<i>_<column>``."""
    statement = (
        update(requests)
        .where(requests.c.id == bindparam("key"))
        .values(
            status=bindparam("status", type_=requests.c.status.type),
            updated_at=bindparam("updated_at", type_=requests.c.updated_at.type),
        )
    )
    for i in range(count):
        one = (
            update(applicants)
            .where(applicants.c.person_id == bindparam(f"a{i}_key"))
            .values({name: bindparam(f"a{i}_{name}", type_=applicants.c[name].type) for name in CHANGING})
        )
        statement = statement.add_cte(one.cte(f"applicant_{i}"))
    return statement


@dataclass
class Submission:
    """A request as accepted: its row and its applicants' (``requests`` and ``applicants`` columns)."""

    request: dict
    applicants: list[dict]


def accept(additions: Additions, submission: Submission) -> None:
    """Store a request and its applicants, with the ``RequestSubmitted`` the caller emits: nothing is read, so the
    whole is written at once (``Bus.adding``: on PostgreSQL one statement)."""
    additions.add(requests, [submission.request])
    additions.add(applicants, submission.applicants)


async def locked(connection: AsyncConnection, request_id: str) -> RequestProgress | None:
    """The request's progress, its row locked until the transaction ends (every event about one request waits for
    the one before: each sees what the previous one wrote); None when intake has no such request."""
    if connection.dialect.name == "sqlite":
        rows = (await connection.execute(_READ_AT_ONCE, {"id": request_id})).all()
        if not rows:
            return None
        status = rows[0].status
        people = [Progress(*found[1:]) for found in rows if found.person_id is not None]
    else:
        row = (await connection.execute(_LOCK, {"id": request_id})).first()
        if row is None:
            return None
        status = row.status
        people = [Progress(*found) for found in await connection.execute(_APPLICANTS, {"id": request_id})]
    return RequestProgress(request_id, status, people, read=[dataclasses.replace(person) for person in people])


async def save(connection: AsyncConnection, request: RequestProgress, *, at: dt.datetime) -> None:
    """Write back the request's status, changed ``at``, and the applicants an event changed: on PostgreSQL in one
    statement, on SQLite in one for the applicants and one for the request."""
    changed = [
        {"key": person.person_id, **{name: getattr(person, name) for name in CHANGING}}
        for person, before in zip(request.applicants, request.read, strict=True)
        if person != before
    ]
    if connection.dialect.name == "postgresql":
        # One round trip where it crosses a network (docs/performance.md); the row lock is held already.
        parameters = {"key": request.id, "status": request.status, "updated_at": at}
        for i, row in enumerate(changed):
            parameters.update({f"a{i}_{name}": value for name, value in row.items()})
        await connection.execute(_save_at_once(len(changed)), parameters)
        return
    if changed:
        await connection.execute(_SAVE_APPLICANT, changed)
    await connection.execute(_SAVE_REQUEST, {"key": request.id, "status": request.status, "updated_at": at})
