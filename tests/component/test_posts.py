"""Consular posts: the sponsor chooses one, an officer may send a pending case to another, and each post's
issuance receives only its own authorizations (routed by the header ``post``) and numbers with its own prefix."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from sqlalchemy import select

from services.issuance.app import build as build_issuance
from services.issuance.models import Verifier, Visa
from services.issuance.settings import IssuanceSettings
from shared.contracts import AuthorizationGranted, AuthorizationRevoked, VisaCancelled, VisaIssued
from shared.messaging.outbox import inbox
from tests.support.components import NAMESPACE, NO_REDIS, Service, System, nothing_stored, pump, start_service
from tests.support.requests import visa_request


@pytest.fixture
async def rome(system: System, tmp_path) -> Service:
    """The issuance of the post ROM, its own database, beside the system's (LIM, the default post)."""
    async with AsyncExitStack() as stack:
        app = build_issuance(
            IssuanceSettings(
                issuance_database_url=f"sqlite+aiosqlite:///{tmp_path}/issuance-rom.db",
                issuance_post="ROM",
                redis_url=NO_REDIS,
                visa_namespace=NAMESPACE,
            )
        )
        service = await start_service(stack, app)
        system.posts.append(service)
        yield service


async def numbers(issuance: Service) -> set[str]:
    async with issuance.app.state.db.sessions() as session:
        return set(await session.scalars(select(Visa.number)))


async def test_the_posts_are_listed(intake):
    answer = await intake.http.get("/v1/posts")
    assert answer.status_code == 200
    assert answer.json() == [
        {"code": "LIM", "name": "Lima", "visa_prefix": "PE", "default": True},
        {"code": "ROM", "name": "Rome", "visa_prefix": "PR", "default": False},
    ]


@pytest.mark.parametrize("post", ["XYZ", "lim", "ROME-1"])
async def test_a_post_not_in_the_list_is_refused_naming_the_field(intake, sponsor, post):
    answer = await intake.http.post("/v1/requests", json=visa_request(post=post), headers=sponsor)
    assert answer.status_code == 422, answer.text
    assert [issue["loc"] for issue in answer.json()["detail"]] == [["body", "post"]]
    assert await nothing_stored(intake)


async def test_each_post_issues_only_its_own_visas_with_its_own_prefix(system, rome, sponsor, verifier):
    lima = system.issuance
    to_lima = await system.submit(sponsor)  # no post: the default, LIM
    to_rome = await system.submit(sponsor, visa_request(post="ROM"))

    moved = await system.settle()

    grants = {e.data["request_id"]: e for e in moved if e.type == AuthorizationGranted.event_type}
    assert grants[to_lima].data["post"] == "LIM" and grants[to_rome].data["post"] == "ROM"
    issued = [e for e in moved if e.type == VisaIssued.event_type]
    assert len(issued) == 4
    assert {n[:2] for n in await numbers(lima)} == {"PE"} and len(await numbers(lima)) == 2
    assert {n[:2] for n in await numbers(rome)} == {"PR"} and len(await numbers(rome)) == 2
    # Routing, not filtering: neither issuance so much as received the other post's grant.
    for issuance, other in ((lima, to_rome), (rome, to_lima)):
        async with issuance.app.state.db.sessions() as session:
            received = set(await session.scalars(select(inbox.c.event_id)))
        assert grants[other].id not in received
    for request_id, prefix in ((to_lima, "PE"), (to_rome, "PR")):
        view = await system.view(sponsor, request_id)
        assert view["status"] == "ISSUED"
        assert all(a["visa"]["number"].startswith(prefix) for a in view["applicants"])
    # Each post answers for its own visas only.
    [a_rome_visa] = sorted(await numbers(rome))[:1]
    rome_verifier = {"Authorization": f"Bearer {await rome.add_account(Verifier, 'vk', name='Fiumicino')}"}
    assert (await rome.http.get(f"/v1/visas/{a_rome_visa}", headers=rome_verifier)).status_code == 200
    assert (await lima.http.get(f"/v1/visas/{a_rome_visa}", headers=verifier)).status_code == 404


async def test_a_revocation_reaches_only_the_issuing_post(system, rome, sponsor, officer):
    lima = system.issuance
    request_id = await system.submit(sponsor, visa_request(post="ROM"))
    await system.settle()
    lima_before = await lima.snapshot()

    revoked = await system.authorization.http.post(
        f"/v1/cases/{request_id}/revoke", json={"reason": "end of mission"}, headers=officer
    )
    assert revoked.status_code == 200

    [revocation] = await pump(system.authorization, system.intake, lima, rome)
    assert revocation.type == AuthorizationRevoked.event_type and revocation.data["post"] == "ROM"
    cancelled = await pump(rome, system.intake, system.authorization)
    assert [e.type for e in cancelled] == [VisaCancelled.event_type] * 2
    assert await lima.snapshot() == lima_before  # LIM's issuance received nothing


async def test_a_grant_for_another_post_that_reaches_an_issuance_anyway_is_dead_lettered(system, rome, sponsor):
    request_id = await system.submit(sponsor, visa_request(post="ROM"))
    await pump(system.intake, system.authorization)
    [grant] = [e for e in await system.authorization.outbox() if e.type == AuthorizationGranted.event_type]
    assert grant.data["post"] == "ROM" and grant.subject == request_id
    lima = system.issuance
    before = await lima.snapshot()

    # Delivered straight into LIM's queue (as an operator's mistaken replay would): refused, nothing issued.
    assert await lima.deliver(grant) == "reject"
    assert await lima.snapshot() == before


@pytest.mark.parametrize("policy", ["review"])
async def test_an_officer_sends_a_pending_case_to_another_post(system, rome, sponsor, officer):
    authorization = system.authorization
    request_id = await system.submit(sponsor)
    await system.settle()
    case = (await authorization.http.get(f"/v1/cases/{request_id}", headers=officer)).json()
    assert case["post"] == "LIM"

    unknown = await authorization.http.post(f"/v1/cases/{request_id}/post", json={"post": "XYZ"}, headers=officer)
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "post"]

    # Another officer's case is theirs to send elsewhere, as it is theirs to decide.
    other = {"Authorization": f"Bearer {await authorization.add_officer('Ana Torres')}"}
    assert (await authorization.http.post(f"/v1/cases/{request_id}/take", headers=other)).status_code == 200
    refused = await authorization.http.post(f"/v1/cases/{request_id}/post", json={"post": "ROM"}, headers=officer)
    assert refused.status_code == 409
    assert (await authorization.http.post(f"/v1/cases/{request_id}/release", headers=other)).status_code == 200

    sent = await authorization.http.post(f"/v1/cases/{request_id}/post", json={"post": "ROM"}, headers=officer)
    assert sent.status_code == 200, sent.text
    assert sent.json()["post"] == "ROM" and sent.json()["assigned_to"] is None  # nobody took it by sending it

    assert (await authorization.http.post(f"/v1/cases/{request_id}/grant", headers=officer)).status_code == 200
    await system.settle()
    assert len(await numbers(rome)) == 2 and not await numbers(system.issuance)

    decided = await authorization.http.post(f"/v1/cases/{request_id}/post", json={"post": "LIM"}, headers=officer)
    assert decided.status_code == 409


async def test_a_renewal_is_issued_by_the_post_of_the_visas_it_renews(system, rome, sponsor):
    request_id = await system.submit(sponsor, visa_request(post="ROM"))
    await system.settle()
    renewal = await system.intake.http.post(
        f"/v1/requests/{request_id}/renewal",
        json={
            "note_verbale": {"number": "NV-9/2027", "date": visa_request()["note_verbale"]["date"]},
            "posting_end": visa_request()["posting_end"],
        },
        headers=sponsor,
    )
    assert renewal.status_code == 202, renewal.text
    moved = await system.settle()

    [grant] = [e for e in moved if e.type == AuthorizationGranted.event_type]
    assert grant.data["post"] == "ROM"
    assert len(await numbers(rome)) == 4 and not await numbers(system.issuance)
    view = await system.view(sponsor, request_id)
    assert [a["status"] for a in view["applicants"]] == ["SUPERSEDED", "SUPERSEDED"]


async def test_dependants_joining_later_are_issued_by_the_post_of_the_principals_authorization(system, rome, sponsor):
    request_id = await system.submit(sponsor, visa_request(post="ROM"))
    await system.settle()
    child = visa_request()["family"][0] | {
        "relationship": "CHILD",
        "given_names": "ERIK",
        "date_of_birth": "2012-05-01",
    }
    joined = await system.intake.http.post(
        f"/v1/requests/{request_id}/dependants",
        json={
            "note_verbale": {"number": "NV-10/2027", "date": visa_request()["note_verbale"]["date"]},
            "intended_arrival": visa_request()["intended_arrival"],
            "family": [child],
        },
        headers=sponsor,
    )
    assert joined.status_code == 202, joined.text
    moved = await system.settle()

    [grant] = [e for e in moved if e.type == AuthorizationGranted.event_type]
    assert grant.data["post"] == "ROM"  # where the family's visas are, whatever the default post
    assert len(await numbers(rome)) == 3 and not await numbers(system.issuance)
