"""Retention of the outbox and the inbox: what is old enough goes, without ever forgetting too soon.

Every event a service publishes leaves an outbox row, and every event it handles an inbox entry; kept forever,
they would grow with every request the system ever saw. Here they are pruned:

- **outbox**: a row the broker confirmed (``published_at`` set) and staged more than
  ``VISA_OUTBOX_RETENTION_DAYS`` ago. An unpublished row is never pruned, whatever its age.
- **inbox**: an entry received more than ``VISA_INBOX_RETENTION_DAYS`` ago. An entry is what makes a redelivery
  harmless, so it must outlive every redelivery of its event; a broker may hold a message for as long as a
  consumer is away, and an operator may send dead letters back months later. So a consumer refuses, to its
  dead-letter queue, an event older than the inbox's retention (``too_old``): its entry may have been pruned, and
  handling it could act twice. The hour of margin covers a producer's clock running ahead of the consumer's. An
  operator who must replay such an event raises the retention first (README, "Delivery guarantees").

Pruning runs every ``VISA_RETENTION_INTERVAL_SECONDS`` in each service process, in short transactions of at most
``batch`` rows each, the oldest first, through the age indexes of both tables (revision "claims and retention").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select, tuple_

from shared.db import Database

from .outbox import inbox, now, outbox

log = logging.getLogger("visa.retention")

CLOCK_MARGIN = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Pruned:
    outbox: int
    inbox: int


def too_old(event_time: dt.datetime, inbox_retention: dt.timedelta, at: dt.datetime) -> bool:
    """Whether an event of ``event_time`` may have had its inbox entry pruned by ``at``: then it is not handled."""
    return event_time < at - inbox_retention + CLOCK_MARGIN


class Retention:
    def __init__(
        self,
        db: Database,
        *,
        outbox_days: float,
        inbox_days: float,
        interval_seconds: float,
        batch: int = 5000,
    ) -> None:
        self.db = db
        self.outbox_retention = dt.timedelta(days=outbox_days)
        self.inbox_retention = dt.timedelta(days=inbox_days)
        self.interval_seconds = interval_seconds
        self.batch = batch
        self._task: asyncio.Task | None = None

    async def prune(self) -> Pruned:
        """Delete what is past its retention now; returns how many rows of each table went."""
        at = now()
        published_before = (
            select(outbox.c.seq)
            .where(outbox.c.created_at < at - self.outbox_retention, outbox.c.published_at.is_not(None))
            .order_by(outbox.c.created_at)
            .limit(self.batch)
        )
        received_before = (
            select(inbox.c.consumer, inbox.c.event_id)
            .where(inbox.c.received_at < at - self.inbox_retention)
            .order_by(inbox.c.received_at)
            .limit(self.batch)
        )
        outbox_rows = await self._delete_all(delete(outbox).where(outbox.c.seq.in_(published_before.scalar_subquery())))
        inbox_rows = await self._delete_all(
            delete(inbox).where(tuple_(inbox.c.consumer, inbox.c.event_id).in_(received_before))
        )
        return Pruned(outbox_rows, inbox_rows)

    async def _delete_all(self, statement) -> int:
        total = 0
        while True:
            async with self.db.transaction() as session:
                deleted = (await session.execute(statement)).rowcount
            total += deleted
            if deleted < self.batch:
                return total
            await asyncio.sleep(0)  # a batch at a time: the service's own transactions go in between

    async def _run(self) -> None:
        while True:
            try:
                pruned = await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("retention: pruning failed (%s: %s); trying again later", type(error).__name__, error)
            else:
                if pruned.outbox or pruned.inbox:
                    log.info(
                        "retention: %d published outbox rows and %d inbox entries pruned", pruned.outbox, pruned.inbox
                    )
            await asyncio.sleep(self.interval_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
