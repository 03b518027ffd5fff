"""Publishes the outbox to RabbitMQ with publisher confirms, and marks what the broker confirmed.

Two ways out, neither holding a transaction open while the broker confirms:

- **Right after commit** (``send``): a unit of work that staged events while the relay runs claims its rows as it
  inserts them (``claimed_until``, ``claim_seconds`` ahead) and hands them here once committed; they are
  published from memory, without reading them back. What the broker confirmed is marked published in batches
  (one ``UPDATE`` for every event confirmed in the last ``mark_seconds``); what it refused is released at once
  for the backlog's way.
- **From the backlog** (``drain``, woken by ``notify`` and every ``poll_seconds``): rows nobody claims (staged
  while the broker was away, or by a process that is gone, once its claim lapsed) are claimed in one short
  transaction (``UPDATE … RETURNING``; on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so that replicas sharing the
  table take different rows), published, then marked or released in a second one.

A crash between a confirm and its mark publishes the event again once its claim lapses: at least once, as
consumers expect (their inbox).

Right after commit is for a broker that keeps up: while ``max_in_flight`` events wait for its confirms (it throttles
the publisher under a load above what the consumers take), new events are left to the backlog's way, which takes
them ``batch`` at a time, instead of piling up in memory as tasks, each waiting for its confirm.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from sqlalchemy import bindparam, or_, select, update

from shared.db import Database

from .outbox import Staged, now, outbox

log = logging.getLogger("visa.outbox")

PublishRow = Callable[[object], Awaitable[None]]


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        publish: PublishRow,
        *,
        poll_seconds: float,
        batch: int = 200,
        claim_seconds: float = 10.0,
        mark_seconds: float = 0.2,
        max_in_flight: int = 256,
    ) -> None:
        self.db = db
        self.publish = publish
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.claim_seconds = claim_seconds
        self.mark_seconds = mark_seconds
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # events sent right after commit whose confirms are awaited
        self.max_backoff = 30.0
        self.failures = 0
        self._wake = asyncio.Event()
        self._resume = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._marker: asyncio.Task | None = None
        self._sending: set[asyncio.Task] = set()
        self._confirmed: list[str] = []
        self._to_mark = asyncio.Event()
        self._draining = asyncio.Lock()

    # --- right after commit ---------------------------------------------------------------------------

    def claim_until(self) -> dt.datetime | None:
        """The claim a unit of work stages its events with, when this relay will publish them right after commit
        (it runs, the broker took the last events, and it keeps up with them); None: leave them to the backlog's
        way."""
        if self._task is None or self.failures or self.in_flight >= self.max_in_flight:
            return None
        return now() + dt.timedelta(seconds=self.claim_seconds)

    def send(self, staged: Sequence[Staged]) -> None:
        """Publish events a transaction just committed, claimed when staged (``claim_until``)."""
        if self._task is None:
            return  # stopped meanwhile: their claims lapse, and the next start publishes them
        self.in_flight += len(staged)
        task = asyncio.create_task(self._send(staged), name="outbox-send")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, staged: Sequence[Staged]) -> None:
        try:
            confirmed, refused, _ = await self._publish_all(staged)
        finally:
            self.in_flight -= len(staged)
        if confirmed:
            self._confirmed += confirmed
            self._to_mark.set()
        if refused:
            log.debug("outbox: %d of %d events not confirmed, left to the relay", len(refused), len(staged))
            with contextlib.suppress(Exception):  # unreleased, the claim lapses: the backlog's way takes them then
                await self._settle([], refused)
            self.notify()  # the backlog's way retries them, with its backoff

    async def _mark_loop(self) -> None:
        """Once events are confirmed, mark them and those confirmed in the next ``mark_seconds`` together."""
        while True:
            await self._to_mark.wait()
            await asyncio.sleep(self.mark_seconds)
            self._to_mark.clear()
            await self._mark_confirmed()

    async def _mark_confirmed(self) -> None:
        confirmed, self._confirmed = self._confirmed, []
        if not confirmed:
            return
        try:
            await self._settle(confirmed, [])
        except BaseException as error:
            # Left unmarked, they would be published again once their claims lapse: try again at the next round
            # (or at ``stop``, when it was this task's cancellation).
            self._confirmed = confirmed + self._confirmed
            if not isinstance(error, Exception):
                raise
            self._to_mark.set()
            log.debug("outbox: marking %d published events failed, will retry", len(confirmed), exc_info=True)

    async def _publish_all(self, rows: Sequence) -> tuple[list[str], list[str], list[BaseException]]:
        """Publish ``rows``, their confirms awaited together (the broker pipelines them): the event ids confirmed,
        those refused, and the refusals."""
        results = await asyncio.gather(*(self.publish(row) for row in rows), return_exceptions=True)
        confirmed = [row.event_id for row, result in zip(rows, results, strict=True) if result is None]
        refused = [row.event_id for row, result in zip(rows, results, strict=True) if result is not None]
        return confirmed, refused, [result for result in results if result is not None]

    async def _settle(self, confirmed: Iterable[str], refused: Iterable[str]) -> None:
        """One transaction: ``confirmed`` events are published, ``refused`` ones unclaimed."""
        confirmed, refused = list(confirmed), list(refused)
        async with self.db.transaction() as session:
            for chunk in _chunks(confirmed):
                await session.execute(update(outbox).where(outbox.c.event_id.in_(chunk)).values(published_at=now()))
            for chunk in _chunks(refused):
                await session.execute(update(outbox).where(outbox.c.event_id.in_(chunk)).values(claimed_until=None))

    # --- from the backlog -----------------------------------------------------------------------------

    def notify(self) -> None:
        """Events were staged without a claim: publish them now rather than at the next poll."""
        self._wake.set()

    def resume(self) -> None:
        """The broker is back (a reconnection): end a backoff now instead of at its term."""
        self._resume.set()

    async def drain(self) -> int:
        """Publish every pending event nobody else is publishing; returns how many the broker confirmed (from the
        backlog). Events being published right after commit are waited for first."""
        if self._sending:
            await asyncio.wait(self._sending)  # not gather: a cancelled drain must not cancel them
        total = 0
        async with self._draining:  # one at a time in a process: what one releases after a refusal, the next takes
            while True:
                sent, claimed = await self._publish_batch()
                total += sent
                if claimed < self.batch:
                    return total

    async def _claim(self) -> list:
        at = now()
        claim = _CLAIM["postgresql" if self.db.is_postgres else "sqlite"]
        parameters = {"at": at, "until": at + dt.timedelta(seconds=self.claim_seconds), "batch": self.batch}
        async with self.db.transaction() as session:
            rows = (await session.execute(claim, parameters)).all()
        return sorted(rows, key=lambda row: row.seq)

    async def _publish_batch(self) -> tuple[int, int]:
        rows = await self._claim()
        if not rows:
            return 0, 0
        confirmed, refused, failures = await self._publish_all(rows)
        await self._settle(confirmed, refused)
        if failures:
            # Said once per failure streak by ``_run``; each attempt only at DEBUG.
            log.debug("outbox: %d of %d events not confirmed, will retry: %r", len(failures), len(rows), failures[0])
            raise failures[0]
        return len(confirmed), len(rows)

    async def _run(self) -> None:
        """Publish when woken (``notify``) or every ``poll_seconds``; after a failure, back off.

        A backoff is slept in full — new events (``notify``) during it are published when it ends, not at once,
        so that a broker outage under load is one retry per backoff, not one per request — unless the broker
        connection is re-established (``resume``). A failure streak
        logs one WARNING (its tracebacks at DEBUG) and one INFO when publishing resumes.
        """
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation (``stop``) that arrives
            # as the awaited event is set.
            with contextlib.suppress(TimeoutError):
                if self.failures:
                    async with asyncio.timeout(self._backoff(self.failures)):
                        await self._resume.wait()
                else:
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
            self._wake.clear()
            self._resume.clear()
            try:
                sent = await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.failures += 1
                if self.failures == 1:
                    log.warning(
                        "outbox relay: publishing failed (%s: %s); retrying with backoff up to %.0f s, "
                        "quietly until it succeeds",
                        type(error).__name__,
                        error,
                        self.max_backoff,
                    )
                log.debug("outbox relay: attempt %d failed", self.failures, exc_info=True)
            else:
                if self.failures:
                    log.info(
                        "outbox relay: publishing resumed after %d failed attempts (%d events sent)",
                        self.failures,
                        sent,
                    )
                self.failures = 0

    def _backoff(self, failures: int) -> float:
        return min(self.poll_seconds * 2**failures, self.max_backoff)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-relay")
            self._marker = asyncio.create_task(self._mark_loop(), name="outbox-marker")
            self.notify()  # events left by a previous run go out at once

    async def stop(self) -> None:
        tasks = [task for task in (self._task, self._marker) if task is not None]
        self._task = self._marker = None
        # Not in the middle of a batch, if it ends soon: its claimed rows would wait for their claims to lapse.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.claim_seconds / 2):
                await self._draining.acquire()
                self._draining.release()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sending:
            await asyncio.wait(self._sending)
        with contextlib.suppress(Exception):  # unmarked, they go out again once their claims lapse
            await self._mark_confirmed()


def _claim_statement(*, skip_locked: bool):
    """Claims the oldest ``:batch`` rows nobody publishes (unclaimed, or their claim lapsed at ``:at``) until
    ``:until``, and returns them. Built once: only its parameters change from one poll to the next."""
    claimable = (
        select(outbox.c.seq)
        .where(
            outbox.c.published_at.is_(None),
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= bindparam("at")),
        )
        .order_by(outbox.c.seq)
        .limit(bindparam("batch"))
    )
    if skip_locked:
        # Replicas of one service share the table: each row is claimed by one relay at a time.
        claimable = claimable.with_for_update(skip_locked=True)
    return (
        update(outbox)
        .where(outbox.c.seq.in_(claimable.scalar_subquery()))
        .values(claimed_until=bindparam("until"))
        .returning(
            outbox.c.seq,
            outbox.c.event_id,
            outbox.c.event_type,
            outbox.c.routing_key,
            outbox.c.correlation_id,
            outbox.c.body,
        )
    )


_CLAIM = {"postgresql": _claim_statement(skip_locked=True), "sqlite": _claim_statement(skip_locked=False)}


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
