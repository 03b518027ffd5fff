"""One service's connection to ``visa.events``: topology, outbox relay and idempotent consumers."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

import orjson
from aiormq.exceptions import AMQPError
from faststream.exceptions import RejectMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy import Table, Update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shared import clock as clocks
from shared.contracts import CONTENT_TYPE, EVENT_MODELS, Envelope, EventData, UnknownEventType
from shared.contracts.registry import Role, owned_types, routing_headers, source_of
from shared.db import Database
from shared.observability import Observability, traceparent_now
from shared.observability.logs import about_request, bind_request
from shared.observability.metrics import DEAD_LETTERED, DUPLICATE, HANDLED, IGNORED, RETRIED
from shared.observability.tracing import context_of
from shared.privacy import failure_kind
from shared.settings import CommonSettings
from shared.signing import SIGNATURE, SIGNATURE_KEY_ID, SignatureRejected, SigningKey
from shared.signing.store import KeyFiles, RingFile

from .outbox import Staged, claimed_with, first_deliveries, first_delivery, outbox, stage_all, staging
from .relay import OutboxRelay
from .retention import Retention, too_old
from .together import HANDLED as HANDLED_TOGETHER
from .together import Together
from .topology import ConsumerQueue, Topology

log = logging.getLogger("visa.messaging")

T = TypeVar("T")


@dataclass
class UnitOfWork:
    """One transaction of a service: its state change and the events that change causes."""

    session: AsyncSession
    source: str
    signer: SigningKey | None
    cause: Envelope | None = None
    emitted: list[Envelope] = field(default_factory=list)
    # When the relay publishes the events right after commit, the claim their rows are staged with (relay.py).
    claim: Callable[[], dt.datetime | None] = lambda: None
    staged: list[Staged] = field(default_factory=list)
    # The outbox rows of the events emitted, inserted together just before the transaction commits (``stage_all``).
    rows: list[dict] = field(default_factory=list)
    # What ``once`` read, by key.
    read: dict[str, object] = field(default_factory=dict)

    async def once(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        """``read()``'s value, read once per unit of work: the events handled together, in one transaction, share
        it as they share their commit (the treaty list: one read from Redis for a group, not one per event)."""
        if key not in self.read:
            self.read[key] = await read()
        return self.read[key]  # type: ignore[return-value]

    async def emit(self, data: EventData) -> Envelope:
        if self.signer is None:
            raise RuntimeError(f"{self.source} owns no event type: it may not emit {data.event_type}")
        envelope = Envelope.wrap(data, source=self.source, causation=self.cause, traceparent=traceparent_now())
        envelope, body = signed_and_written(envelope, self.signer)
        staged, row = staging(envelope, claimed_until=self.claim(), body=body)
        self.staged.append(staged)
        self.rows.append(row)
        self.emitted.append(envelope)
        return envelope

    def take_back(self, emitted: int) -> None:
        """Forget the events emitted after the first ``emitted`` of this unit of work (``len(uow.emitted)`` when the
        handler began): a handler that learns it has nothing to do, after it emitted, takes them back. Nothing of
        them left the unit: their outbox rows are inserted at its end (``stage``)."""
        if len(self.rows) != len(self.emitted):
            raise RuntimeError("events already staged in the outbox cannot be taken back")
        del self.emitted[emitted:], self.staged[emitted:], self.rows[emitted:]

    async def stage(self) -> None:
        """Insert the outbox rows of the events emitted so far (one statement for all of them)."""
        rows, self.rows = self.rows, []
        await stage_all(self.session, rows)


@dataclass
class Additions(UnitOfWork):
    """A unit of work that only adds rows (``add``) and emits the event they cause, with no session: ``Bus.adding``
    writes them and the event's outbox row all at once (``Database.insert_all``: in no set order)."""

    batches: list[tuple[Table, list[dict]]] = field(default_factory=list)

    def add(self, table: Table, rows: Sequence[dict]) -> None:
        """Insert ``rows`` (each setting the same columns) into ``table``."""
        self.batches.append((table, list(rows)))


Handler = Callable[[UnitOfWork, EventData], Awaitable[None]]


@dataclass(frozen=True)
class OneWrite:
    """All an event's handling is: one ``UPDATE … RETURNING`` (``statement``, with ``parameters``); ``written(count)``
    is told how many rows it changed."""

    statement: Update
    parameters: dict
    written: Callable[[int], None]


@dataclass(frozen=True)
class AtOnce:
    """A handler whose whole work is one write and which emits nothing (authorization recording a visa): ``write``
    says it for an event. An event alone in its group is then handled, on PostgreSQL, by one statement in autocommit —
    its inbox claim and the write chained (``outbox.claimed_with``), the write applied only on the event's first
    delivery — where a transaction costs a ``BEGIN``, the claim, the write and a ``COMMIT``. Otherwise, and on SQLite,
    ``handler`` runs in the unit of work as any handler does."""

    handler: Handler
    write: Callable[[EventData], OneWrite]

    async def __call__(self, uow: UnitOfWork, data: EventData) -> None:
        await self.handler(uow, data)


@lru_cache(maxsize=32)
def _claimed_with(write: Update):
    """``outbox.claimed_with(write)``, built once per write statement (its compiled form cached by SQLAlchemy)."""
    return claimed_with(write)


def signed(envelope: Envelope, key: SigningKey) -> Envelope:
    """``envelope`` with its signature: signed over the JSON it is published as, so verifiers see the same."""
    return signed_and_written(envelope, key)[0]


def signed_and_written(envelope: Envelope, key: SigningKey) -> tuple[Envelope, bytes]:
    """``envelope`` signed, and the JSON it is published as: the very object the signature covers, written once."""
    event = key.sign(envelope.model_dump(mode="json", exclude_none=True))
    with_signature = envelope.model_copy(
        update={SIGNATURE_KEY_ID: event[SIGNATURE_KEY_ID], SIGNATURE: event[SIGNATURE]}
    )
    return with_signature, orjson.dumps(event)


class TopologyMissing(RuntimeError):
    """The broker lacks an exchange or a queue this service needs: an administrator must provision it."""


class PoisonEvent(Exception):
    """A handler's verdict that no retry can ever succeed: the event goes to the dead-letter queue now."""


class Bus:
    def __init__(
        self, settings: CommonSettings, db: Database, *, service: str, clock: clocks.Clock = clocks.SYSTEM
    ) -> None:
        self.db = db
        self.clock = clock
        self.service = service
        self.source = source_of(service)
        self.topology = Topology(settings.visa_namespace, settings.visa_delivery_limit)
        # Keys are read at construction: a service without its key, or without the ring, does not start.
        self.ring = RingFile(settings.visa_keyring)
        keys = KeyFiles(settings.visa_keyring, settings.visa_signing_keys)
        self.signer = keys.signing_key(service) if owned_types(service) else None
        self.observability = Observability(service)
        self.metrics = self.observability.metrics
        self.broker = RabbitBroker(
            settings.amqp_url,
            middlewares=(
                RabbitPrometheusMiddleware(registry=self.metrics.registry, app_name=service),
                RabbitTelemetryMiddleware(tracer_provider=self.observability.tracer_provider),
            ),
            default_channel=Channel(
                prefetch_count=settings.visa_prefetch, publisher_confirms=True, on_return_raises=True
            ),
            graceful_timeout=settings.visa_graceful_timeout,
            timeout=10,  # a handshake that stalls is given up and retried, not awaited for ever
            # Back on the broker: the outbox goes out now, not at the end of the relay's backoff.
            on_reconnected=[lambda _connection: self.relay.resume()],
            app_id=self.source,
            log_level=logging.DEBUG,  # one line per message is DEBUG; state changes log at INFO
        )
        self.relay = OutboxRelay(db, self._publish, poll_seconds=settings.visa_outbox_poll_seconds)
        self.retention = Retention(
            db,
            outbox_days=settings.visa_outbox_retention_days,
            inbox_days=settings.visa_inbox_retention_days,
            interval_seconds=settings.visa_retention_interval_seconds,
        )
        self.consumers: list[ConsumerQueue] = []
        self.database_retry_seconds = 0.5

    @asynccontextmanager
    async def unit(self, cause: Envelope | None = None) -> AsyncIterator[UnitOfWork]:
        async with self.db.transaction() as session:
            uow = UnitOfWork(session, self.source, self.signer, cause, claim=self.relay.claim_until)
            yield uow
            await uow.stage()
        self._committed(uow)

    @asynccontextmanager
    async def adding(self) -> AsyncIterator[Additions]:
        """A unit of work that only inserts rows and stages the event they cause (a request accepted): written all at
        once by ``Database.insert_all``, on PostgreSQL one statement without a transaction around it."""
        additions = Additions(None, self.source, self.signer, claim=self.relay.claim_until)  # type: ignore[arg-type]
        yield additions
        if len(additions.rows) > 1:
            # insert_all orders no rows: the outbox's sequence would not say which of two events came first.
            raise ValueError(f"{self.service}: a unit of work that only adds rows emits one event at most")
        await self.db.insert_all([*additions.batches, (outbox, additions.rows)])
        self._committed(additions)

    def _committed(self, uow: UnitOfWork) -> None:
        if claimed := [staged for staged in uow.staged if staged.claimed]:
            self.relay.send(claimed)  # committed: out now, from memory
        if len(claimed) < len(uow.staged):
            self.relay.notify()

    async def _publish(self, row) -> None:
        # Published in the trace of the request that staged it (its CloudEvent's traceparent), not the relay's.
        event = orjson.loads(row.body)
        parent = context_of(event.get("traceparent"))
        token = otel_context.attach(parent) if parent is not None else None
        try:
            await self._send(row, routing_headers(event))
        finally:
            if token is not None:
                otel_context.detach(token)
        self.metrics.published.labels(self.service, row.event_type).inc()

    async def _send(self, row, headers: dict[str, str] | None = None) -> None:
        await self.broker.publish(
            row.body,
            exchange=self.topology.events_passive,
            routing_key=row.routing_key,
            # The issuing post of an authorization event, from its signed data: routes it to that post's queue.
            headers=headers or None,
            mandatory=True,  # unroutable is an error (on_return_raises), not a silent success
            persist=True,
            message_id=row.event_id,
            message_type=row.event_type,
            correlation_id=row.correlation_id,
            content_type=CONTENT_TYPE,
        )

    def consume(self, role: Role, handlers: Mapping[type[EventData], Handler]) -> None:
        """Consume ``role``'s queue with one use case per event type the registry says it handles."""
        if role.service != self.service:
            raise ValueError(f"{self.service} cannot consume {role.service}'s queue")
        if set(handlers) != set(role.handles):
            missing = {m.__name__ for m in role.handles} ^ {m.__name__ for m in handlers}
            raise ValueError(f"{self.service}'s handlers and the registry disagree on {sorted(missing)}")
        self.subscribe(role.consumes, handlers)

    def subscribe(self, consumer: ConsumerQueue, handlers: Mapping[type[EventData], Handler]) -> None:
        """Consume ``consumer``'s queue; each event type known to ``handlers`` is handled exactly once."""
        self.consumers.append(consumer)
        name = f"{self.service}:{consumer.name}"

        queue, settled = consumer.name, self.metrics.settled

        async def on_message(message) -> None:  # the message itself (``_the_message``): nothing to inject
            with clocks.using(self.clock), about_request(None):
                await handle(message)

        async def handle(message: RabbitMessage) -> None:
            # The AMQP type until the event is read: a label only when it names a known type (a forger's
            # inventions would grow the metric without bound).
            event_type = getattr(message.raw_message, "type", None)
            event_type = event_type if event_type in EVENT_MODELS else "unknown"
            try:
                envelope = Envelope.model_validate(self.verified(message.body))
                event_type = envelope.type
                bind_request(envelope.subject)
                handler = handlers.get(envelope.model_class())
                if handler is None:
                    log.debug("%s ignores %s", name, envelope.type)
                    settled(queue, event_type, IGNORED)
                    return
                data = envelope.payload()
            except UnknownEventType as unknown:
                log.debug("%s ignores unknown event type %s", name, unknown)
                settled(queue, event_type, IGNORED)
                return
            except SignatureRejected as forged:
                # Not proven to come from the service that owns its type: nothing may come of it.
                log.error("%s dead-letters message %s: signature %s", name, message.message_id, forged)
                settled(queue, event_type, DEAD_LETTERED)
                raise RejectMessage(requeue=False) from forged
            except (ValueError, ValidationError) as invalid:
                # Poison: no retry can fix it. The queue dead-letters it for an operator to inspect.
                log.error("%s dead-letters message %s: %s", name, message.message_id, _reason(invalid))
                settled(queue, event_type, DEAD_LETTERED)
                raise RejectMessage(requeue=False) from invalid
            if too_old(envelope.time, self.retention.inbox_retention, self.clock.now()):
                # Its inbox entry may have been pruned (retention.py): handling it could act a second time.
                log.error(
                    "%s dead-letters event %s of %s: older than the inbox's retention (VISA_INBOX_RETENTION_DAYS)",
                    name,
                    envelope.id,
                    envelope.time.isoformat(),
                )
                settled(queue, event_type, DEAD_LETTERED)
                raise RejectMessage(requeue=False)
            outcome = await together.submit((envelope, handler, data))
            if outcome == HANDLED_TOGETHER:
                return
            with self._span(f"{queue} handle {envelope.type}", envelope):
                await handled(
                    message, envelope, handler, data, failed=outcome if isinstance(outcome, Exception) else None
                )

        async def handle_group(group: Sequence[tuple[Envelope, Handler, EventData]]) -> None:
            # One transaction for the events that arrived together (together.py); any failure hands each back to
            # ``handled``, alone.
            started = time.perf_counter()
            if len(group) == 1 and isinstance(group[0][1], AtOnce) and self.db.is_postgres:
                await at_once(*group[0], started=started)
                return
            async with self.unit() as uow:
                # The group's inbox entries, one statement: a redelivery among them is known before any handler runs.
                firsts = await first_deliveries(uow.session, name, [envelope for envelope, _, _ in group])
                for (envelope, handler, data), first in zip(group, firsts, strict=True):
                    uow.cause = envelope
                    bind_request(envelope.subject)
                    with self._span(f"{queue} handle {envelope.type}", envelope):
                        if first:
                            await handler(uow, data)
                        else:
                            log.debug("%s already handled %s", name, envelope.id)
            elapsed = time.perf_counter() - started
            for (envelope, _, _), first in zip(group, firsts, strict=True):
                settled(queue, envelope.type, HANDLED if first else DUPLICATE)
                self.metrics.handler_seconds.labels(self.service, queue, envelope.type).observe(elapsed)

        async def at_once(envelope: Envelope, handler: AtOnce, data: EventData, *, started: float) -> None:
            bind_request(envelope.subject)
            with self._span(f"{queue} handle {envelope.type}", envelope):
                write = handler.write(data)
                parameters = {
                    "inbox_consumer": name,
                    "inbox_event_id": envelope.id,
                    "inbox_event_type": envelope.type,
                    "inbox_received_at": clocks.current().now(),
                    **write.parameters,
                }
                async with self.db.lookups() as session:  # autocommit: the statement is its own transaction
                    first, written = (
                        await (await session.connection()).execute(_claimed_with(write.statement), parameters)
                    ).one()
                if first:
                    write.written(written)
                else:
                    log.debug("%s already handled %s", name, envelope.id)
            settled(queue, envelope.type, HANDLED if first else DUPLICATE)
            self.metrics.handler_seconds.labels(self.service, queue, envelope.type).observe(
                time.perf_counter() - started
            )

        together = Together(handle_group, name=name)

        async def handled(
            message: RabbitMessage,
            envelope: Envelope,
            handler: Handler,
            data: EventData,
            *,
            failed: Exception | None = None,  # how its first attempt failed, when that was already made
        ) -> None:
            while True:
                started = time.perf_counter()
                try:
                    if failed is not None:
                        failure, failed = failed, None
                        raise failure
                    async with self.unit(cause=envelope) as uow:
                        first = await first_delivery(uow.session, name, envelope)
                        if first:
                            await handler(uow, data)
                        else:
                            log.debug("%s already handled %s", name, envelope.id)
                    settled(queue, envelope.type, HANDLED if first else DUPLICATE)
                    self.metrics.handler_seconds.labels(self.service, queue, envelope.type).observe(
                        time.perf_counter() - started
                    )
                    return
                except PoisonEvent as poison:
                    log.error("%s dead-letters event %s: %s", name, envelope.id, poison)
                    settled(queue, envelope.type, DEAD_LETTERED)
                    raise RejectMessage(requeue=False) from poison
                except Exception as error:
                    # A connection the database dropped (a restart, a network cut) is no more the event's fault than
                    # a database that is down: the pool replaces it, and the event is tried again at no cost.
                    lost = isinstance(error, DBAPIError) and error.connection_invalidated
                    if not lost and await self._database_reachable():
                        # The event's own failure: retry; the delivery limit dead-letters what never succeeds.
                        attempt = int(message.headers.get("x-delivery-count", 0) or 0)
                        log.warning(
                            "%s failed on %s (attempt %d): %s", name, envelope.id, attempt + 1, failure_kind(error)
                        )
                        log.debug("%s failure on %s", name, envelope.id, exc_info=True)
                        settled(queue, envelope.type, RETRIED)
                        await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
                        raise RejectMessage(requeue=True) from error
                    # The database is down: no event is at fault, so none spends its delivery limit.
                    # The message is held (and the prefetch window with it) until the database is back.
                    log.warning(
                        "%s: database unreachable (%s); %s waits for it", name, failure_kind(error), envelope.id
                    )
                    await self._until_database_reachable()

        self.broker.subscriber(
            self.topology.consumed(consumer),
            ack_policy=AckPolicy.REJECT_ON_ERROR,
            title=name,
            decoder=_the_message,
        )(on_message)

    @contextmanager
    def _span(self, name: str, envelope: Envelope) -> Iterator[None]:
        """The span of one event's handling: in the trace the event carries (the request's), as a child of
        FastStream's consumer span when that one is already in it."""
        current = trace.get_current_span().get_span_context()
        carried = context_of(envelope.traceparent)
        parent = None
        if carried is not None:
            carried_trace = trace.get_current_span(carried).get_span_context().trace_id
            parent = None if current.is_valid and current.trace_id == carried_trace else carried
        attributes = {
            "messaging.message.id": envelope.id,
            "cloudevents.event_type": envelope.type,
            "visa.request_id": envelope.subject,
        }
        with self.observability.tracer.start_as_current_span(
            name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
        ):
            yield

    def verified(self, body: bytes) -> dict:
        """The event in ``body`` once its signature holds; raises ``SignatureRejected`` or ``ValueError``."""
        event = orjson.loads(body)
        if not isinstance(event, dict):
            raise ValueError("not a JSON object")
        try:
            self.ring.ring.verify(event)
        except SignatureRejected as rejected:
            # A key added since start (rotation) is in the file, not yet in memory: read it once more.
            if rejected.code != "unknown-key" or not self.ring.refresh():
                raise
            self.ring.ring.verify(event)
        return event

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
        await self._check_topology()
        await self.broker.start()
        self.relay.start()
        self.retention.start()

    async def _check_topology(self) -> None:
        names = [self.topology.events.name] + [self.topology.name(consumer.name) for consumer in self.consumers]
        try:
            await self.broker.declare_exchange(self.topology.events_passive)
            for consumer in self.consumers:
                await self.broker.declare_queue(self.topology.consumed(consumer))
        except AMQPError as error:
            raise TopologyMissing(
                f"{self.service}: the broker lacks {', '.join(names)} or refuses them to this user ({error}); "
                "an administrator provisions them with `visa broker setup`"
            ) from error

    async def stop(self) -> None:
        await self.retention.stop()
        await self.relay.stop()
        await self.broker.stop()

    async def ready(self) -> bool:
        return await self.broker.ping(timeout=2.0)


async def _the_message(message: RabbitMessage) -> RabbitMessage:
    """The subscriber's decoder: the handler is given the message as it came, which it reads and verifies itself.
    Asking for it by annotation (``message: RabbitMessage``, a context field) would have FastStream's dependency
    solver fetch it in a worker thread, for every delivery (docs/performance.md)."""
    return message


def _reason(error: Exception) -> str:
    """Why a message is poison, without echoing its content (pydantic's message would quote the input)."""
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False))
    return f"{type(error).__name__}: {error}"[:300]
