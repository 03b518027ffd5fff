"""Deliveries of one queue that arrive while a transaction is under way are handled together, in the next one.

A consumer handles each event in a unit of work of its own: a transaction (``BEGIN``, the inbox's claim, the
handler's statements, the outbox, ``COMMIT``), a session and a pooled connection. Under load the broker delivers
several events at once (up to the prefetch); handling them one after another in a single transaction shares that
fixed cost among them (group commit). ``Together`` runs one such transaction at a time per queue and process: the
deliveries that arrive meanwhile wait for the next one, so a quiet queue handles each event at once, alone, and a
busy one in groups as large as what arrived.

A group is all or nothing, and only tried once: when anything in it fails (a handler's error, a poison event, a
lock timeout, a deadlock, the database away), its transaction is rolled back and every delivery of the group is
handed back to be handled alone, by the one path that knows how to retry, dead-letter or wait for the database.
A delivery that was alone in its group is handed back with its failure, which that path then treats as its first
attempt's (its handler is not run once more for nothing). Nothing is acknowledged before the transaction that
handled it committed: each delivery's handler returns, and the broker is acknowledged, only once its outcome is
known.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("visa.messaging")

Delivery = TypeVar("Delivery")

# The outcome of a delivery handed to ``Together.submit``, or the exception its group of one failed with.
HANDLED = "handled"  # handled in a group whose transaction committed: acknowledge it
ALONE = "alone"  # its group of several failed and was rolled back: handle it alone
Outcome = str | Exception


class Together(Generic[Delivery]):
    """Runs ``handle_group`` on the deliveries submitted, one group at a time.

    ``handle_group(deliveries)`` handles them in one transaction and returns once it committed; if it raises,
    nothing of it stands, and each delivery is answered ``ALONE`` (a delivery alone in its group: the exception).
    """

    def __init__(
        self, handle_group: Callable[[Sequence[Delivery]], Awaitable[None]], *, name: str, limit: int = 64
    ) -> None:
        self.handle_group = handle_group
        self.name = name
        self.limit = limit
        self.waiting: list[tuple[Delivery, asyncio.Future[Outcome]]] = []
        self._runner: asyncio.Task | None = None

    async def submit(self, delivery: Delivery) -> Outcome:
        """``HANDLED`` once ``delivery`` was handled in a committed transaction; ``ALONE`` if its group of several
        failed; the exception if it was alone in its group and that failed."""
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.waiting.append((delivery, outcome))
        if self._runner is None:
            # The runner inherits this delivery's context (the clock, the logging fields): each handler sets its
            # own event's fields before it runs.
            self._runner = asyncio.create_task(self._run(), name=f"{self.name}: together")
        return await outcome

    async def _run(self) -> None:
        group: list[tuple[Delivery, asyncio.Future[Outcome]]] = []
        try:
            while self.waiting:
                group, self.waiting = self.waiting[: self.limit], self.waiting[self.limit :]
                try:
                    await self.handle_group([delivery for delivery, _ in group])
                except Exception as error:
                    if len(group) > 1:
                        log.debug("%s: %d deliveries handled alone (%s)", self.name, len(group), type(error).__name__)
                    outcome = ALONE if len(group) > 1 else error
                else:
                    outcome = HANDLED
                for _, future in group:
                    if not future.done():
                        future.set_result(outcome)
                group = []
        finally:
            self._runner = None
            # Cancelled (the service stops): what was not handled is not acknowledged; the broker redelivers it.
            for _, future in [*group, *self.waiting]:
                future.cancel()
            self.waiting = []
