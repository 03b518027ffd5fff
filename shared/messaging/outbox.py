"""Outbox and inbox tables, kept in each service's own database.

A state change, the events it causes (outbox) and the id of the event that caused it (inbox) commit
in one transaction: a crash can lose neither the events nor the memory of having handled one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
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
    # The backlog alone, in the order the relay reads it (relay.py: by seq, the oldest first), with each row's
    # age for ``backlog``; a published row leaves it (migration 0002).
    Index(
        "ix_outbox_unpublished",
        "seq",
        "created_at",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)

inbox = Table(
    "inbox",
    messaging_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(120), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
)


def now() -> dt.datetime:
    return clock.current().now()


async def stage(session: AsyncSession, envelope: Envelope) -> None:
    """Record an event to publish once the surrounding transaction commits."""
    await session.execute(
        insert(outbox).values(
            event_id=envelope.id,
            event_type=envelope.type,
            routing_key=envelope.routing_key,
            correlation_id=envelope.correlationid,
            body=envelope.to_json(),
            created_at=now(),
        )
    )


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


async def first_delivery(session: AsyncSession, consumer: str, envelope: Envelope) -> bool:
    """Claim ``envelope`` for ``consumer``; False when it was handled before (a redelivery)."""
    seen = await session.scalar(
        select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == envelope.id)
    )
    if seen is not None:
        return False
    try:
        async with session.begin_nested():
            await session.execute(
                insert(inbox).values(
                    consumer=consumer, event_id=envelope.id, event_type=envelope.type, received_at=now()
                )
            )
    except IntegrityError:
        return False  # a concurrent delivery of the same event claimed it first
    return True
