"""Intake's progress rows (``services/intake/rows.py``) on SQLite and PostgreSQL: what an event changes is written back,
every column with its type, and on PostgreSQL the request's row and its applicants' in one statement."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select

from services.intake import rows
from services.intake.models import Applicant, Base, SponsorRecord, VisaRequest
from shared.db import Database

AT = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


@pytest.fixture
async def db(new_database):
    database = Database(await new_database("intake_rows"), Base.metadata)
    await database.create_all()
    sponsor = {
        "id": "s1",
        "name": "Embajada",
        "key_hash": "h",
        "created_at": AT,
        "kind": "GOVERNMENT",
        "country": "SWE",
    }
    request = {
        "id": "r1",
        "sponsor_id": "s1",
        "idempotency_key": None,
        "fingerprint": "f",
        "immigration_status": "DIPLOMATIC_RESIDENT",
        "status": "SUBMITTED",
        "submitted": {"note_verbale": "1"},
        "submitted_at": AT,
        "updated_at": AT,
    }
    people = [
        {
            "person_id": f"p{n}",
            "request_id": "r1",
            "position": n,
            "role": "PRINCIPAL" if n == 0 else "FAMILY",
            "relationship": None if n == 0 else "SPOUSE",
            "surnames": "Lind",
            "given_names": "Ann",
            "status": "SUBMITTED",
            "decision": None,
            "reasons": [],
            "visa_number": None,
            "visa_valid_from": None,
            "visa_valid_until": None,
            "visa_mrz": None,
            "waiver": None,
            "renews_visa": None,
        }
        for n in range(3)
    ]
    tables = (SponsorRecord.__table__, VisaRequest.__table__, Applicant.__table__)
    await database.insert_all(list(zip(tables, ([sponsor], [request], people), strict=True)))
    yield database
    await database.dispose()


async def test_an_event_s_changes_are_written_back_with_their_types(db):
    sent: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda c, cur, statement, *a: sent.append(statement))
    async with db.transaction() as session:
        connection = await session.connection()
        request = await rows.locked(connection, "r1")
        principal, spouse, child = request.applicants
        principal.status, principal.visa_number = "ISSUED", "PE0000001"
        principal.visa_valid_from, principal.visa_valid_until = dt.date(2026, 12, 1), dt.date(2027, 12, 1)
        principal.visa_mrz, principal.reasons = ["VDPERLIND<<ANN", "0000000000"], [{"code": "granted"}]
        spouse.status, spouse.waiver = "NOT_REQUIRED", {"treaty": "T-1", "max_stay_days": 90}
        request.status = "ISSUED"
        before = len(sent)
        await rows.save(connection, request, at=AT + dt.timedelta(hours=1))
        saving = sent[before:]

    if db.is_postgres:
        assert len(saving) == 1  # the request and both applicants changed
    else:
        assert len(saving) == 2  # the applicants (one executemany), the request
    async with db.transaction() as session:
        again = await rows.locked(await session.connection(), "r1")
        updated_at = await session.scalar(select(VisaRequest.updated_at))
        # None written to a JSON column is SQL NULL, not JSON null (none_as_null), as the ORM leaves it.
        no_mrz = set(await session.scalars(select(Applicant.person_id).where(Applicant.visa_mrz.is_(None))))
    principal, spouse, child = again.applicants
    assert again.status == "ISSUED" and updated_at == AT + dt.timedelta(hours=1)
    assert (principal.status, principal.visa_number, principal.visa_valid_from, principal.visa_valid_until) == (
        "ISSUED",
        "PE0000001",
        dt.date(2026, 12, 1),
        dt.date(2027, 12, 1),
    )
    assert principal.visa_mrz == ["VDPERLIND<<ANN", "0000000000"] and principal.reasons == [{"code": "granted"}]
    assert (spouse.status, spouse.waiver, spouse.visa_mrz) == (
        "NOT_REQUIRED",
        {"treaty": "T-1", "max_stay_days": 90},
        None,
    )
    assert (child.status, child.waiver) == ("SUBMITTED", None)  # unchanged, not written
    assert no_mrz == {"p1", "p2"}


async def test_an_event_that_changes_no_applicant_still_moves_the_request(db):
    async with db.transaction() as session:
        connection = await session.connection()
        request = await rows.locked(connection, "r1")
        request.status = "UNDER_REVIEW"
        await rows.save(connection, request, at=AT + dt.timedelta(minutes=5))
    async with db.sessions() as session:
        assert (await session.execute(select(VisaRequest.status, VisaRequest.updated_at))).one() == (
            "UNDER_REVIEW",
            AT + dt.timedelta(minutes=5),
        )


async def test_a_request_is_read_in_one_statement_on_sqlite_and_locked_first_on_postgresql(db):
    sent: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda c, cur, statement, *a: sent.append(statement))
    async with db.transaction() as session:
        connection = await session.connection()
        before = len(sent)
        request = await rows.locked(connection, "r1")
        reading = sent[before:]
        assert await rows.locked(connection, "no-such-request") is None
    assert [person.person_id for person in request.applicants] == ["p0", "p1", "p2"]  # in their order
    assert request.status == "SUBMITTED" and request.read == request.applicants
    if db.is_postgres:
        assert len(reading) == 2 and "FOR UPDATE" in reading[0]  # the row lock, then the applicants
    else:
        assert len(reading) == 1  # the write lock is the transaction's: the request and its applicants at once
