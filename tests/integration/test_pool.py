"""A service's PostgreSQL connections are kept for reuse up to ``VISA_DB_POOL_SIZE``: a peak of that many requests at
once opens each connection once, not once per request beyond the pool; the connection returned last is reused
first."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from shared.db import Database
from shared.settings import CommonSettings


async def test_a_peak_within_the_pool_size_opens_each_connection_once(postgres_database):
    size = 12
    db = Database(await postgres_database("pool"), pool_size=size)
    opened: list[object] = []
    event.listen(db.engine.sync_engine, "connect", lambda connection, record: opened.append(connection))

    async def peak() -> None:
        together = asyncio.Barrier(size)

        async def one() -> None:
            async with db.lookups() as session:
                await session.execute(text("SELECT 1"))
                await together.wait()  # every connection is checked out at once

        await asyncio.gather(*(one() for _ in range(size)))

    try:
        await peak()
        await peak()
    finally:
        await db.dispose()
    assert len(opened) == size


def test_the_pool_size_is_a_setting(monkeypatch):
    assert CommonSettings().visa_db_pool_size == 20
    monkeypatch.setenv("VISA_DB_POOL_SIZE", "40")
    assert CommonSettings().visa_db_pool_size == 40


async def test_the_connection_returned_last_is_handed_out_next(postgres_database):
    db = Database(await postgres_database("pool"))
    backends = []
    try:
        async with db.lookups() as first, db.lookups() as second:
            for session in (first, second):
                backends.append(await session.scalar(text("SELECT pg_backend_pid()")))
        # ``second``'s connection went back to the pool first, ``first``'s last: the next checkout gets ``first``'s
        # (its server process ran a moment ago); first in, first out would give ``second``'s.
        async with db.lookups() as session:
            again = await session.scalar(text("SELECT pg_backend_pid()"))
    finally:
        await db.dispose()
    assert again == backends[0]
