"""MRE officers' cases: an officer takes a case, nobody else decides it meanwhile; the case list's filters;
every decision keeps who, when and why. Policy ``review``: each request waits for an officer."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.clock import FixedClock
from shared.contracts import AuthorizationGranted
from tests.support.components import Service, System, bearer
from tests.support.requests import visa_request

START = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
pytestmark = pytest.mark.parametrize("policy", ["review"])


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def other_officer(authorization: Service) -> dict[str, str]:
    """Headers of a second MRE officer."""
    return bearer(await authorization.add_officer(name="Jorge Mamani"))


async def pending(system: System, sponsor: dict[str, str], body: dict | None = None) -> str:
    """A request that waits for an officer (its case opened now by the services' clock)."""
    request_id = await system.submit(sponsor, body)
    await system.settle()
    return request_id


async def post(authorization: Service, request_id: str, action: str, officer: dict, **body) -> dict:
    answer = await authorization.http.post(f"/v1/cases/{request_id}/{action}", headers=officer, json=body or None)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def refused(authorization: Service, request_id: str, action: str, officer: dict, **body) -> str:
    """``action`` answered 409 and changed nothing in authorization's tables (cases, outbox, inbox…); the detail."""
    before = await authorization.snapshot()
    answer = await authorization.http.post(f"/v1/cases/{request_id}/{action}", headers=officer, json=body or None)
    assert answer.status_code == 409, answer.text
    assert await authorization.snapshot() == before
    return answer.json()["detail"]


async def test_an_officer_takes_and_releases_a_case(system, sponsor, officer, other_officer, clock):
    authorization = system.authorization
    request_id = await pending(system, sponsor)
    case = (await authorization.http.get(f"/v1/cases/{request_id}", headers=officer)).json()
    assert (case["assigned_to"], case["assigned_at"]) == (None, None)

    taken = await post(authorization, request_id, "take", officer)
    rosa = taken["assigned_to"]
    assert rosa and dt.datetime.fromisoformat(taken["assigned_at"]) == START
    clock.advance(dt.timedelta(minutes=5))
    assert await post(authorization, request_id, "take", officer) == taken  # again: nothing changes

    # Another officer neither takes nor releases it; the answer names who holds it, by id.
    assert await refused(authorization, request_id, "take", other_officer) == f"the case is assigned to officer {rosa}"
    assert rosa in await refused(authorization, request_id, "release", other_officer)

    released = await post(authorization, request_id, "release", officer)
    assert (released["assigned_to"], released["assigned_at"]) == (None, None)
    assert await post(authorization, request_id, "release", officer) == released  # nobody's: nothing to give back
    retaken = await post(authorization, request_id, "take", other_officer)
    assert retaken["assigned_to"] not in (None, rosa)
    assert dt.datetime.fromisoformat(retaken["assigned_at"]) == START + dt.timedelta(minutes=5)

    for action in ("take", "release"):
        assert (await authorization.http.post(f"/v1/cases/nope/{action}", headers=officer)).status_code == 404
        assert (await authorization.http.post(f"/v1/cases/{request_id}/{action}")).status_code == 401
        assert (await authorization.http.post(f"/v1/cases/{request_id}/{action}", headers=sponsor)).status_code == 401


async def test_a_case_another_officer_holds_is_not_decided(system, sponsor, officer, other_officer, clock):
    authorization = system.authorization
    request_id = await pending(system, sponsor)
    rosa = (await post(authorization, request_id, "take", officer))["assigned_to"]
    staged = len(await authorization.outbox())

    # Refused before anything else is looked at: even a grant naming people the request does not hold.
    for action, body in [
        ("grant", {}),
        ("grant", {"deny": {"nobody": "why not"}}),
        ("deny", {"reason": "incomplete file"}),
    ]:
        detail = await refused(authorization, request_id, action, other_officer, **body)
        assert detail == f"the case is assigned to officer {rosa}"
    assert len(await authorization.outbox()) == staged  # nothing staged, so nothing published

    clock.advance(dt.timedelta(hours=1))
    granted = await post(authorization, request_id, "grant", officer)

    assert granted["state"] == "GRANTED"
    assert (granted["decided_by"], granted["assigned_to"]) == (rosa, rosa)
    assert dt.datetime.fromisoformat(granted["decided_at"]) == START + dt.timedelta(hours=1)
    assert dt.datetime.fromisoformat(granted["assigned_at"]) == START  # held since it was taken
    [decision] = await authorization.outbox(AuthorizationGranted.routing_key)
    assert decision.data["decided_by"] == rosa
    # Decided: nobody takes or releases it any more, not even its holder.
    for who in (officer, other_officer):
        assert "GRANTED case cannot be taken" in await refused(authorization, request_id, "take", who)
        assert "GRANTED case cannot be released" in await refused(authorization, request_id, "release", who)


@pytest.mark.parametrize(("action", "body"), [("grant", {}), ("deny", {"reason": "incomplete file"})])
async def test_deciding_a_case_nobody_holds_makes_it_the_deciders(
    system, sponsor, officer, other_officer, clock, action, body
):
    authorization = system.authorization
    request_id = await pending(system, sponsor)
    clock.advance(dt.timedelta(minutes=30))

    decided = await post(authorization, request_id, action, other_officer, **body)

    assert decided["decided_by"] == decided["assigned_to"] is not None
    assert decided["assigned_at"] == decided["decided_at"]
    assert dt.datetime.fromisoformat(decided["decided_at"]) == START + dt.timedelta(minutes=30)
    again = await authorization.http.post(f"/v1/cases/{request_id}/{action}", headers=other_officer, json=body or None)
    assert again.status_code == 409  # decided once


async def test_any_officer_revokes_a_grant_and_the_case_keeps_who_when_and_why(
    system, sponsor, officer, other_officer, clock
):
    authorization = system.authorization
    request_id = await pending(system, sponsor)
    spouse_id = (await system.view(sponsor, request_id))["applicants"][1]["person_id"]
    granted = await post(authorization, request_id, "grant", officer, deny={spouse_id: "no marriage certificate"})
    # The grant's why: each person's decision with its reasons, the officer's own included.
    reasons = {d["person_id"]: d["reasons"] for d in granted["decisions"]}
    assert reasons[spouse_id] == ["officer: no marriage certificate"]
    clock.advance(dt.timedelta(days=30))

    revoked = await post(authorization, request_id, "revoke", other_officer, reason="end of mission")

    assert revoked["state"] == "REVOKED"
    assert revoked["revoked_by"] not in (None, granted["decided_by"])
    assert dt.datetime.fromisoformat(revoked["revoked_at"]) == START + dt.timedelta(days=30)
    assert revoked["revocation_reason"] == "end of mission"
    # The decision's who, when and why stay as they were.
    for kept in ("decided_by", "decided_at", "decisions", "assigned_to", "assigned_at"):
        assert revoked[kept] == granted[kept], kept


async def test_the_case_list_filters_each_way(system, sponsor, officer, other_officer, clock):
    authorization, intake = system.authorization, system.intake
    norway = bearer(await intake.add_sponsor(name="Embassy of Norway", country="NOR"))
    official = visa_request(immigration_status="OFFICIAL_RESIDENT")
    opened = []
    for who, body in [(sponsor, None), (norway, official), (sponsor, official), (sponsor, None)]:
        opened.append(await pending(system, who, body))
        clock.advance(dt.timedelta(minutes=1))
    oldest, norwegian, swedish_official, denied = opened
    rosa = (await post(authorization, norwegian, "take", officer))["assigned_to"]
    jorge = (await post(authorization, swedish_official, "take", other_officer))["assigned_to"]
    await post(authorization, denied, "deny", officer, reason="incomplete file")
    case = (await authorization.http.get(f"/v1/cases/{oldest}", headers=officer)).json()
    sweden_id = case["submission"]["sponsor"]["id"]
    norway_id = (await authorization.http.get(f"/v1/cases/{norwegian}", headers=officer)).json()["submission"][
        "sponsor"
    ]["id"]

    async def listed(headers=officer, **query) -> list[str]:
        answer = await authorization.http.get("/v1/cases", headers=headers, params=query)
        assert answer.status_code == 200, answer.text
        return [case["request_id"] for case in answer.json()]

    assert await listed() == [oldest, norwegian, swedish_official]  # pending, oldest first
    assert await listed(limit=1) == [oldest]
    assert await listed(state="DENIED") == [denied]
    assert await listed(state="GRANTED") == []
    assert await listed(immigration_status="OFFICIAL_RESIDENT") == [norwegian, swedish_official]
    assert await listed(immigration_status="DIPLOMATIC_RESIDENT") == [oldest]
    assert await listed(immigration_status="SHORT_STAY") == []
    assert await listed(sponsor=norway_id) == [norwegian]
    assert await listed(sponsor=sweden_id) == [oldest, swedish_official]
    assert await listed(sponsor="no-such-sponsor") == []
    assert await listed(assigned="me") == [norwegian]
    assert await listed(other_officer, assigned="me") == [swedish_official]
    assert await listed(assigned="nobody") == [oldest]
    assert await listed(assigned=jorge) == [swedish_official]
    assert await listed(other_officer, assigned=rosa) == [norwegian]
    assert await listed(assigned="me", state="DENIED") == [denied]  # a decider holds what they decided
    assert await listed(other_officer, assigned="me", state="DENIED") == []
    assert await listed(sponsor=sweden_id, immigration_status="OFFICIAL_RESIDENT", assigned=jorge) == [swedish_official]
    assert await listed(sponsor=sweden_id, immigration_status="OFFICIAL_RESIDENT", assigned="nobody") == []

    for query in ({"immigration_status": "TOURIST"}, {"assigned": "x" * 37}, {"sponsor": ""}, {"state": "OPEN"}):
        answer = await authorization.http.get("/v1/cases", headers=officer, params=query)
        assert answer.status_code == 422, query
    assert (await authorization.http.get("/v1/cases", params={"assigned": "me"})).status_code == 401
