"""What an operator does with a dead-letter queue: look at it, and send its messages back once fixed."""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika

from .topology import ConsumerQueue, Topology


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    type: str | None
    reason: str
    deaths: int
    body: bytes


def _describe(message: aio_pika.abc.AbstractIncomingMessage) -> DeadLetter:
    death = (message.headers.get("x-death") or [{}])[0]
    return DeadLetter(
        message_id=message.message_id,
        type=message.type,
        reason=str(death.get("reason", "unknown")),
        deaths=int(death.get("count", 0)),
        body=message.body,
    )


async def inspect(amqp_url: str, topology: Topology, consumer: ConsumerQueue, limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the queue (they are returned to it unacknowledged)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.dead_letter_queue(consumer).name)
        seen = []
        while len(seen) < limit and (message := await queue.get(fail=False)) is not None:
            seen.append(message)
        letters = [_describe(message) for message in seen]
        for message in seen:
            await message.nack(requeue=True)
        return letters


async def replay(amqp_url: str, topology: Topology, consumer: ConsumerQueue, limit: int) -> int:
    """Send up to ``limit`` dead letters back to their consumer's queue; returns how many moved.

    Each is republished (persistent, confirmed) before it is acknowledged in the dead-letter queue: a
    crash in between duplicates a message, which the consumer's inbox absorbs, and never loses one.
    """
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.get_queue(topology.dead_letter_queue(consumer).name)
        target = topology.queue(consumer).name
        moved = 0
        while moved < limit and (message := await queue.get(fail=False)) is not None:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=message.headers,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    type=message.type,
                    correlation_id=message.correlation_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=target,
                mandatory=True,
            )
            await message.ack()
            moved += 1
        return moved
