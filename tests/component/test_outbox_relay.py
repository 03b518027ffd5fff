"""The outbox relay during a broker outage: new events do not cut its backoff short, and a failure streak is
one WARNING line (tracebacks at DEBUG), its end one INFO line."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from aiormq.exceptions import AMQPConnectionError
from sqlalchemy import func, insert, select

from shared.db import Database
from shared.messaging import messaging_metadata
from shared.messaging.outbox import now, outbox
from shared.messaging.relay import OutboxRelay

POLL = 0.05  # backoffs of 0.1, 0.2, 0.4 … seconds


class Broker:
    """A publish that fails while the broker is down, and counts every attempt."""

    def __init__(self) -> None:
        self.down = True
        self.attempts = 0
        self.published: list[str] = []

    async def publish(self, row) -> None:
        self.attempts += 1
        if self.down:
            raise AMQPConnectionError("connection refused (the broker is down)")
        self.published.append(row.event_id)


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/relay.db", messaging_metadata)
    await database.create_all()
    yield database
    await database.dispose()


async def stage_one(db: Database) -> str:
    event_id = str(uuid.uuid4())
    async with db.transaction() as session:
        await session.execute(
            insert(outbox).values(
                event_id=event_id,
                event_type="pe.gob.rree.visa.request.submitted.v1",
                routing_key="visa.request.submitted",
                correlation_id="r-1",
                body=b"{}",
                created_at=now(),
            )
        )
    return event_id


async def pending(db: Database) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None)))


async def test_a_broker_outage_under_load_is_one_warning_and_a_few_retries(db, caplog):
    caplog.set_level(logging.DEBUG, logger="visa.outbox")
    broker = Broker()
    relay = OutboxRelay(db, broker.publish, poll_seconds=POLL)
    drains = 0
    drain = relay.drain

    async def counted() -> int:
        nonlocal drains
        drains += 1
        return await drain()

    relay.drain = counted
    await stage_one(db)
    relay.start()
    try:
        # Requests keep coming during the outage: each commits an event and wakes the relay.
        # For 0.65 s, and at least 50 of them whatever the machine's speed.
        loop = asyncio.get_running_loop()
        until, committed = loop.time() + 0.65, 1
        while loop.time() < until or committed <= 50:
            await stage_one(db)
            committed += 1
            relay.notify()
            await asyncio.sleep(0.005)
        failed_drains = drains
        staged = await pending(db)

        broker.down = False
        for _ in range(200):
            if not await pending(db):
                break
            await asyncio.sleep(0.02)
    finally:
        await relay.stop()

    # Attempts at about 0, 0.1, 0.3 s (then 0.7 s): the backoff, not the ~100 notifications, paces them.
    assert staged > 50
    assert 2 <= failed_drains <= 4
    assert await pending(db) == 0 and len(broker.published) == staged

    at_info = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.levelname for r in at_info] == ["WARNING", "INFO"], [r.getMessage() for r in at_info]
    warning, resumed = at_info
    assert "publishing failed (AMQPConnectionError" in warning.getMessage() and warning.exc_info is None
    assert f"resumed after {failed_drains} failed attempts" in resumed.getMessage()
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == failed_drains and all(r.levelno == logging.DEBUG for r in tracebacks)


async def test_a_second_outage_is_a_second_warning(db, caplog):
    caplog.set_level(logging.INFO, logger="visa.outbox")
    broker = Broker()
    relay = OutboxRelay(db, broker.publish, poll_seconds=POLL)
    relay.start()
    try:
        for _ in range(2):
            broker.down = True
            await stage_one(db)
            relay.notify()
            await asyncio.sleep(0.25)
            broker.down = False
            for _ in range(100):
                if not await pending(db):
                    break
                await asyncio.sleep(0.02)
    finally:
        await relay.stop()

    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "WARNING", "INFO"]


async def test_drain_still_raises_what_the_broker_said(db):
    broker = Broker()
    relay = OutboxRelay(db, broker.publish, poll_seconds=POLL)
    await stage_one(db)

    with pytest.raises(AMQPConnectionError):
        await relay.drain()
    assert await pending(db) == 1


class Watched(Broker):
    """The fake broker, telling when the relay is deep into its backoff and when an event got through."""

    def __init__(self) -> None:
        super().__init__()
        self.backing_off, self.delivered = asyncio.Event(), asyncio.Event()

    async def publish(self, row) -> None:
        try:
            await super().publish(row)
        finally:
            if self.attempts >= 5:
                self.backing_off.set()
        self.delivered.set()


async def test_a_reconnection_ends_the_backoff_at_once(db):
    broker = Watched()
    relay = OutboxRelay(db, broker.publish, poll_seconds=POLL)
    relay.max_backoff = 3600.0  # a backoff nobody would wait out in a test
    event_id = await stage_one(db)
    relay.start()
    try:
        async with asyncio.timeout(10):
            await broker.backing_off.wait()  # five failures: the next try is far away
        broker.down = False
        relay.resume()  # what the bus does when the broker connection is re-established
        async with asyncio.timeout(5):
            await broker.delivered.wait()
    finally:
        await relay.stop()

    assert broker.published == [event_id]  # minutes before the backoff's end
