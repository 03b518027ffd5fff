"""The end of functions of one child, then a renewal, as operations runs them: three processes, real RabbitMQ and
PostgreSQL, the services as their own broker users.

The sponsor notifies, twice, that a child is no longer a dependant: only the child's visa is cancelled, once. Then
the sponsor renews the others' visas: new visas are issued, the old ones are SUPERSEDED (online, and at intake),
and the auditor finds the log sound and in agreement with the services.
"""

from __future__ import annotations

import json

import httpx
import sqlalchemy as sa

from shared.db import Database
from shared.messaging.outbox import inbox
from tests.support.broker import listen
from tests.support.requests import days, passport, spouse, visa_request
from tests.support.system import audit, eventually

ISSUED, CANCELLED = "pe.gob.rree.visa.issued.v1", "pe.gob.rree.visa.cancelled.v1"
REVOKED, SUPERSEDED = "pe.gob.rree.visa.authorization.revoked.v1", "pe.gob.rree.visa.superseded.v1"
FUNCTIONS_ENDED = "pe.gob.rree.visa.request.functions_ended.v1"


async def handled_at_authorization(system, event_type: str) -> int:
    """How many events of ``event_type`` authorization has handled (its inbox): a notice without effect leaves
    nothing else to see."""
    db = Database(system.env["AUTHORIZATION_DATABASE_URL"])
    try:
        async with db.sessions() as session:
            return await session.scalar(sa.select(sa.func.count()).where(inbox.c.event_type == event_type))
    finally:
        await db.dispose()


async def test_one_childs_end_of_functions_then_a_renewal(system, broker, tmp_path):
    body = visa_request(
        family=[
            spouse(),
            spouse(relationship="CHILD", given_names="ERIK", date_of_birth="2012-05-01", passport=passport("D2223334")),
        ]
    )
    notice = {"note_verbale": {"number": "NV-200/2026", "date": days(-1)}, "reason": "no longer a dependant"}
    async with listen(broker.admin, "", "visa.#") as listener:
        await system.start()
        sponsor = system.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden")
        verifier = system.new_key("verifiers", "add", "--name", "Jorge Chávez airport")
        auditor = system.new_key("auditors", "add", "--name", "Contraloría")
        intake_url, issuance_url = system.services["intake"].url, system.services["issuance"].url
        async with (
            httpx.AsyncClient(base_url=intake_url, headers={"Authorization": f"Bearer {sponsor}"}) as intake,
            httpx.AsyncClient(base_url=issuance_url, headers={"Authorization": f"Bearer {verifier}"}) as issuance,
        ):

            async def view(request_id: str, expected: dict[str, str]) -> dict | None:
                found = (await intake.get(f"/v1/requests/{request_id}")).json()
                statuses = {a["relationship"] or a["role"]: a["status"] for a in found["applicants"]}
                return found if statuses == expected else None

            answer = await intake.post("/v1/requests", json=body)
            assert answer.status_code == 202, answer.text
            request_id = answer.json()["request_id"]
            issued = await eventually(
                lambda: view(request_id, {"PRINCIPAL": "ISSUED", "SPOUSE": "ISSUED", "CHILD": "ISSUED"})
            )
            people = {a["relationship"] or a["role"]: a for a in issued["applicants"]}
            child = people["CHILD"]

            for _ in range(2):  # the second notice, sent before the first took effect, has no effect of its own
                sent = await intake.post(
                    f"/v1/requests/{request_id}/end-of-functions", json=notice | {"person_ids": [child["person_id"]]}
                )
                assert sent.status_code == 202, sent.text
            await eventually(
                lambda: view(request_id, {"PRINCIPAL": "ISSUED", "SPOUSE": "ISSUED", "CHILD": "CANCELLED"})
            )

            async def both_notices_handled() -> bool | None:
                return await handled_at_authorization(system, FUNCTIONS_ENDED) == 2 or None

            await eventually(both_notices_handled)

            renewal = {
                "note_verbale": {"number": "NV-310/2026", "date": days(-1)},
                "posting_end": days(5 * 365 - 300),
            }
            renewed = await intake.post(f"/v1/requests/{request_id}/renewal", json=renewal)
            assert renewed.status_code == 202, renewed.text
            renewal_id = renewed.json()["request_id"]
            await eventually(lambda: view(renewal_id, {"PRINCIPAL": "ISSUED", "SPOUSE": "ISSUED"}))
            await eventually(
                lambda: view(request_id, {"PRINCIPAL": "SUPERSEDED", "SPOUSE": "SUPERSEDED", "CHILD": "CANCELLED"})
            )
            standing = {
                who: (await issuance.get(f"/v1/visas/{person['visa']['number']}")).json()["standing"]
                for who, person in people.items()
            }
            assert standing == {"PRINCIPAL": "SUPERSEDED", "SPOUSE": "SUPERSEDED", "CHILD": "CANCELLED"}
            refused = await intake.post(f"/v1/requests/{request_id}/renewal", json=renewal)
            assert refused.status_code == 409, refused.text

        events = listener.events
        assert len([e for e in events if e["type"] == FUNCTIONS_ENDED]) == 2
        [revocation] = [e for e in events if e["type"] == REVOKED]
        assert revocation["data"]["person_ids"] == [child["person_id"]]
        [cancelled] = [e for e in events if e["type"] == CANCELLED]
        assert cancelled["data"]["visa_number"] == child["visa"]["number"]
        superseded = {e["data"]["visa_number"]: e["data"]["superseded_by"] for e in events if e["type"] == SUPERSEDED}
        new_numbers = {
            e["data"]["visa_number"] for e in events if e["type"] == ISSUED and e["data"]["request_id"] == renewal_id
        }
        assert set(superseded) == {people["PRINCIPAL"]["visa"]["number"], people["SPOUSE"]["visa"]["number"]}
        assert set(superseded.values()) == new_numbers and len(new_numbers) == 2

    verified = audit(system, broker, "verify", "--summary-json", "summary.json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["visas_issued"], summary["visas_cancelled"], summary["visas_superseded"]) == (5, 1, 2)
    reconciled = audit(
        system, broker, "reconcile", "--intake-url", intake_url, "--issuance-url", issuance_url, "--key", auditor
    )
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
