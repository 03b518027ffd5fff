"""MRE revokes, the consulate cancels: in order, and when the revocation overtakes the grant."""

from __future__ import annotations

import pytest

from services.issuance.models import Visa
from shared.contracts import AuthorizationGranted, AuthorizationRevoked, VisaCancelled
from shared.messaging.outbox import outbox
from tests.support.components import pump

REASON = {"reason": "declared persona non grata"}


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_revocation_cancels_every_visa_of_the_authorization(system, sponsor, officer, verifier):
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    request_id = await system.submit(sponsor)
    await system.settle()
    numbers = {a["visa"]["number"] for a in (await system.view(sponsor, request_id))["applicants"]}
    assert len(numbers) == 2

    revoked = await authorization.http.post(f"/v1/cases/{request_id}/revoke", json=REASON, headers=officer)

    assert revoked.status_code == 200 and revoked.json()["state"] == "REVOKED"
    [revocation] = await pump(authorization, issuance, intake)
    assert revocation.type == AuthorizationRevoked.event_type
    # MRE names what it revokes: every granted person and the visas the consulate reported.
    people = {a["person_id"] for a in (await system.view(sponsor, request_id))["applicants"]}
    assert set(revocation.data["person_ids"]) == people
    assert set(revocation.data["visa_numbers"]) == numbers
    cancelled = await pump(issuance, intake)
    assert [event.type for event in cancelled] == [VisaCancelled.event_type] * 2
    assert {event.data["visa_number"] for event in cancelled} == numbers
    for event in cancelled:
        assert event.data["revocation_id"] == revocation.id
        assert event.causationid == revocation.id
        assert event.correlationid == request_id
    for number in numbers:
        visa = (await issuance.http.get(f"/v1/visas/{number}", headers=verifier)).json()
        assert visa["standing"] == "CANCELLED"
        assert visa["cancellation_reason"] == REASON["reason"]
    view = await system.view(sponsor, request_id)
    assert view["status"] == "CANCELLED"
    assert [a["status"] for a in view["applicants"]] == ["CANCELLED", "CANCELLED"]
    assert all(f"visa cancelled: {REASON['reason']}" in a["reasons"] for a in view["applicants"])
    # A revoked authorization cannot be revoked again.
    again = await authorization.http.post(f"/v1/cases/{request_id}/revoke", json=REASON, headers=officer)
    assert again.status_code == 409


@pytest.mark.parametrize("policy", ["review"])
async def test_only_a_granted_authorization_can_be_revoked(system, sponsor, officer):
    authorization = system.authorization
    pending = await system.submit(sponsor)
    denied = await system.submit(sponsor)
    await system.settle()
    await authorization.http.post(f"/v1/cases/{denied}/deny", json={"reason": "incomplete"}, headers=officer)
    staged = await authorization.count(outbox)

    for request_id in (pending, denied):
        response = await authorization.http.post(f"/v1/cases/{request_id}/revoke", json=REASON, headers=officer)
        assert response.status_code == 409
    assert (await authorization.http.post("/v1/cases/nope/revoke", json=REASON, headers=officer)).status_code == 404
    assert (await authorization.http.post(f"/v1/cases/{pending}/revoke", json=REASON)).status_code == 401
    assert await authorization.count(outbox) == staged


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_revocation_overtaking_the_grant_at_issuance_issues_nothing(system, sponsor, officer):
    authorization, issuance = system.authorization, system.issuance
    request_id = await system.submit(sponsor)
    await pump(system.intake, authorization)
    await authorization.http.post(f"/v1/cases/{request_id}/revoke", json=REASON, headers=officer)
    grant, revocation = await authorization.outbox()
    assert (grant.type, revocation.type) == (AuthorizationGranted.event_type, AuthorizationRevoked.event_type)

    assert await issuance.deliver(revocation) == "ack"
    assert await issuance.deliver(grant) == "ack"

    assert await issuance.count(Visa.__table__) == 0
    assert await issuance.count(outbox) == 0


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_revocation_overtaking_the_grant_at_intake_still_cancels(system, sponsor, officer):
    intake, authorization = system.intake, system.authorization
    request_id = await system.submit(sponsor)
    await pump(intake, authorization)
    await authorization.http.post(f"/v1/cases/{request_id}/revoke", json=REASON, headers=officer)
    grant, revocation = await authorization.outbox()

    assert await intake.deliver(revocation) == "ack"
    assert await intake.deliver(grant) == "ack"

    view = await system.view(sponsor, request_id)
    assert view["status"] == "CANCELLED"  # as when the grant comes first: the late grant does not undo the cancellation
