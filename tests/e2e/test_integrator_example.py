"""The integrator's example (``docs/examples/subscriber.py``) against the live system, as an integrator runs it:
a process of its own, on a broker user with only the rights ``docs/integrators.md`` asks for."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import aio_pika
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contracts import CONTENT_TYPE
from shared.messaging import provisioning
from shared.signing import SigningKey
from shared.signing.store import read_ring, write_ring
from tests.support.broker import listen
from tests.support.keys import sign_as
from tests.support.requests import example_request

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "subscriber.py"
ISSUED = "pe.gob.rree.visa.issued.v1"
ISSUED_V2 = "pe.gob.rree.visa.issued.v2"
QUEUE = "acme.visas"
REFUSALS = ("malformed", "unsigned", "unknown-key", "bad-signature", "not-owner", "key-not-valid")


@pytest.fixture
def integrator(amqp_url, broker, run_id):
    """An integrator's broker user in the test's vhost, with exactly the permissions of docs/integrators.md."""
    name, password = f"visa-test-{run_id}-acme-{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(18)

    def rabbitmqctl(*arguments: str) -> None:
        result = subprocess.run([*provisioning.rabbitmqctl(), *arguments], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr or result.stdout

    rabbitmqctl("add_user", name, password)
    try:
        own, log = r"^acme\..*", r"^(acme\..*|visa\.events|visa\.event-log)$"
        rabbitmqctl("set_permissions", "-p", broker.vhost, name, own, own, log)
        rabbitmqctl(
            "set_topic_permissions", "-p", broker.vhost, name, "visa.events", "^$", r"^visa\.(issued|cancelled)$"
        )
        yield provisioning.user_url(amqp_url, name, password, broker.vhost)
    finally:
        rabbitmqctl("delete_user", name)


class ExampleSubscriber:
    """``subscriber.py`` as a process; its log is read as it goes, to know when it consumes its live queue."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process, self.lines, self.live = process, [], asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str, keyring: Path, out: Path, *arguments: str, queue: str = QUEUE) -> ExampleSubscriber:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLE),
            *("--amqp-url", url, "--keyring", str(keyring), "--out", str(out), "--queue", queue, *arguments),
            cwd=out.parent,  # not the repository: the example relies on nothing there
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace"))
            if "live: consuming" in self.lines[-1]:
                self.live.set()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def consuming_live(self, timeout: float = 60.0) -> None:
        """Wait until it consumes its queue (bound before it read any history), or fail with its log."""
        live, exited = asyncio.create_task(self.live.wait()), asyncio.create_task(self.process.wait())
        done, _ = await asyncio.wait({live, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        live.cancel(), exited.cancel()
        assert live in done and self.process.returncode is None, f"subscriber not consuming:\n{self.log}"

    async def exit_status(self, timeout: float = 90.0) -> int:
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.kill()
            raise AssertionError(f"subscriber still running after {timeout}s:\n{self.log}") from None
        await self.reader
        return self.process.returncode

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


def events_in(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


async def publish(admin_url: str, *bodies: bytes, routing_key: str = "visa.issued") -> None:
    """Publish on ``visa.events`` as someone with an operator's rights (not as the producing service)."""
    connection = await aio_pika.connect(admin_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("visa.events", ensure=False)
        for body in bodies:
            message_id = json.loads(body).get("id") if body.startswith(b"{") else None
            message = aio_pika.Message(body, content_type=CONTENT_TYPE, message_id=message_id)
            await exchange.publish(message, routing_key=routing_key)


def test_the_example_needs_nothing_from_this_project():
    """An integrator copies the file: it imports the standard library, aio-pika, cryptography, rfc8785 only."""
    tree = ast.parse(EXAMPLE.read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    third_party = {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party == {"aio_pika", "cryptography", "rfc8785"}
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))


async def test_the_example_gets_each_visa_once_from_history_then_live(system, broker, integrator, tmp_path):
    out, keyring = tmp_path / "visas.jsonl", Path(os.environ["VISA_KEYRING"])
    async with listen(broker.admin, "", "visa.issued") as listener:
        await system.start()
        key = system.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden")
        async with httpx.AsyncClient(base_url=system.services["intake"].url) as intake:

            async def submit(surname: str) -> str:
                answer = await intake.post(
                    "/v1/requests", json=example_request(surname=surname), headers={"Authorization": f"Bearer {key}"}
                )
                assert answer.status_code == 202, answer.text
                return answer.json()["request_id"]

            def issued(request_id: str) -> list[tuple[aio_pika.abc.AbstractIncomingMessage, dict]]:
                return [
                    (m, e)
                    for m, e in zip(listener.messages, listener.events, strict=True)
                    if e["subject"] == request_id
                ]

            # History: a diplomat and spouse whose visas were issued before the integrator existed.
            earlier = await submit("ERIKSSON")
            await listener.wait_for(lambda _: len(issued(earlier)) == 2)
            genuine = [event for _, event in issued(earlier)]
            copy = issued(earlier)[0][0].body
            await publish(broker.admin, copy)  # at least once: the same event again, in the stream twice

            subscriber = await ExampleSubscriber.start(
                integrator, keyring, out, "--bind", "visa.issued", "--from-offset", "first",
                "--history-quiet", "1", "--max-events", "4",
            )  # fmt: skip
            try:
                await subscriber.consuming_live()
                await publish(broker.admin, copy)  # and once more, on the live queue, long after it was processed
                # Live: the next family, submitted while the integrator listens.
                later = await submit("GUSTAFSSON")
                assert await subscriber.exit_status() == 0, subscriber.log
            finally:
                subscriber.kill()
            await listener.wait_for(lambda _: len(issued(later)) == 2)
            genuine += [event for _, event in issued(later)]

    received = events_in(out)
    # Exactly the four visas, one per person, each once, bytes as issuance signed them, history first.
    assert len(received) == 4 == len({event["id"] for event in received}), subscriber.log
    assert {e["id"]: e for e in received} == {e["id"]: e for e in genuine}
    assert [event["subject"] for event in received[:2]] == [earlier, earlier]
    assert {(e["subject"], e["data"]["person_id"]) for e in received} == {
        (e["subject"], e["data"]["person_id"]) for e in genuine
    }
    assert all(event["type"] == ISSUED for event in received)
    # The project's own verifier agrees with the example's.
    ring = read_ring(keyring)
    assert {ring.verify(event).service for event in received} == {"issuance"}
    assert "history: reading visa.event-log from offset first" in subscriber.log
    assert subscriber.log.count("duplicate " + ISSUED) == 2, subscriber.log


def visa_issued(**overrides) -> dict:
    """A VisaIssued event as issuance would publish it, unsigned."""
    request_id = str(uuid.uuid4())
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:pe:rree:visa:issuance",
        "type": ISSUED,
        "time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "subject": request_id,
        "datacontenttype": "application/json",
        "data": {"request_id": request_id, "person_id": str(uuid.uuid4()), "visa_number": "PE0000042"},
        "correlationid": request_id,
        "causationid": str(uuid.uuid4()),
    }
    return event | overrides


def forgeries(files) -> dict[str, bytes]:
    """One event per way of failing verification, each published on visa.events as visa.issued."""
    tampered = json.loads(sign_as(files, visa_issued()))
    tampered["data"]["visa_number"] = "PE9999999"  # a genuine signature over other data
    stranger = SigningKey("issuance-20260101-forged00", Ed25519PrivateKey.generate())
    return {
        "malformed": f"<visa id='{uuid.uuid4()}'>PE0000042</visa>".encode(),
        "unsigned": json.dumps(visa_issued()).encode(),
        "unknown-key": json.dumps(stranger.sign(visa_issued())).encode(),
        "bad-signature": json.dumps(tampered).encode(),
        "not-owner": sign_as(files, visa_issued(), service="intake"),  # intake's genuine key, issuance's type
        "key-not-valid": sign_as(files, visa_issued(time="2000-01-01T00:00:00Z")),  # before the key existed
    }


async def test_the_example_refuses_forged_events_and_follows_key_rotation(broker, integrator, signing_keys, tmp_path):
    started = dt.datetime.now(dt.UTC)
    out, keyring = tmp_path / "visas.jsonl", tmp_path / "published" / "keyring.json"
    keyring.parent.mkdir()
    shutil.copy(signing_keys.ring_path, keyring)  # the ring as the integrator downloaded it
    genuine = sign_as(signing_keys, visa_issued())
    before = forgeries(signing_keys)
    await publish(broker.admin, *before.values(), genuine, genuine)  # history: only in visa.event-log

    subscriber = await ExampleSubscriber.start(
        integrator, keyring, out, "--bind", "visa.issued", "--from-offset", "first",
        "--history-quiet", "1", "--max-events", "2",
    )  # fmt: skip
    try:
        await subscriber.consuming_live()
        # Rotation: issuance signs with a new key, published in the ring after the integrator started (the
        # key may also sign a future `.v2` of VisaIssued, which this integrator does not know yet).
        rotated, entry = SigningKey.generate("issuance", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        entry = dataclasses.replace(entry, event_types=(*entry.event_types, ISSUED_V2))
        write_ring(keyring, read_ring(keyring).with_entry(entry))
        after = forgeries(signing_keys)
        newer = json.dumps(rotated.sign(visa_issued(type=ISSUED_V2))).encode()
        renewed = json.dumps(rotated.sign(visa_issued())).encode()
        await publish(broker.admin, *after.values(), genuine, newer, renewed)  # live: on the integrator's queue
        assert await subscriber.exit_status() == 0, subscriber.log
    finally:
        subscriber.kill()

    # Only the two genuine events, once each; nothing forged, whatever the phase.
    assert [event["id"] for event in events_in(out)] == [json.loads(genuine)["id"], json.loads(renewed)["id"]]
    refused = Counter(
        code for line in subscriber.lines if "refused message" in line for code in REFUSALS if f"): {code}:" in line
    )
    assert refused == Counter({code: 2 for code in REFUSALS}), subscriber.log
    assert subscriber.log.count("duplicate " + ISSUED) == 2, subscriber.log
    assert f"ignored {ISSUED_V2} {json.loads(newer)['id']}" in subscriber.log

    # Each refused message is kept in the integrator's own dead-letter queue, for someone to look at.
    dead: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await aio_pika.connect(broker.admin)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.declare_queue(f"{QUEUE}.dlq", passive=True)
        async with asyncio.timeout(30), dlq.iterator() as messages:
            async for message in messages:
                await message.ack()
                dead.append(message)
                if len(dead) == 2 * len(REFUSALS):
                    break
    assert sorted(message.body for message in dead) == sorted([*before.values(), *after.values()])
    from_history = {
        message.body: message.headers.get("x-refused") for message in dead if "x-refused" in message.headers
    }
    assert from_history == {body: code for code, body in before.items()}
    assert all(message.headers["x-death"][0]["queue"] == QUEUE for message in dead if message.body in after.values())

    # Starting over from a moment in history, on a queue of its own, gives the same two events.
    replay = await ExampleSubscriber.start(
        integrator, keyring, tmp_path / "replay.jsonl", "--bind", "visa.issued",
        "--from-offset", (started - dt.timedelta(seconds=5)).isoformat(), "--history-quiet", "1", "--max-events", "2",
        queue="acme.replay",
    )  # fmt: skip
    assert await replay.exit_status() == 0, replay.log
    assert [e["id"] for e in events_in(tmp_path / "replay.jsonl")] == [e["id"] for e in events_in(out)], replay.log

    # Least privilege: the integrator may bind only the routing keys its topic permission names.
    snoop = await ExampleSubscriber.start(
        integrator, keyring, tmp_path / "snoop.jsonl", "--bind", "visa.request.submitted", queue="acme.snoop"
    )
    assert await snoop.exit_status() == 1
    assert "ACCESS_REFUSED - access to topic 'visa.request.submitted' in exchange 'visa.events'" in snoop.log
