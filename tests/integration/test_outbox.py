"""The outbox relay, the inbox's claim and retention, on SQLite and PostgreSQL, with a stand-in for the broker.

What the relay promises beyond delivery (``test_delivery.py`` has the broker): it holds no transaction open while
the broker confirms, it leaves alone the rows another relay claimed until their claim lapses, it releases what the
broker refused for the next attempt, and it marks what was confirmed. The inbox claims an event in one statement.
Retention deletes only what is past it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import event, func, insert, select

from shared import clock as clocks
from shared.clock import FixedClock
from shared.contracts import Envelope, ReviewStarted
from shared.contracts.registry import source_of
from shared.db import Database
from shared.messaging import messaging_metadata
from shared.messaging.outbox import first_deliveries, first_delivery, inbox, outbox, stage
from shared.messaging.relay import OutboxRelay
from shared.messaging.retention import CLOCK_MARGIN, Retention, too_old
from shared.settings import CommonSettings

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


@pytest.fixture
async def db(new_database):
    database = Database(await new_database("outbox"), messaging_metadata)
    await database.create_all()
    yield database
    await database.dispose()


@pytest.fixture
def clock():
    fixed = FixedClock(NOW)
    with clocks.using(fixed):
        yield fixed


def envelope(n: int = 0) -> Envelope:
    return Envelope.wrap(
        ReviewStarted(request_id=f"r-{n}-{uuid.uuid4()}", case_id="c"), source=source_of("authorization")
    )


async def staged(db: Database, count: int, *, claimed_until: dt.datetime | None = None) -> list[str]:
    ids = []
    async with db.transaction() as session:
        for n in range(count):
            ids.append((await stage(session, envelope(n), claimed_until=claimed_until)).event_id)
    return ids


async def published(db: Database) -> set[str]:
    async with db.sessions() as session:
        return set(await session.scalars(select(outbox.c.event_id).where(outbox.c.published_at.is_not(None))))


class Broker:
    """Stands in for RabbitMQ: records what was published; ``hold`` keeps each publish waiting for its confirm
    until ``release``; ``refuse`` makes every publish fail."""

    def __init__(self, *, hold: bool = False, refuse: bool = False) -> None:
        self.sent: list[str] = []
        self.waiting = asyncio.Event()
        self.confirm = asyncio.Event()
        if not hold:
            self.confirm.set()
        self.refuse = refuse

    async def __call__(self, row) -> None:
        self.waiting.set()
        await self.confirm.wait()
        if self.refuse:
            raise ConnectionError("the broker refused it")
        self.sent.append(row.event_id)


async def test_the_relay_holds_no_transaction_while_the_broker_confirms(db, clock):
    ids = await staged(db, 3)
    broker = Broker(hold=True)
    relay = OutboxRelay(db, broker, poll_seconds=3600)
    draining = asyncio.create_task(relay.drain())
    await broker.waiting.wait()  # the relay is waiting for the broker's confirm
    # Another writer commits meanwhile (on SQLite, a held transaction would keep the write lock from it) ...
    more = await staged(db, 1)
    # ... and a second relay takes only that one: the rows being published are claimed.
    other = Broker()
    assert await OutboxRelay(db, other, poll_seconds=3600).drain() == 1
    broker.confirm.set()

    assert await draining == 3
    assert broker.sent == ids and other.sent == more
    assert await published(db) == set(ids + more)


async def test_a_claim_keeps_other_relays_away_until_it_lapses(db, clock):
    ids = await staged(db, 2, claimed_until=NOW + dt.timedelta(seconds=10))
    broker = Broker()
    relay = OutboxRelay(db, broker, poll_seconds=3600)
    assert await relay.drain() == 0  # its staging process publishes them itself

    clock.advance(dt.timedelta(seconds=10))  # that process is gone: the claim lapses
    assert await relay.drain() == 2
    assert broker.sent == ids and await published(db) == set(ids)


async def test_what_the_broker_refused_is_released_for_the_next_attempt(db, clock):
    ids = await staged(db, 2)
    relay = OutboxRelay(db, Broker(refuse=True), poll_seconds=3600)
    with pytest.raises(ConnectionError):
        await relay.drain()
    assert await published(db) == set()

    broker = Broker()
    assert await OutboxRelay(db, broker, poll_seconds=3600).drain() == 2  # at once: no claim to wait out
    assert broker.sent == ids


async def test_events_sent_right_after_commit_are_marked_and_refusals_released(db, clock):
    relay = OutboxRelay(db, Broker(), poll_seconds=3600, mark_seconds=0.01)
    relay.start()
    try:
        until = relay.claim_until()
        assert until == NOW + dt.timedelta(seconds=relay.claim_seconds)
        async with db.transaction() as session:
            rows = [await stage(session, envelope(n), claimed_until=until) for n in range(3)]
        relay.send(rows)
    finally:
        await relay.stop()  # waits for what was sent, and marks what was confirmed
    assert await published(db) == {row.event_id for row in rows}

    refusing = OutboxRelay(db, Broker(refuse=True), poll_seconds=3600)
    refusing.start()
    try:
        async with db.transaction() as session:
            row = await stage(session, envelope(), claimed_until=refusing.claim_until())
        refusing.send([row])
        with pytest.raises(ConnectionError):  # released at once, so the backlog's way takes it and fails too
            await refusing.drain()
    finally:
        await refusing.stop()
    async with db.sessions() as session:
        claimed = await session.scalar(select(outbox.c.claimed_until).where(outbox.c.event_id == row.event_id))
    assert claimed is None and row.event_id not in await published(db)


async def test_while_the_broker_is_behind_on_confirms_new_events_are_left_to_the_backlog(db, clock):
    broker = Broker(hold=True)
    relay = OutboxRelay(db, broker, poll_seconds=3600, max_in_flight=2)
    relay.start()
    try:
        async with db.transaction() as session:
            rows = [await stage(session, envelope(n), claimed_until=relay.claim_until()) for n in range(2)]
        relay.send(rows)
        await broker.waiting.wait()  # two events wait for their confirms: as many as the relay sends at once
        assert relay.claim_until() is None  # the next ones are staged unclaimed, for the backlog's way
        broker.confirm.set()
        await relay.drain()
        assert relay.claim_until() is not None  # confirmed: right after commit again
    finally:
        await relay.stop()
    assert await published(db) == {row.event_id for row in rows}


def statements_sent(db: Database) -> list[str]:
    """The statements ``db`` is sent from now on, but those that open a transaction or a savepoint."""
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    return statements


async def test_the_inbox_claims_an_event_in_one_statement(db, clock):
    delivered = envelope()
    statements = statements_sent(db)
    async with db.transaction() as session:
        first = await first_delivery(session, "authorization:cases", delivered)
    claimed = list(statements)
    async with db.transaction() as session:
        again = await first_delivery(session, "authorization:cases", delivered)
        other = await first_delivery(session, "issuance:authorizations", delivered)

    assert (first, again, other) == (True, False, True)
    assert len(claimed) == 1 and claimed[0].startswith("INSERT INTO inbox")


async def test_the_events_of_a_group_are_claimed_in_one_statement_each_once(db, clock):
    handled_before, fresh, twice = envelope(1), envelope(2), envelope(3)
    async with db.transaction() as session:
        assert await first_delivery(session, "authorization:cases", handled_before)
    statements = statements_sent(db)
    async with db.transaction() as session:
        firsts = await first_deliveries(
            session, "authorization:cases", [twice, handled_before, fresh, twice, envelope(4)]
        )
    statements = list(statements)

    # The one handled before is a redelivery; an event that comes twice is first once, at its first occurrence.
    assert firsts == [True, False, True, False, True]
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO inbox")
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(inbox)) == 4


async def test_two_deliveries_of_one_event_at_once_are_claimed_once(postgres_database, clock):
    # On PostgreSQL the two transactions overlap (SQLite serializes them from their BEGIN IMMEDIATE).
    db = Database(await postgres_database("inbox"), messaging_metadata)
    await db.create_all()
    delivered = envelope()
    started = asyncio.Barrier(2)

    async def deliver() -> bool:
        async with db.transaction() as session:
            await session.execute(select(1))
            await started.wait()  # both transactions are open before either claims
            return await first_delivery(session, "authorization:cases", delivered)

    try:
        assert sorted(await asyncio.gather(deliver(), deliver())) == [False, True]
    finally:
        await db.dispose()


async def test_retention_prunes_only_what_is_past_it(db, clock):
    day = dt.timedelta(days=1)
    rows = [
        ("old-published-1", NOW - 8 * day, NOW - 8 * day),
        ("old-published-2", NOW - 9 * day, NOW - 9 * day),
        ("old-published-3", NOW - 10 * day, NOW - 10 * day),
        ("old-unpublished", NOW - 100 * day, None),  # never confirmed: kept whatever its age
        ("young-published", NOW - 6 * day, NOW - 6 * day),
    ]
    entries = [
        ("old-1", NOW - 31 * day),
        ("old-2", NOW - 40 * day),
        ("old-3", NOW - 35 * day),
        ("young", NOW - 29 * day),
    ]
    async with db.transaction() as session:
        for event_id, created, published_at in rows:
            await session.execute(
                insert(outbox).values(
                    event_id=event_id,
                    event_type="t",
                    routing_key="k",
                    correlation_id="c",
                    body=b"{}",
                    created_at=created,
                    published_at=published_at,
                )
            )
        for event_id, received in entries:
            await session.execute(
                insert(inbox).values(consumer="c", event_id=event_id, event_type="t", received_at=received)
            )
    retention = Retention(db, outbox_days=7, inbox_days=30, interval_seconds=3600, batch=2)  # batches of 2

    pruned = await retention.prune()

    async with db.sessions() as session:
        kept = set(await session.scalars(select(outbox.c.event_id)))
        remembered = set(await session.scalars(select(inbox.c.event_id)))
    assert (pruned.outbox, pruned.inbox) == (3, 3)
    assert kept == {"old-unpublished", "young-published"} and remembered == {"young"}
    assert (await retention.prune()).outbox == 0


async def test_retention_deletes_in_batches_each_committed_alone(db, clock):
    """Each batch is a transaction of its own, so that the service's transactions go in between."""
    day = dt.timedelta(days=1)
    async with db.transaction() as session:
        await session.execute(
            insert(inbox),
            [
                {"consumer": "c", "event_id": f"e-{n}", "event_type": "t", "received_at": NOW - 31 * day}
                for n in range(25)
            ],
        )
    commits = []
    event.listen(db.engine.sync_engine, "commit", lambda conn: commits.append(1))
    pruned = await Retention(db, outbox_days=7, inbox_days=30, interval_seconds=3600, batch=10).prune()

    assert pruned.inbox == 25
    assert len(commits) >= 3  # 10 + 10 + 5, each committed alone
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(inbox)) == 0


def test_an_event_older_than_the_inbox_retention_is_too_old():
    retention = dt.timedelta(days=30)
    edge = NOW - retention + CLOCK_MARGIN
    assert too_old(edge - dt.timedelta(microseconds=1), retention, NOW)
    assert not too_old(edge, retention, NOW)
    assert not too_old(NOW + dt.timedelta(days=1), retention, NOW)  # from a producer whose clock runs ahead


def test_an_inbox_retention_under_a_day_is_refused():
    # With an hour of margin for clocks, a retention of an hour or less would refuse every fresh event.
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        CommonSettings(visa_inbox_retention_days=0.04)
    assert CommonSettings(visa_inbox_retention_days=1).visa_inbox_retention_days == 1
