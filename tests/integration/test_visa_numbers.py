"""Issuance on PostgreSQL takes a grant's advisory lock and draws its visas' sequence numbers in one statement
(``_LOCK_AND_NEXT_SEQS``): the lock is held until the transaction ends, and the numbers are the column's own."""

from __future__ import annotations

from sqlalchemy import text

from services.issuance.models import Base
from services.issuance.usecases import _LOCK_AND_NEXT_SEQS, _next_seqs
from shared.db import Database

KEY = "authorization:a1"


async def test_the_statement_takes_the_lock_and_draws_the_numbers(postgres_database):
    db = Database(await postgres_database("visa_numbers"), Base.metadata)
    await db.create_all()
    try:
        async with db.transaction() as session:
            connection = await session.connection()
            drawn = list((await connection.execute(_LOCK_AND_NEXT_SEQS, {"key": KEY, "count": 3})).scalars())
            async with db.lookups() as other:  # another connection, while this transaction holds the lock
                free = await other.scalar(
                    text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": KEY}
                )
            then = await _next_seqs(connection, 1)
        async with db.lookups() as other:  # the transaction ended: the lock with it
            free_after = await other.scalar(
                text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": KEY}
            )
    finally:
        await db.dispose()
    assert (free, free_after) == (False, True)
    assert sorted(drawn) == [1, 2, 3] and then == [4]
