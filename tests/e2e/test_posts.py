"""Two consular posts as operations runs them: intake, authorization and two issuance processes (LIM, the default
post, and ROM), each on its own PostgreSQL database, on real RabbitMQ provisioned from deploy/. Each post issues
only the visas authorized for it, numbered with its own prefix, and a revocation reaches only the issuing post."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from services.issuance.models import Visa
from shared.db import Database
from shared.messaging.outbox import inbox
from tests.support.broker import listen
from tests.support.requests import visa_request

GRANTED, REVOKED = "pe.gob.rree.visa.authorization.granted.v1", "pe.gob.rree.visa.authorization.revoked.v1"
ISSUED, CANCELLED = "pe.gob.rree.visa.issued.v1", "pe.gob.rree.visa.cancelled.v1"


async def held(url: str) -> tuple[set[str], set[str]]:
    """An issuance's visa numbers, and the ids of the events it received (its inbox)."""
    db = Database(url)
    try:
        async with db.sessions() as session:
            numbers = set(await session.scalars(sa.select(Visa.number)))
            received = set(await session.scalars(sa.select(inbox.c.event_id)))
    finally:
        await db.dispose()
    return numbers, received


async def test_two_posts_each_issue_only_their_own_visas(system, broker, postgres_database):
    rome = system.add_post("ROM", database=await postgres_database("issuance_rom"))
    lima_url, rome_url = system.env["ISSUANCE_DATABASE_URL"], rome.env["ISSUANCE_DATABASE_URL"]
    async with listen(broker.admin, "", "visa.#") as listener:
        await system.start()
        sponsor = {
            "Authorization": f"Bearer {system.new_key('sponsors', 'add', '--kind', 'government', '--name', 'Embassy of Sweden')}"
        }
        officer = {"Authorization": f"Bearer {system.new_key('officers', 'add', '--name', 'Rosa Quispe')}"}
        async with httpx.AsyncClient(base_url=system.services["intake"].url) as intake:
            posts = (await intake.get("/v1/posts")).json()
            assert [(p["code"], p["default"]) for p in posts] == [("LIM", True), ("ROM", False)]
            requests = {}
            for post in (None, "ROM"):
                body = visa_request() if post is None else visa_request(post=post)
                answer = await intake.post("/v1/requests", json=body, headers=sponsor)
                assert answer.status_code == 202, answer.text
                requests[post or "LIM"] = answer.json()["request_id"]

        def of(events, kind, request_id):
            return [e for e in events if e["type"] == kind and e["subject"] == request_id]

        events = await listener.wait_for(lambda es: len([e for e in es if e["type"] == ISSUED]) == 4)
        grants = {post: of(events, GRANTED, request_id)[0] for post, request_id in requests.items()}
        assert {post: grant["data"]["post"] for post, grant in grants.items()} == {"LIM": "LIM", "ROM": "ROM"}
        issued = {post: {e["data"]["visa_number"] for e in of(events, ISSUED, rid)} for post, rid in requests.items()}
        assert len(issued["LIM"]) == len(issued["ROM"]) == 2
        assert all(number.startswith("PE") for number in issued["LIM"])
        assert all(number.startswith("PR") for number in issued["ROM"])

        # Each post holds its own visas, and never received the other post's grant (routing, not filtering).
        lima_numbers, lima_received = await held(lima_url)
        rome_numbers, rome_received = await held(rome_url)
        assert (lima_numbers, rome_numbers) == (issued["LIM"], issued["ROM"])
        assert grants["LIM"]["id"] in lima_received and grants["ROM"]["id"] not in lima_received
        assert grants["ROM"]["id"] in rome_received and grants["LIM"]["id"] not in rome_received

        # A revocation of Rome's authorization reaches Rome alone, which cancels its two visas.
        async with httpx.AsyncClient(base_url=system.services["authorization"].url) as authorization:
            revoked = await authorization.post(
                f"/v1/cases/{requests['ROM']}/revoke", json={"reason": "end of mission"}, headers=officer
            )
            assert revoked.status_code == 200, revoked.text
            assert revoked.json()["post"] == "ROM"
        events = await listener.wait_for(lambda es: len([e for e in es if e["type"] == CANCELLED]) == 2)
        [revocation] = [e for e in events if e["type"] == REVOKED]
        assert revocation["data"]["post"] == "ROM"
        assert {e["data"]["visa_number"] for e in events if e["type"] == CANCELLED} == issued["ROM"]
        _, lima_received = await held(lima_url)
        _, rome_received = await held(rome_url)
        assert revocation["id"] in rome_received and revocation["id"] not in lima_received
