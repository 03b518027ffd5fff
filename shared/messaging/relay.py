"""Publishes the outbox to RabbitMQ with publisher confirms, and marks what the broker confirmed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update

from shared.db import Database

from .outbox import now, outbox

log = logging.getLogger("visa.outbox")

PublishRow = Callable[[object], Awaitable[None]]


class OutboxRelay:
    def __init__(self, db: Database, publish: PublishRow, *, poll_seconds: float, batch: int = 200) -> None:
        self.db = db
        self.publish = publish
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.max_backoff = 30.0
        self._wake = asyncio.Event()
        self._resume = asyncio.Event()
        self._task: asyncio.Task | None = None

    def notify(self) -> None:
        """A transaction staged events: publish now rather than at the next poll."""
        self._wake.set()

    def resume(self) -> None:
        """The broker is back (a reconnection): end a backoff now instead of at its term."""
        self._resume.set()

    async def drain(self) -> int:
        """Publish every pending event; returns how many the broker confirmed."""
        total = 0
        while True:
            sent = await self._publish_batch()
            total += sent
            if sent < self.batch:
                return total

    async def _publish_batch(self) -> int:
        async with self.db.transaction() as session:
            query = select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq).limit(self.batch)
            if self.db.is_postgres:
                # Replicas of one service share the table: each row is published by one relay at a time.
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            if not rows:
                return 0
            # Confirms are awaited together: the broker pipelines them.
            results = await asyncio.gather(*(self.publish(row) for row in rows), return_exceptions=True)
            confirmed = [
                row.seq for row, result in zip(rows, results, strict=True) if not isinstance(result, BaseException)
            ]
            failures = [result for result in results if isinstance(result, BaseException)]
            if confirmed:
                await session.execute(update(outbox).where(outbox.c.seq.in_(confirmed)).values(published_at=now()))
        if failures:
            # Said once per failure streak by ``_run``; each attempt only at DEBUG.
            log.debug("outbox: %d of %d events not confirmed, will retry: %r", len(failures), len(rows), failures[0])
            raise failures[0]
        return len(confirmed)

    async def _run(self) -> None:
        """Publish when woken (``notify``) or every ``poll_seconds``; after a failure, back off.

        A backoff is slept in full — new events (``notify``) during it are published when it ends, not at once,
        so that a broker outage under load is one retry per backoff, not one per request — unless the broker
        connection is re-established (``resume``). A failure streak
        logs one WARNING (its tracebacks at DEBUG) and one INFO when publishing resumes.
        """
        failures = 0
        while True:
            if failures:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._resume.wait(), timeout=self._backoff(failures))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()
            self._resume.clear()
            try:
                sent = await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                if failures == 1:
                    log.warning(
                        "outbox relay: publishing failed (%s: %s); retrying with backoff up to %.0f s, "
                        "quietly until it succeeds",
                        type(error).__name__,
                        error,
                        self.max_backoff,
                    )
                log.debug("outbox relay: attempt %d failed", failures, exc_info=True)
            else:
                if failures:
                    log.info(
                        "outbox relay: publishing resumed after %d failed attempts (%d events sent)", failures, sent
                    )
                failures = 0

    def _backoff(self, failures: int) -> float:
        return min(self.poll_seconds * 2**failures, self.max_backoff)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-relay")
            self.notify()  # events left by a previous run go out at once

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
