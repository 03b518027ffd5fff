"""Authorization records the visas issued on its cases (``Directorate.record_visa``), on SQLite and PostgreSQL: each
person's visa kept in one ``UPDATE``, none lost when two arrive at once (on PostgreSQL serialized by its row lock),
and a visa naming another authorization changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest
from sqlalchemy import event, select, text

from services.authorization.models import Base, Case
from services.authorization.settings import Policy
from services.authorization.usecases import Directorate
from shared import clock as clocks
from shared.contracts import VisaIssued
from shared.db import Database
from shared.messaging import UnitOfWork
from tests.support.system import eventually

AT = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


CASE = {
    "request_id": "r1",
    "authorization_id": "a1",
    "state": "GRANTED",
    "submission": {},
    "violations": {},
    "opened_at": AT,
    "visas": {},
}


async def with_a_case(url: str) -> Database:
    database = Database(url, Base.metadata)
    await database.create_all()
    await database.insert_all([(Case.__table__, [CASE])])
    return database


@pytest.fixture
async def db(new_database):
    database = await with_a_case(await new_database("case_visas"))
    yield database
    await database.dispose()


directorate = Directorate(units=None, reads=None, policy=Policy.AUTO, treaties=None, clock=clocks.SYSTEM)


def issued(person_id: str, number: str, authorization_id: str = "a1") -> VisaIssued:
    # record_visa reads these four fields only.
    return VisaIssued.model_construct(
        request_id="r1", authorization_id=authorization_id, person_id=person_id, visa_number=number
    )


async def record(
    db: Database, visa: VisaIssued, *, wrote: asyncio.Event | None = None, commit: asyncio.Event | None = None
) -> None:
    """``visa`` recorded in a transaction of its own; ``wrote`` set once it is, the commit held until ``commit``."""
    async with db.transaction() as session:
        await directorate.record_visa(UnitOfWork(session, "authorization", None), visa)
        if wrote is not None:
            wrote.set()
        if commit is not None:
            await commit.wait()


async def visas(db: Database) -> dict:
    async with db.sessions() as session:
        return await session.scalar(select(Case.visas))


async def test_each_person_s_visa_is_kept_and_another_authorization_s_ignored(db, caplog):
    await record(db, issued("p1", "PE0000001"))
    await record(db, issued("p2", "PE0000002"))
    await record(db, issued("p1", "PE0000001"))  # reported again: the same
    with caplog.at_level(logging.WARNING, logger="visa.authorization"):
        await record(db, issued("p3", "PE0000003", authorization_id="another"))

    assert await visas(db) == {"p1": "PE0000001", "p2": "PE0000002"}
    assert "visa PE0000003 names an authorization this Directorate did not give" in caplog.text


async def test_a_visa_is_recorded_in_one_statement(db):
    sent: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda c, cur, statement, *a: sent.append(statement))
    await record(db, issued("p1", "PE0000001"))
    assert [statement.split()[0] for statement in sent if not statement.startswith("BEGIN")] == ["UPDATE"]
    assert await visas(db) == {"p1": "PE0000001"}


async def test_two_visas_recorded_at_once_are_both_kept(postgres_database):
    db = await with_a_case(await postgres_database("case_visas"))
    try:
        wrote, commit = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(record(db, issued("p1", "PE0000001"), wrote=wrote, commit=commit))
        await wrote.wait()  # the first holds the case's row lock, uncommitted
        second = asyncio.create_task(record(db, issued("p2", "PE0000002")))
        # The second waits for that lock; then the first commits, and the second applies its change to the row as
        # the first left it.
        await eventually(lambda: waiting_for_a_lock(db), timeout=10, interval=0.01)
        commit.set()
        await asyncio.gather(first, second)
        assert await visas(db) == {"p1": "PE0000001", "p2": "PE0000002"}
    finally:
        await db.dispose()


async def waiting_for_a_lock(db: Database) -> bool:
    async with db.lookups() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return waiting >= 1
