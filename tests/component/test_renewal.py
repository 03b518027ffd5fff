"""A sponsor renews the visas of a request: MRE decides the renewal like a request, the consulate issues the new
visas and supersedes the old ones; a visa that no longer stands is not renewed."""

from __future__ import annotations

import datetime as dt

import pytest

from services.issuance.models import Visa
from shared.clock import FixedClock
from shared.contracts import AuthorizationGranted, AuthorizationRevoked, RequestSubmitted, VisaIssued, VisaSuperseded
from shared.messaging.outbox import outbox
from tests.support.components import System, bearer, pump

START = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)  # keys are valid from their making


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def renewal(clock: FixedClock, **changes) -> dict:
    today = clock.today()
    return {
        "note_verbale": {"number": "NV-310/2029", "date": (today - dt.timedelta(days=2)).isoformat()},
        "posting_end": (today + dt.timedelta(days=2 * 365)).isoformat(),
    } | changes


async def issued(system: System, sponsor, body: dict | None = None) -> tuple[str, dict]:
    request_id = await system.submit(sponsor, body)
    await system.settle()
    view = await system.view(sponsor, request_id)
    assert all(a["status"] == "ISSUED" for a in view["applicants"]), view
    return request_id, {a["role"] if a["role"] == "PRINCIPAL" else a["relationship"]: a for a in view["applicants"]}


async def renew(system: System, sponsor, request_id: str, body: dict, **headers: str):
    return await system.intake.http.post(f"/v1/requests/{request_id}/renewal", json=body, headers=sponsor | headers)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_renewal_issues_new_visas_and_supersedes_the_old(system, sponsor, verifier, clock):
    request_id, old = await issued(system, sponsor)
    clock.advance(dt.timedelta(days=400))  # into the posting; the visas still stand

    answer = await renew(system, sponsor, request_id, renewal(clock))
    assert answer.status_code == 202, answer.text
    renewal_id = answer.json()["request_id"]
    assert renewal_id != request_id
    moved = await system.settle()

    [submitted] = [e for e in moved if e.type == RequestSubmitted.event_type]
    renews = {r["visa_number"]: r for r in submitted.data["renews"]}
    assert set(renews) == {a["visa"]["number"] for a in old.values()}
    assert all(r["request_id"] == request_id for r in renews.values())
    [grant] = [e for e in moved if e.type == AuthorizationGranted.event_type]
    assert {d["renews"] for d in grant.data["decisions"]} == set(renews)
    new_visas = {e.data["person_id"]: e.data for e in moved if e.type == VisaIssued.event_type}
    superseded = [e.data for e in moved if e.type == VisaSuperseded.event_type]
    assert len(new_visas) == 2
    assert sorted((s["visa_number"], s["superseded_by"]) for s in superseded) == sorted(
        (r["visa_number"], new_visas[r["person_id"]]["visa_number"]) for r in submitted.data["renews"]
    )
    assert {s["request_id"] for s in superseded} == {request_id}
    assert {s["renewal_request_id"] for s in superseded} == {renewal_id}

    # The new visas end with the new posting; the old ones no longer stand, online.
    new_end = (clock.today() + dt.timedelta(days=2 * 365)).isoformat()
    assert {v["valid_until"] for v in new_visas.values()} == {new_end}
    for person in old.values():
        found = (await system.issuance.http.get(f"/v1/visas/{person['visa']['number']}", headers=verifier)).json()
        assert found["standing"] == "SUPERSEDED"
        assert found["superseded_by"] in {v["visa_number"] for v in new_visas.values()}
    for visa in new_visas.values():
        found = (await system.issuance.http.get(f"/v1/visas/{visa['visa_number']}", headers=verifier)).json()
        assert found["standing"] == "VALID"
    # The sponsor sees both requests: the old visas superseded, the renewal issued and naming what it renews.
    before, after = await system.view(sponsor, request_id), await system.view(sponsor, renewal_id)
    assert before["status"] == "SUPERSEDED"
    assert [a["status"] for a in before["applicants"]] == ["SUPERSEDED", "SUPERSEDED"]
    assert after["status"] == "ISSUED"
    assert sorted(a["renews"] for a in after["applicants"]) == sorted(renews)

    # A superseded visa is not renewed again; the renewal's visas are.
    again = await renew(system, sponsor, request_id, renewal(clock))
    assert again.status_code == 409 and "already renewed" in again.json()["detail"]
    assert (await renew(system, sponsor, renewal_id, renewal(clock))).status_code == 202


async def test_a_renewal_is_refused_for_a_visa_that_no_longer_stands(system, sponsor, officer, clock):
    cancelled_id, _ = await issued(system, sponsor)
    revoked = await system.authorization.http.post(
        f"/v1/cases/{cancelled_id}/revoke", json={"reason": "end of mission"}, headers=officer
    )
    assert revoked.status_code == 200
    expiring_id, _ = await issued(system, sponsor)
    await system.settle()
    staged = await system.intake.count(outbox)

    refused = await renew(system, sponsor, cancelled_id, renewal(clock))
    assert refused.status_code == 409
    assert "was cancelled" in refused.json()["detail"]
    clock.advance(dt.timedelta(days=4 * 365))  # past the posting's end: the visas expired
    expired = await renew(system, sponsor, expiring_id, renewal(clock))
    assert expired.status_code == 409 and "expired on" in expired.json()["detail"]
    assert await system.intake.count(outbox) == staged  # a refused renewal leaves no trace


async def test_a_renewal_is_refused_without_the_principal_or_twice_at_once(system, sponsor, clock):
    request_id, old = await issued(system, sponsor)

    alone = await renew(system, sponsor, request_id, renewal(clock, person_ids=[old["SPOUSE"]["person_id"]]))
    assert alone.status_code == 409 and "principal" in alone.json()["detail"]
    unknown = await renew(system, sponsor, request_id, renewal(clock, person_ids=["someone-else"]))
    assert unknown.status_code == 422
    other = bearer(await system.intake.add_sponsor(name="Embassy of Norway", country="NOR"))
    assert (await renew(system, other, request_id, renewal(clock))).status_code == 404

    first = await renew(system, sponsor, request_id, renewal(clock), **{"Idempotency-Key": "renewal-1"})
    retry = await renew(system, sponsor, request_id, renewal(clock), **{"Idempotency-Key": "renewal-1"})
    assert first.status_code == retry.status_code == 202
    assert first.json()["request_id"] == retry.json()["request_id"]  # a retry is the same renewal
    while_pending = await renew(system, sponsor, request_id, renewal(clock))
    assert while_pending.status_code == 409 and "already being renewed" in while_pending.json()["detail"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_renewal_whose_visa_was_cancelled_meanwhile_issues_nothing(system, sponsor, officer, clock):
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    request_id, old = await issued(system, sponsor)
    renewal_id = (await renew(system, sponsor, request_id, renewal(clock))).json()["request_id"]
    await pump(intake, authorization)
    [grant] = [
        e for e in await authorization.outbox(AuthorizationGranted.routing_key) if e.data["request_id"] == renewal_id
    ]
    # The old authorization is revoked before the consulate receives the renewal's grant.
    await authorization.http.post(
        f"/v1/cases/{request_id}/revoke", json={"reason": "persona non grata"}, headers=officer
    )
    [revocation] = await authorization.outbox(AuthorizationRevoked.routing_key)
    assert await issuance.deliver(revocation) == "ack"
    assert await issuance.count(Visa.__table__, Visa.__table__.c.cancelled_at.is_not(None)) == len(old)
    visas = await issuance.count(Visa.__table__)

    assert await issuance.deliver(grant) == "ack"
    assert await issuance.count(Visa.__table__) == visas  # nothing issued: it would revive a cancelled visa
    assert await issuance.outbox(VisaSuperseded.routing_key) == []
    assert [e for e in await issuance.outbox(VisaIssued.routing_key) if e.data["request_id"] == renewal_id] == []
