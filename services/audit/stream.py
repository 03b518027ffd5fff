"""Reading the event log stream ``visa.event-log`` as an auditor: from an offset or a moment, taking
nothing from anyone (a stream is not consumed away), until a bound or until the log falls quiet."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika

from shared.messaging.topology import EVENT_LOG


class StreamUnavailable(RuntimeError):
    """The broker or the stream cannot be reached: nothing was read."""


@dataclass(frozen=True)
class Bound:
    """Where a window starts or ends: an offset, a moment, or (start only) ``first`` / ``last``."""

    offset: int | None = None
    moment: dt.datetime | None = None
    named: str | None = None

    @classmethod
    def parse(cls, text: str) -> Bound:
        if text in ("first", "last"):
            return cls(named=text)
        if text.isdigit():
            return cls(offset=int(text))
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{text!r}: expected first, last, an offset or an ISO time") from None
        return cls(moment=moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))

    def stream_argument(self) -> Any:
        """The ``x-stream-offset`` consumer argument that starts at this bound."""
        if self.named:
            return self.named
        if self.offset is not None:
            return self.offset
        return self.moment

    def before(self, offset: int, event: dict[str, Any]) -> bool:
        """Whether a record lies before this (start) bound: a stream starts at a chunk, not at a message."""
        if self.offset is not None:
            return offset < self.offset
        if self.moment is not None:
            return _event_time(event) < self.moment
        return False

    def after(self, offset: int, event: dict[str, Any]) -> bool:
        """Whether a record lies past this (end) bound."""
        if self.offset is not None:
            return offset > self.offset
        if self.moment is not None:
            return _event_time(event) > self.moment
        return False


def _event_time(event: dict[str, Any]) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(event.get("time")).replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def read_stream(
    amqp_url: str,
    *,
    start: Bound = Bound(named="first"),
    until: Bound | None = None,
    namespace: str = "",
    idle_seconds: float = 2.0,
    prefetch: int = 1000,
) -> AsyncIterator[tuple[int, dict[str, Any] | bytes]]:
    """Yield ``(offset, event)`` from the log in publish order (``bytes`` for a record that is not JSON).

    A stream has no end to wait for: reading stops at ``until``, or once no record has arrived for
    ``idle_seconds`` (the log is caught up).
    """
    try:
        connection = await aio_pika.connect(amqp_url, timeout=10)
    except Exception as error:
        raise StreamUnavailable(f"cannot reach RabbitMQ: {error}") from error
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)  # streams deliver only within a credit window
        try:
            queue = await channel.declare_queue(namespace + EVENT_LOG, passive=True)
        except Exception as error:
            raise StreamUnavailable(f"no stream {namespace + EVENT_LOG} for this user: {error}") from error
        arrived: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        tag = await queue.consume(arrived.put, arguments={"x-stream-offset": start.stream_argument()})
        unacked, ack_every = 0, max(1, prefetch // 4)
        try:
            while True:
                if arrived.empty():  # a timer only when nothing is waiting: one per message would cost more
                    try:
                        message = await asyncio.wait_for(arrived.get(), idle_seconds)
                    except TimeoutError:
                        return
                else:
                    message = arrived.get_nowait()
                unacked += 1
                if unacked >= ack_every:  # acks only grant credit (a stream keeps its records): batch them
                    await message.ack(multiple=True)
                    unacked = 0
                offset = int(message.headers["x-stream-offset"])
                try:
                    event = json.loads(message.body)
                except ValueError:
                    event = message.body
                record = event if isinstance(event, dict) else {}
                if start.before(offset, record):
                    continue
                if until is not None and until.after(offset, record):
                    return
                yield offset, event
        finally:
            await queue.cancel(tag)
