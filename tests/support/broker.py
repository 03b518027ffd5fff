"""Broker helpers for tests: listen on ``visa.events`` like an integrator, clean a namespace away."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
from faststream.rabbit import RabbitBroker

from shared.messaging.topology import (
    CONSUMERS,
    DEAD_LETTER_EXCHANGE,
    EVENT_LOG,
    EVENTS_EXCHANGE,
    POSTS_EXCHANGE,
    ConsumerQueue,
    Topology,
)


async def declare_topology(amqp_url: str, topology: Topology, *consumers: ConsumerQueue, event_log: bool = True):
    """What an administrator provisions (``visa broker setup``) for ``consumers``, in ``topology``'s namespace."""
    broker = RabbitBroker(amqp_url)
    await broker.connect()
    try:
        await topology.declare(broker, *consumers, event_log=event_log)
    finally:
        await broker.stop()


async def delete_namespace(amqp_url: str, prefix: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for name in [name for consumer in CONSUMERS for name in (consumer.name, consumer.name + ".dlq")] + [EVENT_LOG]:
            channel = await connection.channel()
            await channel.queue_delete(prefix + name)
        for exchange in (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE, POSTS_EXCHANGE):
            channel = await connection.channel()
            await channel.exchange_delete(prefix + exchange)


class Listener:
    """An integrator's own queue bound to ``visa.events``: collects every event it is sent."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._changed = asyncio.Condition()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            async with self._changed:
                self.messages.append(message)
                self.events.append(json.loads(message.body))
                self._changed.notify_all()

    def of_type(self, suffix: str) -> list[dict]:
        return [event for event in self.events if event["type"].endswith(suffix)]

    async def wait_for(self, predicate, timeout: float = 30.0) -> list[dict]:
        """Wait until ``predicate(events)`` is true; the events so far otherwise fail the test."""

        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.events))

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            types = [event["type"] for event in self.events]
            raise AssertionError(f"condition not met in {timeout}s; events so far: {types}") from None
        return self.events


@asynccontextmanager
async def listen(amqp_url: str, prefix: str, *routing_keys: str) -> AsyncIterator[Listener]:
    listener = Listener()
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(prefix + EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in routing_keys or ("#",):
            await queue.bind(exchange, routing_key=key)
        await queue.consume(listener._on_message)
        yield listener
