"""Officers' case assignment as operations runs it: three processes, real RabbitMQ and PostgreSQL, policy review.

Officer A takes a case; officer B's grant is refused (409 naming A) and nothing is staged, so nothing can be
published; then A grants and the consulate issues the visas.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from shared.db import Database
from shared.messaging.outbox import outbox
from tests.support.broker import listen
from tests.support.requests import example_request, passport, spouse, visa_request
from tests.support.system import eventually

GRANTED, DENIED = "pe.gob.rree.visa.authorization.granted.v1", "pe.gob.rree.visa.authorization.denied.v1"


async def staged_at_authorization(system) -> list[str]:
    """The event types authorization's outbox holds, published or not: what it can ever publish."""
    db = Database(system.env["AUTHORIZATION_DATABASE_URL"])
    try:
        async with db.sessions() as session:
            return list(await session.scalars(sa.select(outbox.c.event_type).order_by(outbox.c.seq)))
    finally:
        await db.dispose()


@pytest.mark.parametrize("policy", ["review"])
async def test_a_case_one_officer_took_is_granted_by_that_officer_only(system, broker):
    async with listen(broker.admin, "", "visa.authorization.#", "visa.issued") as listener:
        await system.start()
        sponsor = system.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden")
        rosa = system.new_key("officers", "add", "--name", "Rosa Quispe")
        jorge = system.new_key("officers", "add", "--name", "Jorge Mamani")
        async with (
            httpx.AsyncClient(base_url=system.services["intake"].url) as intake,
            httpx.AsyncClient(base_url=system.services["authorization"].url, headers={"Accept-Language": "en"}) as mre,
        ):
            answer = await intake.post(
                "/v1/requests", json=example_request(), headers={"Authorization": f"Bearer {sponsor}"}
            )
            assert answer.status_code == 202, answer.text
            request_id = answer.json()["request_id"]
            await listener.wait_for(lambda events: any(e["type"].endswith("review_started.v1") for e in events))
            case = f"/v1/cases/{request_id}"

            taken = await mre.post(f"{case}/take", headers={"Authorization": f"Bearer {rosa}"})
            assert taken.status_code == 200, taken.text
            rosa_id = taken.json()["assigned_to"]
            mine = await mre.get("/v1/cases", params={"assigned": "me"}, headers={"Authorization": f"Bearer {rosa}"})
            assert [c["request_id"] for c in mine.json()] == [request_id]

            refused = await mre.post(f"{case}/grant", headers={"Authorization": f"Bearer {jorge}"})

            assert refused.status_code == 409, refused.text
            assert refused.json() == {"detail": f"the case is assigned to officer {rosa_id}"}
            assert await staged_at_authorization(system) == ["pe.gob.rree.visa.authorization.review_started.v1"]
            view = (await mre.get(case, headers={"Authorization": f"Bearer {jorge}"})).json()
            assert (view["state"], view["assigned_to"], view["decided_by"]) == ("PENDING", rosa_id, None)

            granted = await mre.post(f"{case}/grant", headers={"Authorization": f"Bearer {rosa}"})

            assert granted.status_code == 200, granted.text
            assert (granted.json()["decided_by"], granted.json()["assigned_to"]) == (rosa_id, rosa_id)
            events = await listener.wait_for(
                lambda events: len([e for e in events if e["type"] == "pe.gob.rree.visa.issued.v1"]) == 2, timeout=60
            )
            [decision] = [e for e in events if e["type"] in (GRANTED, DENIED)]  # one decision ever published
            assert decision["type"] == GRANTED and decision["data"]["decided_by"] == rosa_id

            async def issued_at_intake():
                view = (
                    await intake.get(f"/v1/requests/{request_id}", headers={"Authorization": f"Bearer {sponsor}"})
                ).json()
                return view if view["status"] == "ISSUED" else None

            view = await eventually(issued_at_intake)
            assert [a["status"] for a in view["applicants"]] == ["ISSUED", "ISSUED"]


@pytest.mark.parametrize("policy", ["review"])
async def test_an_officer_denying_the_principal_denies_the_whole_family_and_no_visa_is_issued(system, broker):
    family = [
        spouse(),
        spouse(relationship="CHILD", given_names="ERIK", date_of_birth="2012-05-01", passport=passport("D2223334")),
    ]
    async with listen(broker.admin, "", "visa.#") as listener:
        await system.start()
        sponsor = {
            "Authorization": f"Bearer {system.new_key('sponsors', 'add', '--kind', 'government', '--name', 'Embassy of Sweden')}"
        }
        rosa = {"Authorization": f"Bearer {system.new_key('officers', 'add', '--name', 'Rosa Quispe')}"}
        async with (
            httpx.AsyncClient(base_url=system.services["intake"].url, headers=sponsor) as intake,
            httpx.AsyncClient(base_url=system.services["authorization"].url, headers=rosa) as mre,
        ):
            answer = await intake.post("/v1/requests", json=visa_request(family=family))
            assert answer.status_code == 202, answer.text
            request_id = answer.json()["request_id"]
            await listener.wait_for(lambda events: any(e["type"].endswith("review_started.v1") for e in events))
            principal_id = (await mre.get(f"/v1/cases/{request_id}")).json()["submission"]["principal"]["person_id"]

            granted = await mre.post(
                f"/v1/cases/{request_id}/grant", json={"deny": {principal_id: "posting not confirmed by the embassy"}}
            )
            assert granted.status_code == 200, granted.text
            assert granted.json()["state"] == "DENIED"

            async def denied_at_intake(language: str):
                view = (await intake.get(f"/v1/requests/{request_id}", headers={"Accept-Language": language})).json()
                return view if view["status"] == "DENIED" else None

            english = await eventually(lambda: denied_at_intake("en"))
            spanish = await eventually(lambda: denied_at_intake("es"))

        [decision] = [e for e in listener.events if e["type"] in (GRANTED, DENIED)]
        assert decision["type"] == DENIED
        assert [d["reasons"] for d in decision["data"]["decisions"]] == [
            ["officer: posting not confirmed by the embassy"],
            ["principal-denied"],
            ["principal-denied"],
        ]
        assert not [e for e in listener.events if e["type"] == "pe.gob.rree.visa.issued.v1"]
    assert [a["status"] for a in english["applicants"]] == ["DENIED"] * 3
    for applicant in english["applicants"][1:]:
        [reason] = applicant["reasons"]
        assert reason.startswith("principal-denied: The status of") and reason.endswith(
            "posting not confirmed by the embassy"
        )
    for applicant in spanish["applicants"][1:]:
        [reason] = applicant["reasons"]
        assert reason.startswith("principal-denied: La calidad de") and "a quien un funcionario denegó" in reason
