"""What an operator does with a dead-letter queue: look at it, and send its messages back once fixed."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aio_pika

from shared.signing import KeyRing, SignatureRejected

from .topology import ConsumerQueue, Topology


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    type: str | None
    reason: str
    deaths: int
    body: bytes


def _describe(message: aio_pika.abc.AbstractIncomingMessage, why: str | None = None) -> DeadLetter:
    death = (message.headers.get("x-death") or [{}])[0]
    return DeadLetter(
        message_id=message.message_id,
        type=message.type,
        reason=why or str(death.get("reason", "unknown")),
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


@dataclass(frozen=True)
class Replayed:
    moved: int
    refused: list[DeadLetter]  # not validly signed: left in the dead-letter queue


async def replay(amqp_url: str, topology: Topology, consumer: ConsumerQueue, limit: int, ring: KeyRing) -> Replayed:
    """Send dead letters back to their consumer's queue: at most ``limit``, and at most what the queue held
    when the replay started (a message dead-lettered again meanwhile waits for the next replay).

    A message whose signature does not hold is not sent back: the replay lets through nothing that a
    service could not have published itself (and the consumer verifies again anyway). Each message is
    republished (persistent, confirmed) before it is acknowledged in the dead-letter queue: a crash in
    between duplicates a message, which the consumer's inbox absorbs, and never loses one.
    """
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        source = topology.dead_letter_queue(consumer).name
        queue = await channel.declare_queue(source, passive=True)
        snapshot = min(limit, queue.declaration_result.message_count or 0)
        target = topology.queue(consumer).name
        moved, refused, held = 0, [], []
        for _ in range(snapshot):
            message = await queue.get(fail=False)
            if message is None:
                break
            try:
                ring.verify(json.loads(message.body))
            except (SignatureRejected, ValueError) as rejected:
                refused.append(_describe(message, why=str(rejected)))
                held.append(message)  # unacknowledged until the end, so the next get moves on
                continue
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
        for message in held:
            await message.nack(requeue=True)
        return Replayed(moved, refused)
