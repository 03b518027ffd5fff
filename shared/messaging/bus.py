"""One service's connection to ``visa.events``: topology, outbox relay and idempotent consumers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from faststream.exceptions import RejectMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import CONTENT_TYPE, Envelope, EventData, UnknownEventType
from shared.db import Database
from shared.settings import CommonSettings

from .outbox import first_delivery, stage
from .relay import OutboxRelay
from .topology import ConsumerQueue, Topology

log = logging.getLogger("visa.messaging")


@dataclass
class UnitOfWork:
    """One transaction of a service: its state change and the events that change causes."""

    session: AsyncSession
    source: str
    cause: Envelope | None = None
    emitted: list[Envelope] = field(default_factory=list)

    async def emit(self, data: EventData) -> Envelope:
        envelope = Envelope.wrap(data, source=self.source, causation=self.cause)
        await stage(self.session, envelope)
        self.emitted.append(envelope)
        return envelope


Handler = Callable[[UnitOfWork, EventData], Awaitable[None]]


class PoisonEvent(Exception):
    """A handler's verdict that no retry can ever succeed: the event goes to the dead-letter queue now."""


class Bus:
    def __init__(self, settings: CommonSettings, db: Database, *, service: str) -> None:
        self.db = db
        self.service = service
        self.source = f"urn:pe:rree:visa:{service}"
        self.topology = Topology(settings.visa_namespace, settings.visa_delivery_limit)
        self.broker = RabbitBroker(
            settings.amqp_url,
            default_channel=Channel(
                prefetch_count=settings.visa_prefetch, publisher_confirms=True, on_return_raises=True
            ),
            graceful_timeout=settings.visa_graceful_timeout,
            app_id=self.source,
            log_level=logging.DEBUG,  # one line per message is DEBUG; state changes log at INFO
        )
        self.relay = OutboxRelay(db, self._publish, poll_seconds=settings.visa_outbox_poll_seconds)
        self.consumers: list[ConsumerQueue] = []
        self.database_retry_seconds = 0.5

    @asynccontextmanager
    async def unit(self, cause: Envelope | None = None) -> AsyncIterator[UnitOfWork]:
        async with self.db.transaction() as session:
            uow = UnitOfWork(session, self.source, cause)
            yield uow
        if uow.emitted:
            self.relay.notify()

    async def _publish(self, row) -> None:
        await self.broker.publish(
            row.body,
            exchange=self.topology.events,
            routing_key=row.routing_key,
            mandatory=True,  # unroutable is an error (on_return_raises), not a silent success
            persist=True,
            message_id=row.event_id,
            message_type=row.event_type,
            correlation_id=row.correlation_id,
            content_type=CONTENT_TYPE,
        )

    def subscribe(self, consumer: ConsumerQueue, handlers: dict[type[EventData], Handler]) -> None:
        """Consume ``consumer``'s queue; each event type known to ``handlers`` is handled exactly once."""
        self.consumers.append(consumer)
        name = f"{self.service}:{consumer.name}"

        async def on_message(message: RabbitMessage) -> None:
            try:
                envelope = Envelope.model_validate_json(message.body)
                handler = handlers.get(envelope.model_class())
                if handler is None:
                    log.debug("%s ignores %s", name, envelope.type)
                    return
                data = envelope.payload()
            except UnknownEventType as unknown:
                log.debug("%s ignores unknown event type %s", name, unknown)
                return
            except ValidationError as invalid:
                # Poison: no retry can fix it. The queue dead-letters it for an operator to inspect.
                log.error("%s dead-letters message %s: %s", name, message.message_id, invalid)
                raise RejectMessage(requeue=False) from invalid
            while True:
                try:
                    async with self.unit(cause=envelope) as uow:
                        if await first_delivery(uow.session, name, envelope):
                            await handler(uow, data)
                        else:
                            log.debug("%s already handled %s", name, envelope.id)
                    return
                except PoisonEvent as poison:
                    log.error("%s dead-letters event %s: %s", name, envelope.id, poison)
                    raise RejectMessage(requeue=False) from poison
                except Exception as error:
                    if await self._database_reachable():
                        # The event's own failure: retry; the delivery limit dead-letters what never succeeds.
                        attempt = int(message.headers.get("x-delivery-count", 0) or 0)
                        log.warning("%s failed on %s (attempt %d): %r", name, envelope.id, attempt + 1, error)
                        await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
                        raise RejectMessage(requeue=True) from error
                    # The database is down: no event is at fault, so none spends its delivery limit.
                    # The message is held (and the prefetch window with it) until the database is back.
                    log.warning("%s: database unreachable (%r); %s waits for it", name, error, envelope.id)
                    await self._until_database_reachable()

        self.broker.subscriber(
            self.topology.queue(consumer),
            ack_policy=AckPolicy.REJECT_ON_ERROR,
            title=name,
        )(on_message)

    async def _database_reachable(self) -> bool:
        try:
            await self.db.ping()
        except Exception:
            return False
        return True

    async def _until_database_reachable(self) -> None:
        pause = self.database_retry_seconds
        while not await self._database_reachable():
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)
        log.info("database reachable again")

    async def start(self) -> None:
        await self.broker.connect()
        await self.topology.declare(self.broker, *self.consumers)
        await self.broker.start()
        self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
        await self.broker.stop()

    async def ready(self) -> bool:
        return await self.broker.ping(timeout=2.0)
