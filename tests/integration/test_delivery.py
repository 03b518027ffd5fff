"""Delivery guarantees against the real RabbitMQ: what TestRabbitBroker cannot prove.

Each test runs a ``Bus`` (the same class every service wires) on its own namespace, with a handler
that records what it was given, and watches the broker from outside with aio-pika.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from contextlib import asynccontextmanager

import aio_pika
import pytest
from sqlalchemy import func, select

from shared import clock as clocks
from shared.clock import FixedClock
from shared.contracts import Envelope, ReviewStarted
from shared.contracts.registry import source_of
from shared.db import Database
from shared.messaging import AUTHORIZATION_CASES, Bus, ConsumerQueue, Topology, dead_letters, messaging_metadata
from shared.messaging.bus import signed
from shared.messaging.outbox import outbox
from shared.settings import CommonSettings
from shared.signing.store import KeyFiles
from tests.support.broker import declare_topology, listen

PROBE = ConsumerQueue("authorization.cases", ("visa.authorization.review-started",))


def review_started(request_id: str | None = None, *, time: dt.datetime | None = None) -> Envelope:
    """A review-started event as authorization publishes it: from its source, signed with its key."""
    request_id = request_id or str(uuid.uuid4())
    settings = CommonSettings()
    key = KeyFiles(settings.visa_keyring, settings.visa_signing_keys).signing_key("authorization")
    envelope = Envelope.wrap(ReviewStarted(request_id=request_id, case_id="c-1"), source=source_of("authorization"))
    return signed(envelope.model_copy(update={"time": time}) if time else envelope, key)


class Recorder:
    """A handler that records each event it handles, and can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[str] = []
        self.handled = asyncio.Condition()

    async def __call__(self, uow, data: ReviewStarted) -> None:
        async with self.handled:
            self.calls.append(data.request_id)
            self.handled.notify_all()
        if self.fail:
            raise RuntimeError("handler always fails")

    async def wait_for(self, request_id: str) -> None:
        async with asyncio.timeout(30), self.handled:
            await self.handled.wait_for(lambda: request_id in self.calls)

    async def wait_for_count(self, count: int) -> None:
        async with asyncio.timeout(30), self.handled:
            await self.handled.wait_for(lambda: len(self.calls) >= count)


@asynccontextmanager
async def running_bus(
    tmp_path, amqp_url, namespace, recorder, *, database_url=None, event_log=True, clock=clocks.SYSTEM, **settings
):
    db = Database(database_url or f"sqlite+aiosqlite:///{tmp_path}/{uuid.uuid4().hex}.db", messaging_metadata)
    await db.create_all()
    # The probe stands in for authorization: it signs review-started events with authorization's key.
    settings = CommonSettings(amqp_url=amqp_url, visa_namespace=namespace, **settings)
    bus = Bus(settings, db, service="authorization", clock=clock)
    consumers = (PROBE,) if recorder is not None else ()
    await declare_topology(amqp_url, bus.topology, *consumers, event_log=event_log)
    if recorder is not None:
        bus.subscribe(PROBE, {ReviewStarted: recorder})
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()
        await db.dispose()


async def publish_raw(amqp_url: str, namespace: str, body: bytes, routing_key: str, message_id: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(namespace + "visa.events")
        await exchange.publish(
            aio_pika.Message(body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key,
            mandatory=True,
        )


async def next_dead_letter(amqp_url: str, queue_name: str) -> aio_pika.abc.AbstractIncomingMessage:
    """Wait for the next message in a dead-letter queue, as an operator inspecting it would."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name)
        async with asyncio.timeout(30), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                return message


async def test_a_poison_message_is_dead_lettered_at_once_not_looped(tmp_path, amqp_url, namespace):
    recorder = Recorder()
    async with running_bus(tmp_path, amqp_url, namespace, recorder):
        await publish_raw(amqp_url, namespace, b"{not json", "visa.authorization.review-started", "poison-1")
        dead = await next_dead_letter(amqp_url, f"{namespace}{PROBE.name}.dlq")
        # A well-formed event after it is still handled: the consumer did not stall on the poison.
        healthy = review_started()
        await publish_raw(amqp_url, namespace, healthy.to_json(), "visa.authorization.review-started", healthy.id)
        await recorder.wait_for(healthy.subject)

    assert dead.body == b"{not json" and dead.message_id == "poison-1"
    death = dead.headers["x-death"][0]
    assert death["reason"] == "rejected" and death["count"] == 1  # one delivery, no retry loop
    assert death["queue"] == f"{namespace}{PROBE.name}"
    assert recorder.calls == [healthy.subject]


async def test_a_failing_handler_is_retried_then_dead_lettered_at_the_delivery_limit(tmp_path, amqp_url, namespace):
    recorder = Recorder(fail=True)
    async with running_bus(tmp_path, amqp_url, namespace, recorder, visa_delivery_limit=2):
        event = review_started()
        await publish_raw(amqp_url, namespace, event.to_json(), "visa.authorization.review-started", event.id)
        dead = await next_dead_letter(amqp_url, f"{namespace}{PROBE.name}.dlq")

    assert json.loads(dead.body)["id"] == event.id
    # The first delivery and `delivery_limit` redeliveries, then the dead-letter queue: bounded, not lost.
    assert recorder.calls == [event.subject] * 3


async def test_a_redelivered_event_has_no_second_effect(tmp_path, amqp_url, namespace):
    recorder = Recorder()
    async with running_bus(tmp_path, amqp_url, namespace, recorder, visa_prefetch=1):
        event, sentinel = review_started(), review_started()
        for envelope in (event, event, sentinel):  # the same event id twice, as a redelivery would
            await publish_raw(amqp_url, namespace, envelope.to_json(), "visa.authorization.review-started", envelope.id)
        await recorder.wait_for(sentinel.subject)  # prefetch 1: both copies were settled before it

    assert recorder.calls == [event.subject, sentinel.subject]


async def test_an_event_older_than_the_inbox_retention_is_dead_lettered_not_handled(tmp_path, amqp_url, namespace):
    # Its inbox entry may have been pruned already: handled, it could act a second time.
    # The consumer's clock three days on (an event older than its signing key is refused for that already).
    recorder, now = Recorder(), dt.datetime.now(dt.UTC)
    later = FixedClock(now + dt.timedelta(days=3))
    async with running_bus(tmp_path, amqp_url, namespace, recorder, clock=later, visa_inbox_retention_days=2):
        old, recent = review_started(time=now), review_started(time=now + dt.timedelta(days=2))
        await publish_raw(amqp_url, namespace, old.to_json(), "visa.authorization.review-started", old.id)
        dead = await next_dead_letter(amqp_url, f"{namespace}{PROBE.name}.dlq")
        await publish_raw(amqp_url, namespace, recent.to_json(), "visa.authorization.review-started", recent.id)
        await recorder.wait_for(recent.subject)

    assert json.loads(dead.body)["id"] == old.id
    assert dead.headers["x-death"][0]["count"] == 1  # refused once, not retried
    assert recorder.calls == [recent.subject]


async def test_an_unroutable_event_stays_in_the_outbox(tmp_path, amqp_url, namespace):
    # No consumer queue is bound in this namespace, nor the event log: the broker returns the mandatory message.
    async with running_bus(tmp_path, amqp_url, namespace, None, event_log=False) as bus:
        async with bus.unit() as uow:
            await uow.emit(ReviewStarted(request_id="r-1", case_id="c-1"))
        with pytest.raises(aio_pika.exceptions.DeliveryError, match="NO_ROUTE"):
            await bus.relay.drain()
        async with bus.db.sessions() as session:
            pending = await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None)))

    assert pending == 1


async def test_two_relays_on_one_postgres_outbox_publish_every_event_once(
    tmp_path, amqp_url, namespace, postgres_database
):
    url = await postgres_database("outbox")
    async with (
        listen(amqp_url, namespace, "visa.authorization.review-started") as listener,
        running_bus(tmp_path, amqp_url, namespace, None, database_url=url) as first,
        running_bus(tmp_path, amqp_url, namespace, None, database_url=url) as second,
    ):
        await first.relay.stop()
        await second.relay.stop()  # driven by hand below, so that both drain at the same moment
        staged = []
        async with first.unit() as uow:
            for n in range(60):
                staged.append((await uow.emit(ReviewStarted(request_id=f"r-{n}", case_id="c"))).id)
        await asyncio.gather(first.relay.drain(), second.relay.drain())
        await listener.wait_for(lambda events: len(events) >= len(staged))
        async with first.db.sessions() as session:
            pending = await session.scalar(select(func.count()).where(outbox.c.published_at.is_(None)))
            published_at = await session.scalar(select(func.min(outbox.c.published_at)))

    received = [event["id"] for event in listener.events]
    assert sorted(received) == sorted(staged)  # each event once: SKIP LOCKED kept the relays apart
    assert pending == 0 and published_at <= dt.datetime.now(dt.UTC)


def test_the_probe_queue_is_the_authorization_queue():
    # The probe reuses a real queue name so that the namespace cleanup removes it.
    assert PROBE.name == AUTHORIZATION_CASES.name


async def test_an_operator_inspects_then_replays_dead_letters_once_the_cause_is_fixed(tmp_path, amqp_url, namespace):
    recorder = Recorder(fail=True)
    async with running_bus(tmp_path, amqp_url, namespace, recorder, visa_delivery_limit=1) as bus:
        event = review_started()
        await publish_raw(amqp_url, namespace, event.to_json(), "visa.authorization.review-started", event.id)
        letters = []
        async with asyncio.timeout(30):
            while not letters:  # the dead-letter queue is filled by the broker, asynchronously
                letters = await dead_letters.inspect(amqp_url, bus.topology, PROBE, limit=10)
                await asyncio.sleep(0.05)
        assert [(letter.message_id, letter.type) for letter in letters] == [(event.id, None)]
        assert json.loads(letters[0].body)["id"] == event.id
        # Inspecting leaves the message where it was.
        assert len(await dead_letters.inspect(amqp_url, bus.topology, PROBE, limit=10)) == 1

        recorder.fail = False  # the cause is fixed
        failed_attempts = len(recorder.calls)
        replayed = await dead_letters.replay(amqp_url, bus.topology, PROBE, limit=10, ring=bus.ring.ring)
        assert (replayed.moved, replayed.refused) == (1, [])
        await recorder.wait_for_count(failed_attempts + 1)
        assert await dead_letters.inspect(amqp_url, bus.topology, PROBE, limit=10) == []


async def test_a_replay_moves_what_the_dead_letter_queue_held_when_it_started_and_only_genuine_events(
    amqp_url, namespace
):
    topology = Topology(namespace)
    await declare_topology(amqp_url, topology, PROBE)
    dlq, target = topology.dead_letter_queue(PROBE).name, topology.queue(PROBE).name
    genuine = [review_started() for _ in range(3)]
    forged = review_started().model_copy(update={"subject": "someone-else"})  # its signature no longer holds
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for envelope in (*genuine, forged):
            await channel.default_exchange.publish(
                aio_pika.Message(envelope.to_json(), message_id=envelope.id, delivery_mode=2), routing_key=dlq
            )

        started = asyncio.Event()
        watcher = await connection.channel()

        # Held, never acknowledged: the moved messages stay countable in the target queue.
        async def arrived(_message) -> None:
            started.set()

        await (await watcher.declare_queue(target, passive=True)).consume(arrived)

        async def dead_lettered_again_meanwhile() -> None:
            # Once the replay has moved its first message, the queue keeps filling, as it does when the
            # replayed events fail again: a replay that did not stop at its snapshot would never end.
            await started.wait()
            for _ in range(200):
                again = review_started()
                await channel.default_exchange.publish(
                    aio_pika.Message(again.to_json(), message_id=again.id, delivery_mode=2), routing_key=dlq
                )

        flood = asyncio.create_task(dead_lettered_again_meanwhile())
        ring = KeyFiles(CommonSettings().visa_keyring, CommonSettings().visa_signing_keys).ring()
        replayed = await dead_letters.replay(amqp_url, topology, PROBE, limit=1000, ring=ring)
        await flood

        assert replayed.moved == 3
        assert [letter.message_id for letter in replayed.refused] == [forged.id]
        assert "bad-signature" in replayed.refused[0].reason
        left = (await channel.declare_queue(dlq, passive=True)).declaration_result.message_count
        assert left == 1 + 200  # the forged one stayed behind, with what came after the snapshot
