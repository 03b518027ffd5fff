"""Outbox and inbox tables, kept in each service's own database.

A state change, the events it causes (outbox) and the id of the event that caused it (inbox) commit
in one transaction: a crash can lose neither the events nor the memory of having handled one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    String,
    Table,
    Update,
    bindparam,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared import clock
from shared.contracts import Envelope
from shared.db import NAMING_CONVENTION, UTCDateTime

messaging_metadata = MetaData(naming_convention=NAMING_CONVENTION)

outbox = Table(
    "outbox",
    messaging_metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(120), nullable=False),
    Column("routing_key", String(120), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("published_at", UTCDateTime(), nullable=True),
    # Until when a relay publishes this row and others leave it alone (relay.py): set when it is staged by a
    # process that publishes it itself right after commit, or when a relay claims it from the backlog.
    Column("claimed_until", UTCDateTime(), nullable=True),
    # The backlog alone, in the order the relay reads it (relay.py: by seq, the oldest first), with each row's
    # age for ``backlog``; a published row leaves it (migration 0002).
    Index(
        "ix_outbox_unpublished",
        "seq",
        "created_at",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
    # Retention (retention.py): the published rows older than it go, the oldest first.
    Index("ix_outbox_created_at", "created_at"),
)

inbox = Table(
    "inbox",
    messaging_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(120), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    # Retention (retention.py): the entries older than it go, the oldest first.
    Index("ix_inbox_received_at", "received_at"),
)


def now() -> dt.datetime:
    return clock.current().now()


@dataclass(frozen=True)
class Staged:
    """An event staged in the outbox, as the relay publishes it: the row's columns, without reading it back."""

    event_id: str
    event_type: str
    routing_key: str
    correlation_id: str
    body: bytes
    claimed: bool  # staged with a claim: the staging process publishes it right after commit


def staging(
    envelope: Envelope, *, claimed_until: dt.datetime | None = None, body: bytes | None = None
) -> tuple[Staged, dict]:
    """An event as staged, and its outbox row, to insert with ``stage_all``; ``body``: its JSON, when the caller
    wrote it already (``Bus``: the signed event as signed)."""
    staged = Staged(
        event_id=envelope.id,
        event_type=envelope.type,
        routing_key=envelope.routing_key,
        correlation_id=envelope.correlationid,
        body=envelope.to_json() if body is None else body,
        claimed=claimed_until is not None,
    )
    row = {
        "event_id": staged.event_id,
        "event_type": staged.event_type,
        "routing_key": staged.routing_key,
        "correlation_id": staged.correlation_id,
        "body": staged.body,
        "created_at": now(),
        "claimed_until": claimed_until,
    }
    return staged, row


async def stage_all(session: AsyncSession, rows: Sequence[dict]) -> None:
    """Insert the outbox ``rows`` (``staging``) in one statement, in their order: their events are published once
    the surrounding transaction commits."""
    if rows:
        # On the unit of work's connection: a Core statement needs none of the ORM session's execution (the same
        # for the inbox's claims below; docs/performance.md). Several rows are one round trip (executemany).
        await (await session.connection()).execute(_STAGE, rows[0] if len(rows) == 1 else list(rows))


async def stage(session: AsyncSession, envelope: Envelope, *, claimed_until: dt.datetime | None = None) -> Staged:
    """Record an event to publish once the surrounding transaction commits; ``claimed_until``: the staging process
    publishes it itself right after commit, and no relay takes it before then (``relay.py``)."""
    staged, row = staging(envelope, claimed_until=claimed_until)
    await stage_all(session, [row])
    return staged


_STAGE = insert(outbox)


async def backlog(session: AsyncSession) -> tuple[int, dt.datetime | None]:
    """How many staged events the broker has not confirmed yet, and when the oldest of them was staged."""
    row = (
        await session.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
        )
    ).one()
    oldest = row[1]
    if isinstance(oldest, str):  # SQLite returns an aggregate's timestamp as text
        oldest = dt.datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return row[0], oldest


# One statement claims an event: the entry is written unless one is there (a redelivery, or a concurrent delivery
# of the same event, which PostgreSQL makes this one wait for). Both dialects say ON CONFLICT DO NOTHING.
_CLAIM = {
    "postgresql": postgresql.insert(inbox).on_conflict_do_nothing(index_elements=["consumer", "event_id"]),
    "sqlite": sqlite.insert(inbox).on_conflict_do_nothing(index_elements=["consumer", "event_id"]),
}


async def first_delivery(session: AsyncSession, consumer: str, envelope: Envelope) -> bool:
    """Claim ``envelope`` for ``consumer``; False when it was handled before (a redelivery)."""
    connection = await session.connection()
    result = await connection.execute(
        _CLAIM[connection.dialect.name],
        {"consumer": consumer, "event_id": envelope.id, "event_type": envelope.type, "received_at": now()},
    )
    return result.rowcount == 1


# The claims of several events, one statement: the event ids it wrote come back (a conflict writes nothing).
_CLAIM_ALL = {dialect: claim.returning(inbox.c.event_id) for dialect, claim in _CLAIM.items()}


def claimed_with(write: Update) -> Select:
    """On PostgreSQL, an event's inbox claim and ``write`` (an ``UPDATE … RETURNING``) as one statement: the claim and
    the update chained as data-modifying ``WITH`` queries, the update applied only when the claim inserted its entry.
    It returns one row: ``first`` (1 when this is the event's first delivery, else 0) and ``written`` (the rows the
    update changed). Parameters: the claim's ``inbox_consumer``, ``inbox_event_id``, ``inbox_event_type``,
    ``inbox_received_at``, and ``write``'s own."""
    claim = (
        postgresql.insert(inbox)
        .values(
            consumer=bindparam("inbox_consumer", type_=inbox.c.consumer.type),
            event_id=bindparam("inbox_event_id", type_=inbox.c.event_id.type),
            event_type=bindparam("inbox_event_type", type_=inbox.c.event_type.type),
            received_at=bindparam("inbox_received_at", type_=inbox.c.received_at.type),
        )
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(inbox.c.event_id)
        .cte("claim")
    )
    written = write.where(exists(select(claim.c.event_id))).cte("written")
    return select(
        select(func.count()).select_from(claim).scalar_subquery().label("first"),
        select(func.count()).select_from(written).scalar_subquery().label("written"),
    )


async def first_deliveries(session: AsyncSession, consumer: str, envelopes: Sequence[Envelope]) -> list[bool]:
    """Claim each of ``envelopes`` for ``consumer`` in one statement; for each, whether it is its first delivery.
    An event that comes twice among them is claimed once: its first occurrence is first, the other a redelivery."""
    if len(envelopes) == 1:
        return [await first_delivery(session, consumer, envelopes[0])]
    connection = await session.connection()
    at = now()
    types = {envelope.id: envelope.type for envelope in reversed(envelopes)}  # each event once
    result = await connection.execute(
        _CLAIM_ALL[connection.dialect.name],
        [
            {"consumer": consumer, "event_id": id_, "event_type": type_, "received_at": at}
            for id_, type_ in types.items()
        ],
    )
    claimed = set(result.scalars())
    firsts = []
    for envelope in envelopes:
        firsts.append(envelope.id in claimed)
        claimed.discard(envelope.id)
    return firsts
