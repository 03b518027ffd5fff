"""A short stay a treaty covers, through the three services in memory: NOT_REQUIRED, no visa, nothing denied."""

from __future__ import annotations

from typing import Any

import pytest

from services.authorization.models import Case
from services.issuance.models import Visa
from shared.contracts import (
    AuthorizationDenied,
    AuthorizationGranted,
    AuthorizationNotRequired,
    RequestSubmitted,
    ReviewStarted,
    VisaIssued,
)
from shared.messaging.outbox import outbox
from tests.support.components import pump
from tests.support.requests import days, passport, spouse, visa_request

ARRIVAL_IN = 60  # visa_request's arrival: in 60 days


def traveller(nationality: str, number: str, *, type: str = "DIPLOMATIC") -> dict[str, Any]:
    return {"nationality": nationality, "passport": passport(number, type=type) | {"issuing_state": nationality}}


def short_stay(nationality: str = "ALB", *, stay_days: int | None = None, family: list | None = None) -> dict:
    """A delegate's short stay (a principal of ``nationality``), of ``stay_days`` when given."""
    body = visa_request(family=family or [])
    body |= {"immigration_status": "SHORT_STAY", "posting_end": None, "function": "Delegate to a CEPAL session"}
    body["principal"] |= traveller(nationality, "A1234567")
    if stay_days is not None:
        body["intended_departure"] = days(ARRIVAL_IN + stay_days - 1)
    return body


def by_role(view: dict) -> dict[str, dict]:
    return {applicant["role"]: applicant for applicant in view["applicants"]}


async def test_a_covered_short_stay_is_not_required_with_the_treaty_and_its_maximum_and_nothing_is_issued(
    system, sponsor, officer
):
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    request_id = await system.submit(sponsor, short_stay("ALB", stay_days=20))

    [submitted] = await pump(intake, authorization)
    [answer] = await pump(authorization, issuance, intake)  # issuance's queue gets it too, and ignores it
    after = await pump(issuance, intake, authorization)

    assert submitted.type == RequestSubmitted.event_type
    assert submitted.data["intended_departure"] == days(ARRIVAL_IN + 19)
    assert answer.type == AuthorizationNotRequired.event_type
    assert answer.causationid == submitted.id and answer.correlationid == request_id
    assert answer.data["decided_by"] == "policy" and answer.data["case_id"]
    [person] = answer.data["people"]
    assert person["waiver"] == {
        "country": "ALB",
        "instrument": "agreement, El Peruano 2018-02-15",
        "source": "datosperu.org, normas legales 2018-02-15 p.67",
        "max_stay_days": 90,
        "window_days": 180,
        "stay_days": 20,
        "stay_assumed": False,
        "conditions": ["at most 90 days in any 180-day period: earlier stays in it count"],
    }
    # No grant, no denial, no visa: the consulate issued nothing and said nothing.
    assert after == []
    assert [row.routing_key for row in await authorization.outbox_rows()] == ["visa.authorization.not-required"]
    assert await issuance.count(Visa.__table__) == 0 and await issuance.count(outbox) == 0
    assert await authorization.count(Case.__table__, Case.state == "NOT_REQUIRED") == 1
    case = (await authorization.http.get(f"/v1/cases/{request_id}", headers=officer)).json()
    assert case["state"] == "NOT_REQUIRED"
    assert [(d["person_id"], d["decision"]) for d in case["decisions"]] == [(person["person_id"], "NOT_REQUIRED")]
    # The sponsor sees it: not required, the treaty and its maximum stay, no visa, no refusal.
    view = await system.view(sponsor, request_id)
    assert view["status"] == "NOT_REQUIRED"
    [applicant] = view["applicants"]
    assert (applicant["status"], applicant["decision"], applicant["reasons"], applicant["visa"]) == (
        "NOT_REQUIRED",
        None,
        [],
        None,
    )
    assert applicant["waiver"] == person["waiver"]
    # Nothing to revoke: no visa was authorized.
    revoked = await authorization.http.post(
        f"/v1/cases/{request_id}/revoke", json={"reason": "end of mission"}, headers=officer
    )
    assert revoked.status_code == 409


@pytest.mark.parametrize("policy", ["review"])
async def test_under_review_a_covered_short_stay_is_answered_at_once_without_an_officer(system, sponsor, officer):
    intake, authorization = system.intake, system.authorization
    request_id = await system.submit(sponsor, short_stay("IDN"))  # no departure given

    await pump(intake, authorization)
    [answer] = await pump(authorization, system.issuance, intake)

    assert answer.type == AuthorizationNotRequired.event_type  # not ReviewStarted
    waiver = answer.data["people"][0]["waiver"]
    assert (waiver["instrument"], waiver["max_stay_days"], waiver["stay_days"]) == (
        "exemption agreement (2003, renewed)",
        30,
        30,
    )
    assert waiver["stay_assumed"] is True
    assert any("no intended departure was given" in condition for condition in waiver["conditions"])
    assert "the passport must be valid 6 months from the date of entry" in waiver["conditions"]
    assert (await authorization.http.get("/v1/cases", headers=officer)).json() == []  # nothing pending
    view = await system.view(sponsor, request_id)
    assert view["status"] == "NOT_REQUIRED" and view["applicants"][0]["waiver"]["max_stay_days"] == 30


async def test_a_mixed_request_issues_a_visa_to_who_needs_one_only(system, sponsor):
    family = [spouse(**traveller("USA", "B7654321"))]  # no treaty with the United States in the list
    request_id = await system.submit(sponsor, short_stay("ALB", stay_days=10, family=family))

    events = await system.settle()

    types = [event.type for event in events]
    assert types.count(AuthorizationNotRequired.event_type) == types.count(AuthorizationGranted.event_type) == 1
    assert types.count(VisaIssued.event_type) == 1 and AuthorizationDenied.event_type not in types
    [waived] = [e for e in events if e.type == AuthorizationNotRequired.event_type]
    [granted] = [e for e in events if e.type == AuthorizationGranted.event_type]
    [issued] = [e for e in events if e.type == VisaIssued.event_type]
    view = await system.view(sponsor, request_id)
    principal, family_member = by_role(view)["PRINCIPAL"], by_role(view)["FAMILY"]
    # Each person is in one decision only: the grant does not list who needs no visa.
    assert [p["person_id"] for p in waived.data["people"]] == [principal["person_id"]]
    assert [d["person_id"] for d in granted.data["decisions"]] == [family_member["person_id"]]
    assert granted.data["authorization_id"] == waived.data["case_id"]
    assert issued.data["person_id"] == family_member["person_id"]
    assert principal["status"] == "NOT_REQUIRED" and principal["visa"] is None and principal["waiver"]
    assert family_member["status"] == "ISSUED" and family_member["visa"] is not None
    assert view["status"] == "ISSUED"
    assert await system.issuance.count(Visa.__table__) == 1


async def test_a_stay_longer_than_the_treaty_allows_gets_a_visa(system, sponsor):
    request_id = await system.submit(sponsor, short_stay("IDN", stay_days=31))  # Indonesia: 30 days at most

    events = await system.settle()

    assert AuthorizationNotRequired.event_type not in {event.type for event in events}
    view = await system.view(sponsor, request_id)
    assert view["status"] == "ISSUED" and view["applicants"][0]["waiver"] is None


@pytest.mark.parametrize("policy", ["review"])
async def test_a_request_with_no_one_covered_still_waits_for_an_officer(system, sponsor):
    await system.submit(sponsor, short_stay("USA", stay_days=10))
    await pump(system.intake, system.authorization)
    [review] = await pump(system.authorization, system.issuance, system.intake)
    assert review.type == ReviewStarted.event_type


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda body: body | {"intended_departure": days(ARRIVAL_IN - 1)}, "cannot be before intended_arrival"),
        (
            lambda body: visa_request() | {"intended_departure": days(ARRIVAL_IN + 5)},
            "is for a short stay only: a resident status ends with posting_end",
        ),
    ],
    ids=["before the arrival", "a resident status"],
)
async def test_an_intended_departure_is_a_short_stays_and_not_before_the_arrival(system, sponsor, change, problem):
    answer = await system.intake.http.post("/v1/requests", json=change(short_stay()), headers=sponsor)
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "intended_departure"] and problem in error["msg"]
