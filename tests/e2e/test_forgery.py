"""The consulate issues only what MRE authorized, against a forged message: signatures and broker rights.

Issuance runs as a process of its own, as its own broker user, on a vhost provisioned from the
deployment definitions. The forger has broker rights (authorization's user, or an administrator's)
but not authorization's signing key.
"""

from __future__ import annotations

import asyncio
import json

import aio_pika
import httpx
import pytest
from aiormq.exceptions import ChannelAccessRefused

from tests.support.histories import Signers, Story
from tests.support.keys import sign_as

GRANTED = "visa.authorization.granted"
REVOKED = "visa.authorization.revoked"
POST = "LIM"  # the issuance under test runs for the default post
QUEUE = "issuance.lim.authorizations"


async def publish(url: str, event: dict, routing_key: str, exchange: str = "visa.events") -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = channel.default_exchange if exchange == "" else await channel.get_exchange(exchange, ensure=False)
        await target.publish(
            # The header that routes to a post's queue: anyone with the broker user's rights can set it; what the
            # consulate trusts is the signed data.
            aio_pika.Message(
                json.dumps(event).encode(), message_id=event["id"], delivery_mode=2, headers={"post": POST}
            ),
            routing_key=routing_key,
        )


async def dead_letter(admin_url: str, event_id: str) -> aio_pika.abc.AbstractIncomingMessage:
    """The message ``event_id`` once issuance has dead-lettered it (an operator's look at the queue)."""
    connection = await aio_pika.connect(admin_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(QUEUE + ".dlq")
        async with asyncio.timeout(30), queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                if message.message_id == event_id:
                    return message
    raise AssertionError("unreachable")


def forged(kind: str, event: dict, keys) -> dict:
    if kind == "unknown key":
        return Signers.generate().resign(event)  # a well-formed signature, by a key nobody trusts
    if kind == "not the owner":
        return json.loads(sign_as(keys, event, "intake"))  # intake's genuine key may not sign a grant
    if kind == "tampered":
        genuine = json.loads(sign_as(keys, event))
        genuine["data"]["decided_by"] = "policy"  # signed by authorization, then changed
        return genuine
    return {name: value for name, value in event.items() if name not in ("signature", "sigkeyid")}  # unsigned


@pytest.fixture
async def issuance(system):
    service = system.services["issuance"]
    service.start()
    await service.ready()
    key = system.new_key("verifiers", "add", "--name", "Jorge Chavez airport")
    async with httpx.AsyncClient(base_url=service.url, headers={"Authorization": f"Bearer {key}"}) as client:
        yield service, client


@pytest.mark.parametrize("kind", ["unknown key", "not the owner", "tampered", "unsigned"])
async def test_a_forged_grant_is_dead_lettered_and_issues_no_visa(issuance, broker, signing_keys, kind):
    service, verifier = issuance
    story = Story()
    grant = story.decide(story.submit("forged-request"), "forged-authorization")
    message = forged(kind, grant, signing_keys)

    # authorization's own broker user: the broker lets it publish grants, only the key is missing.
    await publish(broker.urls["authorization"], message, GRANTED)
    dead = await dead_letter(broker.admin, message["id"])

    assert dead.headers["x-death"][0]["reason"] == "rejected"  # at once, not after retries
    code = {"unknown key": "unknown-key", "not the owner": "not-owner", "tampered": "bad-signature"}.get(
        kind, "unsigned"
    )
    assert f"dead-letters message {message['id']}: signature {code}" in service.log_tail(200)
    assert (await verifier.get("/v1/visas/PE0000001")).status_code == 404


async def test_a_forged_revocation_cancels_nothing(issuance, broker, signing_keys):
    service, verifier = issuance
    story = Story()
    grant = json.loads(
        sign_as(signing_keys, story.decide(story.submit("real-request", family=0), "real-authorization"))
    )
    await publish(broker.urls["authorization"], grant, GRANTED)
    visa = None
    async with asyncio.timeout(30):
        while visa is None or visa.status_code != 200:  # issued once the genuine grant is handled
            visa = await verifier.get("/v1/visas/PE0000001")
            await asyncio.sleep(0.1)

    revocation = Signers.generate().resign(story.revoke(grant))  # not authorization's key
    await publish(broker.urls["authorization"], revocation, REVOKED)
    await dead_letter(broker.admin, revocation["id"])

    assert f"dead-letters message {revocation['id']}: signature unknown-key" in service.log_tail(200)
    held = (await verifier.get("/v1/visas/PE0000001")).json()
    assert (held["standing"], held["cancelled_at"]) == ("VALID", None)


@pytest.mark.parametrize(
    ("exchange", "routing_key"),
    [("visa.events", GRANTED), ("visa.dead-letter", QUEUE), ("", QUEUE)],
    ids=["events exchange", "dead-letter exchange", "default exchange"],
)
async def test_intakes_broker_user_cannot_publish_a_grant_at_all(broker, signing_keys, exchange, routing_key):
    story = Story()
    grant = json.loads(sign_as(signing_keys, story.decide(story.submit("r"), "a")))  # even a genuine one

    with pytest.raises(ChannelAccessRefused):
        await publish(broker.urls["intake"], grant, routing_key, exchange)
