"""A bare aio-pika pipeline of three hops on one broker: what RabbitMQ allows the system's three hops.

intake → authorization → issuance → a subscriber is, on the broker, three publishes with confirms and three
consumes with manual acks per request. Here the driver publishes ``count`` persistent 1 KiB messages to quorum
queue A with confirms (pipelined ``window`` at a time); a process consumes A, republishes each message to
quorum queue B with confirms and acks it once the broker confirmed; another does the same from B to C; a last
one consumes C and acks. Each process has its own connection and one channel (confirms on), prefetch
``prefetch`` (the services' ``VISA_PREFETCH``), and handles its deliveries concurrently, as aio-pika (and so
FastStream) runs one task per delivery. No database, no signature, no JSON: the broker's share and the bare
client's, each process's CPU measured from its own accounting.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from typing import Any

import aio_pika

from tests.benchmarks import cpu

HOPS = ("a", "b", "c")


def _stage(url: str, source: str, target: str | None, prefetch: int, count: int, events, report) -> None:
    asyncio.run(_run_stage(url, source, target, prefetch, count, events, report))


async def _run_stage(url: str, source: str, target: str | None, prefetch: int, count: int, events, report) -> None:
    ready, release = events  # release: the driver has read this process's CPU, it may exit
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(source)
        handled, first, last, done = 0, 0.0, 0.0, asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal handled, first, last
            if target is not None:
                forward = aio_pika.Message(message.body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                await channel.default_exchange.publish(forward, routing_key=target)  # returns once confirmed
            await message.ack()
            handled += 1
            last = time.monotonic()
            first = first or last
            if handled >= count:
                done.set()

        await queue.consume(on_message)
        ready.set()
        await done.wait()
        report.put({"queue": source, "handled": handled, "first": first, "last": last})
        await asyncio.to_thread(release.wait, 60)
    finally:
        await connection.close()


async def three_hops(url: str, prefix: str, count: int, *, prefetch: int = 16, window: int = 256) -> dict[str, Any]:
    """Run the three hops once; the sustained rate is ``count`` over first publish to last ack at C."""
    names = {hop: f"{prefix}bench.hop-{hop}" for hop in HOPS}
    body = b"x" * 1024
    context = multiprocessing.get_context("spawn")
    report, ready, release = context.Queue(), [context.Event() for _ in HOPS], context.Event()
    connection = await aio_pika.connect(url)
    stages: list = []
    try:
        channel = await connection.channel(publisher_confirms=True)
        for name in names.values():
            await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        targets = [names["b"], names["c"], None]
        for hop, target, event in zip(HOPS, targets, ready, strict=True):
            stage = context.Process(
                target=_stage, args=(url, names[hop], target, prefetch, count, (event, release), report), daemon=True
            )
            stage.start()
            stages.append(stage)
        for event in ready:
            if not await asyncio.to_thread(event.wait, 60):
                raise RuntimeError("a hop's consumer did not start in 60 s")
        pids = {"broker": cpu.roots("beam.smp", "rabbit")} | {
            f"hop {hop}": [stage.pid] for hop, stage in zip(HOPS, stages, strict=True)
        }
        pids["driver"] = [os.getpid()]  # the publisher: only its own time counts (below)
        before, driver_before = cpu.snapshot(pids), cpu.own(os.getpid(), reaped_children=False)
        start = time.monotonic()
        for offset in range(0, count, window):
            batch = min(window, count - offset)
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await asyncio.gather(*(channel.default_exchange.publish(message, names["a"]) for _ in range(batch)))
        published = time.monotonic() - start
        reports = {}
        while len(reports) < len(HOPS):
            found = await asyncio.to_thread(report.get, True, 300)
            reports[found["queue"]] = found
        after, driver_after = cpu.snapshot(pids), cpu.own(os.getpid(), reaped_children=False)
        version = connection.transport.connection.server_properties.get("version", "?")
    finally:
        release.set()
        for stage in stages:
            stage.join(10)
            if stage.is_alive():
                stage.kill()
        channel = await connection.channel()
        for name in names.values():
            await channel.queue_delete(name)
        await connection.close()
    last = reports[names["c"]]["last"]
    spent = cpu.since(before, after)
    spent["driver"] = driver_after - driver_before
    return {
        "messages": count,
        "prefetch": prefetch,
        "confirm_window": window,
        "rabbitmq": version.decode() if isinstance(version, bytes) else str(version),
        "publish_confirmed_per_s": count / published,
        "sustained_three_hops_per_s": count / (last - start),
        "seconds": last - start,
        "cpu_ms_per_message": {name: used.total * 1000 / count for name, used in spent.items()},
        "cpu_seconds": {name: {"user": used.user, "system": used.system} for name, used in spent.items()},
    }
