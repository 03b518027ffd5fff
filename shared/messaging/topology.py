"""Exchanges and queues of ``visa.events``: declared the same way by every service and by ``deploy/``.

One durable topic exchange carries every event. Each consumer owns one quorum queue named
``<service>.<purpose>``, dead-lettered after ``delivery_limit`` deliveries into ``<queue>.dlq``
through the ``visa.dead-letter`` exchange. The stream ``visa.event-log``, bound with ``#``, keeps every
event in publish order for auditors and integrators who start from history. Each consular post's issuance queue
is bound to the headers exchange ``visa.posts`` (fed by ``visa.events`` with the authorization routing keys) by
the AMQP header ``post``: a post receives the authorizations of its own post only.

An administrator provisions all of it (``visa broker setup``, from ``deploy/rabbitmq/definitions.json``;
tests with ``Topology.declare``); the services only check that it exists (passive declarations), so
their broker users need no right to configure anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from shared.contracts.registry import AUTHORIZATION, CONSUMERS, INTAKE, ISSUANCE, ConsumerQueue

__all__ = [
    "AUTHORIZATION_CASES",
    "CONSUMERS",
    "DEAD_LETTER_EXCHANGE",
    "EVENTS_EXCHANGE",
    "EVENT_LOG",
    "INTAKE_STATUS",
    "ISSUANCE_AUTHORIZATIONS",
    "POSTS_EXCHANGE",
    "ConsumerQueue",
    "Topology",
]

EVENTS_EXCHANGE = "visa.events"
DEAD_LETTER_EXCHANGE = "visa.dead-letter"
EVENT_LOG = "visa.event-log"
# The headers exchange that routes authorization events to the issuing post's queue by their AMQP header ``post``:
# fed by ``visa.events`` (an exchange-to-exchange binding), each post's queue bound with ``x-match: all``.
POSTS_EXCHANGE = "visa.posts"


# Each service's queue, from the one registry of who publishes and consumes what.
AUTHORIZATION_CASES = AUTHORIZATION.consumes
ISSUANCE_AUTHORIZATIONS = ISSUANCE.consumes
INTAKE_STATUS = INTAKE.consumes


@dataclass(frozen=True)
class Topology:
    namespace: str = ""
    delivery_limit: int = 5
    # Retention of the event log: RabbitMQ's x-max-age ("7D", "1Y"…) and x-max-length-bytes; None keeps all.
    event_log_max_age: str | None = None
    event_log_max_bytes: int | None = None

    def name(self, base: str) -> str:
        return f"{self.namespace}{base}"

    @property
    def events(self) -> RabbitExchange:
        return RabbitExchange(self.name(EVENTS_EXCHANGE), type=ExchangeType.TOPIC, durable=True)

    @property
    def events_passive(self) -> RabbitExchange:
        """The events exchange as a service sees it: it must exist, the service does not declare it."""
        return RabbitExchange(self.name(EVENTS_EXCHANGE), type=ExchangeType.TOPIC, durable=True, declare=False)

    def consumed(self, consumer: ConsumerQueue) -> RabbitQueue:
        """``consumer``'s queue as its service consumes it: checked, not declared."""
        return RabbitQueue(self.name(consumer.name), queue_type=QueueType.QUORUM, durable=True, declare=False)

    @property
    def event_log(self) -> RabbitQueue:
        arguments: dict = {}
        if self.event_log_max_age:
            arguments["x-max-age"] = self.event_log_max_age
        if self.event_log_max_bytes:
            arguments["x-max-length-bytes"] = self.event_log_max_bytes
        return RabbitQueue(self.name(EVENT_LOG), queue_type=QueueType.STREAM, durable=True, arguments=arguments)

    @property
    def posts(self) -> RabbitExchange:
        return RabbitExchange(self.name(POSTS_EXCHANGE), type=ExchangeType.HEADERS, durable=True)

    @staticmethod
    def header_arguments(consumer: ConsumerQueue) -> dict[str, str]:
        """The arguments binding ``consumer``'s queue to the posts exchange: all its headers must match."""
        return {"x-match": "all", **dict(consumer.headers)}

    @property
    def dead_letter(self) -> RabbitExchange:
        return RabbitExchange(self.name(DEAD_LETTER_EXCHANGE), type=ExchangeType.DIRECT, durable=True)

    def queue(self, consumer: ConsumerQueue) -> RabbitQueue:
        name = self.name(consumer.name)
        return RabbitQueue(
            name,
            queue_type=QueueType.QUORUM,
            durable=True,
            arguments={
                "x-dead-letter-exchange": self.name(DEAD_LETTER_EXCHANGE),
                "x-dead-letter-routing-key": name,
                "x-delivery-limit": self.delivery_limit,
                # Dead-letter with confirms inside the broker: a poison message is moved, never dropped.
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )

    def dead_letter_queue(self, consumer: ConsumerQueue) -> RabbitQueue:
        return RabbitQueue(self.name(consumer.name) + ".dlq", queue_type=QueueType.QUORUM, durable=True)

    async def declare(self, broker: RabbitBroker, *consumers: ConsumerQueue, event_log: bool = True) -> None:
        """Idempotently declare the exchanges, the event log, and each consumer's queue, bindings and
        dead-letter queue (an administrator's rights; the services declare nothing)."""
        events = await broker.declare_exchange(self.events)
        dead_letter = await broker.declare_exchange(self.dead_letter)
        if event_log:
            log = await broker.declare_queue(self.event_log)
            await log.bind(events, routing_key="#")
        for consumer in consumers:
            queue = await broker.declare_queue(self.queue(consumer))
            if consumer.headers:
                posts = await broker.declare_exchange(self.posts)
                for key in consumer.bindings:
                    await posts.bind(events, routing_key=key)
                await queue.bind(posts, arguments=self.header_arguments(consumer))
            else:
                for key in consumer.bindings:
                    await queue.bind(events, routing_key=key)
            dlq = await broker.declare_queue(self.dead_letter_queue(consumer))
            await dlq.bind(dead_letter, routing_key=queue.name)
