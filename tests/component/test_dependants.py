"""Family members who arrive after the principal join the principal's authorization: MRE decides them alone, by
the same rules, and they hold their status through the principal's: they cannot join an authorization no longer
in force, and the principal's end of functions ends theirs."""

from __future__ import annotations

from typing import Any

import pytest

from shared.contracts import AuthorizationGranted, AuthorizationRevoked, RequestSubmitted, VisaCancelled, VisaIssued
from shared.messaging.outbox import outbox
from tests.support.components import System
from tests.support.requests import days, passport, spouse

NOTE = {"number": "NV-220/2026", "date": days(-1)}


def child(**overrides: Any) -> dict[str, Any]:
    return (
        spouse(relationship="CHILD", given_names="ERIK", date_of_birth="2012-05-01", passport=passport("D2223334"))
        | overrides
    )


async def join(system: System, sponsor, request_id: str, *members: dict, **headers: str):
    body = {"note_verbale": NOTE, "intended_arrival": days(90), "family": list(members)}
    return await system.intake.http.post(f"/v1/requests/{request_id}/dependants", json=body, headers=sponsor | headers)


async def issued(system: System, sponsor) -> tuple[str, dict]:
    request_id = await system.submit(sponsor)
    await system.settle()
    view = await system.view(sponsor, request_id)
    assert view["status"] == "ISSUED"
    return request_id, view


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_child_arriving_later_joins_the_principals_authorization(system, sponsor, verifier):
    request_id, first = await issued(system, sponsor)
    principal = first["applicants"][0]

    answer = await join(system, sponsor, request_id, child())
    assert answer.status_code == 202, answer.text
    joined_id = answer.json()["request_id"]
    moved = await system.settle()

    [submitted] = [e for e in moved if e.type == RequestSubmitted.event_type]
    assert submitted.data["joins"] == request_id
    assert submitted.data["principal"]["person_id"] == principal["person_id"]  # the same person, named for the rules
    [grant] = [e for e in moved if e.type == AuthorizationGranted.event_type]
    [decision] = grant.data["decisions"]  # the child alone: the principal holds their authorization already
    assert decision["person"]["given_names"] == "ERIK" and decision["decision"] == "GRANTED"
    assert decision["valid_until"] == submitted.data["posting_end"]  # the principal's posting, no longer
    [visa] = [e.data for e in moved if e.type == VisaIssued.event_type]
    assert visa["request_id"] == joined_id
    view = await system.view(sponsor, joined_id)
    assert view["joins"] == request_id and view["status"] == "ISSUED"
    assert [a["relationship"] for a in view["applicants"]] == ["CHILD"]
    assert (await system.view(sponsor, request_id)) == first | {"updated_at": first["updated_at"]}


async def test_dependants_are_judged_by_the_family_rules(system, sponsor):
    request_id, _ = await issued(system, sponsor)
    grown = child(given_names="ANDERS", date_of_birth="1990-01-01", passport=passport("D3334445"))

    joined_id = (await join(system, sponsor, request_id, grown)).json()["request_id"]
    await system.settle()

    [applicant] = (await system.view(sponsor, joined_id))["applicants"]
    assert applicant["status"] == "DENIED"
    assert [r.split(":")[0] for r in applicant["reasons"]] == ["family-age-limit"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_the_principals_end_of_functions_ends_the_joined_dependants_too(system, sponsor, officer):
    request_id, first = await issued(system, sponsor)
    joined_id = (await join(system, sponsor, request_id, child())).json()["request_id"]
    await system.settle()

    revoked = await system.authorization.http.post(
        f"/v1/cases/{request_id}/revoke",
        json={"reason": "end of mission", "person_ids": [first["applicants"][0]["person_id"]]},
        headers=officer,
    )
    assert revoked.status_code == 200, revoked.text
    moved = await system.settle()

    revocations = {e.data["request_id"]: e.data for e in moved if e.type == AuthorizationRevoked.event_type}
    assert set(revocations) == {request_id, joined_id}
    assert len([e for e in moved if e.type == VisaCancelled.event_type]) == 3  # principal, spouse, child
    assert (await system.view(sponsor, joined_id))["status"] == "CANCELLED"
    case = (await system.authorization.http.get(f"/v1/cases/{joined_id}", headers=officer)).json()
    assert case["state"] == "REVOKED"


async def test_dependants_cannot_join_an_authorization_no_longer_in_force(system, sponsor, officer):
    request_id, _ = await issued(system, sponsor)
    # Accepted while intake still sees the principal's visa; the revocation reaches MRE first.
    answer = await join(system, sponsor, request_id, child())
    joined_id = answer.json()["request_id"]
    await system.authorization.http.post(
        f"/v1/cases/{request_id}/revoke", json={"reason": "end of mission"}, headers=officer
    )
    await system.settle()

    [applicant] = (await system.view(sponsor, joined_id))["applicants"]
    assert applicant["status"] == "DENIED"
    assert [r.split(":")[0] for r in applicant["reasons"]] == ["principal-not-authorized"]
    # Once intake knows, it refuses at once, and nothing is published.
    staged = await system.intake.count(outbox)
    refused = await join(system, sponsor, request_id, child(given_names="ASTRID", passport=passport("D4445556")))
    assert refused.status_code == 409 and "no authorization in force" in refused.json()["detail"]
    assert await system.intake.count(outbox) == staged


async def test_who_may_join_what(system, sponsor):
    request_id, _ = await issued(system, sponsor)
    joined_id = (await join(system, sponsor, request_id, child())).json()["request_id"]
    await system.settle()

    onto_joined = await join(system, sponsor, joined_id, child(given_names="ASTRID", passport=passport("D4445556")))
    assert onto_joined.status_code == 409 and request_id in onto_joined.json()["detail"]
    assert (await join(system, sponsor, "no-such-request", child())).status_code == 404
    empty = await system.intake.http.post(
        f"/v1/requests/{request_id}/dependants",
        json={"note_verbale": NOTE, "intended_arrival": days(90), "family": []},
        headers=sponsor,
    )
    assert empty.status_code == 422
    first = await join(system, sponsor, request_id, child(given_names="ASTRID"), **{"Idempotency-Key": "k-1"})
    again = await join(system, sponsor, request_id, child(given_names="ASTRID"), **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["request_id"] == again.json()["request_id"]
