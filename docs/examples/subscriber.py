#!/usr/bin/env python3
"""An integrator of Peru's visa system: receives events from ``visa.events``, keeps only the genuine ones.

Standalone on purpose (copy it): it needs Python 3.10 or later and ``pip install aio-pika cryptography
rfc8785``, never the visa system's own code. What it does, and why, is explained in ``docs/integrators.md``:

* its own durable quorum queue, bound to ``visa.events`` with the routing keys it wants, and a dead-letter
  queue of its own for what it refuses;
* optionally, history first: the stream ``visa.event-log`` read from an offset, then the live queue;
* each event's Ed25519 signature checked against the published key ring before anything is done with it;
* de-duplication by event ``id`` (delivery is at least once), and an ack only once the event is processed.

Processing here means appending the event as one JSON line to ``--out``.

    python subscriber.py --amqp-url amqp://acme:secret@broker/visa --keyring keyring.json \\
        --queue acme.visas --out visas.jsonl --from-offset first
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import logging
import os
from collections import OrderedDict
from pathlib import Path

import aio_pika
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger("subscriber")
EVENT_LOG = "visa.event-log"  # the stream of every event, in publish order
# The types this integrator understands. Anything else (a new type, or a `.v2` published beside its `.v1`
# during a migration) is acknowledged and ignored: handling two versions of one fact would do it twice.
UNDERSTOOD = {
    "pe.gob.rree.visa.request.submitted.v1",
    "pe.gob.rree.visa.authorization.review_started.v1",
    "pe.gob.rree.visa.authorization.granted.v1",
    "pe.gob.rree.visa.authorization.denied.v1",
    "pe.gob.rree.visa.authorization.not_required.v1",
    "pe.gob.rree.visa.authorization.revoked.v1",
    "pe.gob.rree.visa.issued.v1",
    "pe.gob.rree.visa.cancelled.v1",
}


class Rejected(Exception):
    """An event not accepted; ``code`` is one of the failures listed in docs/integrators.md."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))  # base64url, padding left off


def moment(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # noqa: UP017 (Python 3.10)


class KeyRing:
    """The published public keys: which service each key speaks for, which types it signs, and when."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys = self.read()

    def read(self) -> dict[str, dict]:
        document = json.loads(self.path.read_text())
        return {key["kid"]: key for key in document["keys"] if key.get("algorithm") == "Ed25519"}

    def verify(self, event: dict) -> None:
        kid, signature = event.get("sigkeyid"), event.get("signature")
        if not (isinstance(kid, str) and kid and isinstance(signature, str) and signature):
            raise Rejected("unsigned", "no sigkeyid and signature attributes")
        if kid not in self.keys:
            self.keys = self.read()  # rotation: a key published since we started is in the file, not in memory
        key = self.keys.get(kid)
        if key is None:
            raise Rejected("unknown-key", f"key {kid!r} is not in the key ring")
        # The signed bytes: RFC 8785 canonical JSON of the whole event except `signature` (sigkeyid included),
        # so they do not depend on how the producer happened to lay out its JSON.
        try:
            signed = rfc8785.dumps({name: value for name, value in event.items() if name != "signature"})
        except rfc8785.CanonicalizationError as error:  # e.g. a number beyond 2**53: nobody signed that
            raise Rejected("malformed", f"no RFC 8785 form: {error}") from error
        try:
            Ed25519PublicKey.from_public_bytes(unb64(key["public_key"])).verify(unb64(signature), signed)
        except (InvalidSignature, ValueError) as error:
            raise Rejected("bad-signature", f"signature by {kid} does not match the event") from error
        # A genuine signature is not enough: the key must belong to the service that owns this event type.
        if event.get("type") not in key["event_types"] or event.get("source") != f"urn:pe:rree:visa:{key['service']}":
            raise Rejected("not-owner", f"{key['service']}'s key {kid} may not sign {event.get('type')}")
        try:
            when = moment(str(event.get("time")))
        except ValueError as error:
            raise Rejected("key-not-valid", f"event time {event.get('time')!r} unreadable") from error
        until = key.get("valid_until")
        if when < moment(key["valid_from"]) or (until and when >= moment(until)):
            raise Rejected("key-not-valid", f"key {kid} was not valid at {when.isoformat()}")


class Subscriber:
    """Verifies, de-duplicates and processes one event at a time."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.ring, self.out, self.max_events = KeyRing(args.keyring), args.out, args.max_events
        self.processed = 0
        # Delivery is at least once: a redelivery (an ack lost with a connection), a replay of dead letters or
        # history overlapping the live queue brings an event again. Seen ids are remembered in a bounded,
        # most-recent-first set, seeded from the output file so that a restart remembers too. Duplicates
        # arrive close to the original, so a window suffices here; a real integrator records the id in the
        # same database transaction as its effect (a unique key), which makes the check exact.
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.remember = args.remember
        if self.out.exists():
            for line in self.out.read_text().splitlines():
                self.remember_id(json.loads(line)["id"])

    @property
    def done(self) -> bool:
        return self.max_events is not None and self.processed >= self.max_events

    def remember_id(self, event_id: str) -> None:
        self.seen[event_id] = None
        self.seen.move_to_end(event_id)
        if len(self.seen) > self.remember:
            self.seen.popitem(last=False)

    def handle(self, body: bytes) -> None:
        try:
            event = json.loads(body)
        except ValueError as error:
            raise Rejected("malformed", "not JSON") from error
        if not isinstance(event, dict) or event.get("specversion") != "1.0" or not isinstance(event.get("id"), str):
            raise Rejected("malformed", "not a CloudEvents 1.0 event")
        # Verify before de-duplicating: only a genuine event's id counts, so nothing forged can pass for,
        # or shadow, a genuine event.
        self.ring.verify(event)
        if event["type"] not in UNDERSTOOD:
            log.info("ignored %s %s: a type this integrator does not know", event["type"], event["id"])
            return
        if event["id"] in self.seen:
            log.info("duplicate %s %s: already processed", event["type"], event["id"])
            return
        with self.out.open("a") as out:  # the effect: durable before the ack, so a crash loses nothing
            out.write(json.dumps(event) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.remember_id(event["id"])
        self.processed += 1
        log.info("processed %s %s (request %s)", event["type"], event["id"], event.get("subject"))


def topic_match(pattern: list[str], words: list[str]) -> bool:
    """AMQP topic matching (``*`` one word, ``#`` any number): the stream holds every routing key."""
    if not pattern:
        return not words
    if pattern[0] == "#":
        return any(topic_match(pattern[1:], words[i:]) for i in range(len(words) + 1))
    return bool(words) and pattern[0] in ("*", words[0]) and topic_match(pattern[1:], words[1:])


def stream_offset(text: str) -> str | int | dt.datetime:
    """``first``/``last``/``next``, an offset, an ISO timestamp (sent as an AMQP timestamp) or an interval."""
    if text.isdigit():
        return int(text)
    try:
        return moment(text)
    except ValueError:
        return text  # first, last, next, or an interval such as 7D or 12h: the broker decides


async def run(args: argparse.Namespace) -> None:
    subscriber = Subscriber(args)
    connection = await aio_pika.connect_robust(args.amqp_url)  # reconnects, re-declares and re-consumes
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=args.prefetch)  # bounded unacked window; streams require one
        # Our own dead-letter exchange and queue: what we refuse is kept for a human, never dropped.
        dead_letter = await channel.declare_exchange(f"{args.queue}.dlx", aio_pika.ExchangeType.DIRECT, durable=True)
        dlq = await channel.declare_queue(f"{args.queue}.dlq", durable=True, arguments={"x-queue-type": "quorum"})
        await dlq.bind(dead_letter, routing_key=args.queue)
        queue = await channel.declare_queue(
            args.queue,
            durable=True,  # survives broker restarts, and keeps events while we are away
            arguments={
                "x-queue-type": "quorum",  # replicated
                "x-dead-letter-exchange": dead_letter.name,
                "x-dead-letter-routing-key": args.queue,
                "x-delivery-limit": 5,  # a message that keeps failing ends in the DLQ instead of looping
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
        # Bind before reading history: every event published from now on is in our queue, whatever the
        # history phase sees; what both phases see is removed by the de-duplication.
        for key in args.bind:
            await queue.bind(args.exchange, routing_key=key)

        if args.from_offset is not None:
            stream = await channel.declare_queue(EVENT_LOG, passive=True)  # checked, not declared

            async def refuse_from_stream(message: aio_pika.abc.AbstractIncomingMessage, why: Rejected) -> None:
                # A stream cannot dead-letter: file the refused event in our DLQ ourselves (publisher-confirmed).
                headers = {"x-refused": why.code, "x-stream-offset": message.headers.get("x-stream-offset")}
                refused = aio_pika.Message(
                    message.body, headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                )
                await dead_letter.publish(refused, routing_key=args.queue)
                await message.ack()  # settled: an unacked stream delivery would hold the prefetch window

            log.info("history: reading %s from offset %s", EVENT_LOG, args.from_offset)
            arguments = {"x-stream-offset": stream_offset(args.from_offset)}
            # History ends once the stream has had nothing more for --history-quiet seconds: caught up.
            await consume(subscriber, stream, args, args.history_quiet, refuse_from_stream, arguments=arguments)

        async def refuse_from_queue(message: aio_pika.abc.AbstractIncomingMessage, why: Rejected) -> None:
            await message.reject(requeue=False)  # the broker moves it to our DLQ (x-death says from where)

        if not subscriber.done:
            log.info("live: consuming queue %s", args.queue)
            await consume(subscriber, queue, args, args.idle_seconds, refuse_from_queue)
        log.info("stopping after %d event(s)", subscriber.processed)


async def consume(subscriber, source, args, quiet, refuse, **consume_args) -> None:
    """Handle ``source``'s deliveries one at a time until ``subscriber`` is done or ``quiet`` idle seconds."""
    try:
        async with source.iterator(timeout=quiet, **consume_args) as deliveries:
            async for message in deliveries:
                routing_key = message.routing_key or ""
                if any(topic_match(key.split("."), routing_key.split(".")) for key in args.bind):
                    try:
                        subscriber.handle(message.body)
                    except Rejected as why:
                        log.warning("refused message %s (%s): %s", message.message_id, routing_key, why)
                        await refuse(message, why)  # settles the message
                        continue
                # Ack only now, after the effect: a crash before this line means a redelivery, not a loss.
                # Any other error propagates: unacked, the message returns to the queue for the next run.
                await message.ack()
                if subscriber.done:
                    return
    except asyncio.TimeoutError:  # noqa: UP041 (before Python 3.11 it is not the built-in TimeoutError)
        log.info("nothing for %s s", quiet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--keyring", type=Path, default=Path(os.environ.get("VISA_KEYRING", "var/keys/keyring.json")))
    parser.add_argument("--queue", required=True, help="our own queue, e.g. acme.visas (plus .dlx, .dlq)")
    parser.add_argument("--bind", action="append", help="routing key (repeatable); visa.issued, visa.cancelled")
    parser.add_argument("--exchange", default="visa.events")
    parser.add_argument("--from-offset", help="read visa.event-log first: first, an offset, a timestamp, 7D…")
    parser.add_argument("--history-quiet", type=float, default=2.0, help="seconds without history: caught up")
    parser.add_argument("--max-events", type=int, help="stop after processing this many events")
    parser.add_argument("--idle-seconds", type=float, help="stop after this many seconds without a delivery")
    parser.add_argument("--out", type=Path, default=Path("events.jsonl"), help="processed events, one per line")
    parser.add_argument("--remember", type=int, default=100_000, help="event ids kept for de-duplication")
    parser.add_argument("--prefetch", type=int, default=16)
    args = parser.parse_args()
    args.bind = args.bind or ["visa.issued", "visa.cancelled"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        log.info("interrupted: what was not acked is delivered again next time")
    except (aio_pika.exceptions.AMQPError, ConnectionError) as error:
        log.error("broker: %r", error)  # e.g. ACCESS_REFUSED: a right docs/integrators.md lists is missing
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
