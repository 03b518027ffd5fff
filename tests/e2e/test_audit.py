"""An auditor's account of a real run: verify and reconcile on the live event log and on its archive.

The run has grants, a denial, a revocation, a SIGKILL of issuance and a redelivery in the log; then the
log is tampered with in the ways an auditor must catch, each named by its offset and invariant.
"""

from __future__ import annotations

import json
import uuid

import aio_pika
import asyncpg
import httpx

from tests.support.histories import Signers
from tests.support.keys import sign_as
from tests.support.requests import example_request, passport, visa_request
from tests.support.system import audit, eventually

GRANTED_REQUESTS = 4  # a principal and a spouse each
ISSUED, CANCELLED = "pe.gob.rree.visa.issued.v1", "pe.gob.rree.visa.cancelled.v1"


async def publish(url: str, event: dict, routing_key: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("visa.events", ensure=False)
        await exchange.publish(
            aio_pika.Message(json.dumps(event).encode(), message_id=event["id"], delivery_mode=2),
            routing_key=routing_key,
        )


def violations(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_an_auditor_verifies_and_reconciles_a_real_run(system, broker, signing_keys, tmp_path):
    await system.start()
    sponsor = system.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden")
    officer = system.new_key("officers", "add", "--name", "Rosa Quispe")
    auditor = system.new_key("auditors", "add", "--name", "Contraloría")
    intake_url, issuance_url = system.services["intake"].url, system.services["issuance"].url
    authorization_url = system.services["authorization"].url
    async with (
        httpx.AsyncClient(base_url=intake_url, headers={"Authorization": f"Bearer {sponsor}"}) as intake,
        httpx.AsyncClient(base_url=authorization_url, headers={"Authorization": f"Bearer {officer}"}) as mre,
    ):

        async def submit(body) -> str:
            answer = await intake.post("/v1/requests", json=body)
            assert answer.status_code == 202, answer.text
            return answer.json()["request_id"]

        async def status(request_id: str) -> str:
            return (await intake.get(f"/v1/requests/{request_id}")).json()["status"]

        granted = [await submit(example_request(surname=f"AUDIT{'X' * n}")) for n in range(2)]
        # issuance dies mid-flow and comes back: nothing lost, nothing doubled
        system.services["issuance"].kill()
        granted += [await submit(example_request(surname=f"AUDIT{'Y' * n}")) for n in range(GRANTED_REQUESTS - 2)]
        await system.restart("issuance")
        # A diplomatic residence on an ordinary passport: the rules deny it.
        ordinary = visa_request(family=[])
        ordinary["principal"]["passport"] = passport("O1234567", type="ORDINARY")
        denied = await submit(ordinary)
        for request_id in granted:
            await eventually(lambda r=request_id: _is(status, r, "ISSUED"), timeout=60)
        await eventually(lambda: _is(status, denied, "DENIED"))
        revoked = granted[0]
        answer = await mre.post(f"/v1/cases/{revoked}/revoke", json={"reason": "end of mission"})
        assert answer.status_code == 200, answer.text
        await eventually(lambda: _is(status, revoked, "CANCELLED"), timeout=60)

    # A relay that published an event twice (it died before marking it sent): the same event, again.
    replayed = audit(system, broker, "replay", "--type", "pe.gob.rree.visa.request.submitted.v1", "--out", "log.jsonl")
    assert replayed.returncode == 0, replayed.stderr
    first = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])["event"]
    await publish(broker.urls["intake"], first, "visa.request.submitted")

    verified = audit(system, broker, "verify", "--summary-json", "summary.json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    people = 2 * GRANTED_REQUESTS
    assert summary["complete"] and summary["violations"] == []
    assert summary["requests"] == GRANTED_REQUESTS + 1
    assert (summary["grants"], summary["denials"], summary["revocations"]) == (GRANTED_REQUESTS, 1, 1)
    assert (summary["visas_issued"], summary["visas_cancelled"], summary["visas_live"]) == (people, 2, people - 2)
    assert summary["by_type"][ISSUED] == people and summary["by_type"][CANCELLED] == 2
    assert summary["redeliveries"] >= 1  # ours, and any the SIGKILL caused

    reconciled = audit(
        system, broker, "reconcile", "--intake-url", intake_url, "--issuance-url", issuance_url, "--key", auditor
    )
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr

    # The archive: verified like the live log, and an edited or removed line is caught.
    exported = audit(system, broker, "export", "--dir", "archive")
    assert exported.returncode == 0, exported.stderr
    assert audit(system, broker, "verify", "--archive", "archive").returncode == 0
    [segment] = (tmp_path / "archive").glob("segment-*.jsonl")
    original = segment.read_text()
    lines = original.splitlines(keepends=True)
    edited = original.replace("end of mission", "end of missions", 1)
    for broken, line_number in ((edited, None), ("".join(lines[:3] + lines[4:]), 4)):
        segment.write_text(broken)
        result = audit(system, broker, "verify", "--archive", "archive", "--violations", "archive.jsonl")
        assert result.returncode == 1, result.stdout + result.stderr
        found = violations(tmp_path / "archive.jsonl")
        assert "archive-chain" in {v["invariant"] for v in found}, found
        if line_number is not None:
            assert any(v["invariant"] == "archive-chain" and f"line {line_number}" in v["detail"] for v in found)
    segment.write_text(original)

    # Three forgeries on the live log, each named by its offset and invariant.
    rogue = Signers.generate()
    unknown = rogue.resign(first | {"id": str(uuid.uuid4())})  # a submission signed by a key nobody trusts
    not_owner = json.loads(sign_as(signing_keys, _orphan_visa(), "intake"))  # intake's real key, issuance's type
    orphan_visa = json.loads(sign_as(signing_keys, _orphan_visa()))  # issuance's real key, no grant behind it
    await publish(broker.admin, unknown, "visa.request.submitted")
    await publish(broker.admin, not_owner, "visa.issued")
    await publish(broker.admin, orphan_visa, "visa.issued")
    result = audit(system, broker, "verify", "--violations", "forged.jsonl")
    assert result.returncode == 1, result.stdout + result.stderr
    found = {(v["event_id"], v["invariant"]): v["offset"] for v in violations(tmp_path / "forged.jsonl")}
    assert {
        (unknown["id"], "unknown-key"),
        (not_owner["id"], "not-owner"),
        (orphan_visa["id"], "issued-without-grant"),
    } <= set(found)
    offsets = [
        found[(unknown["id"], "unknown-key")],
        found[(not_owner["id"], "not-owner")],
        found[(orphan_visa["id"], "issued-without-grant")],
    ]
    assert offsets == sorted(offsets) and offsets[0] > summary["last_offset"]

    # A visa removed from issuance's records: reconcile names it.
    number = await _remove_a_visa(system)
    result = audit(
        system, broker, "reconcile", "--intake-url", intake_url, "--issuance-url", issuance_url, "--key", auditor
    )
    assert result.returncode == 1
    assert f"visa-missing-in-service: {number}" in result.stderr


async def _is(status, request_id: str, expected: str) -> bool:
    return await status(request_id) == expected


def _orphan_visa() -> dict:
    """A VisaIssued as issuance would sign it, for an authorization that never existed."""
    from tests.support.histories import Story

    story = Story()
    grant = story.decide(story.submit(f"ghost-{uuid.uuid4().hex[:6]}", family=0), f"ghost-{uuid.uuid4().hex[:6]}")
    return story.issue(grant, grant["data"]["decisions"][0]["person_id"], number="PE9999999")


async def _remove_a_visa(system) -> str:
    url = system.env["ISSUANCE_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval("DELETE FROM visas WHERE seq = (SELECT max(seq) FROM visas) RETURNING number")
    finally:
        await connection.close()
