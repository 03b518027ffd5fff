"""A request through the three services in memory: policy, officers, and the legal rules."""

from __future__ import annotations

import pytest

from services.intake.models import Applicant
from services.issuance.models import Visa
from shared.contracts import (
    AuthorizationDenied,
    AuthorizationGranted,
    RequestSubmitted,
    ReviewStarted,
    VisaIssued,
)
from shared.messaging.outbox import outbox
from shared.mrz import validate_mrv_a
from tests.support.components import bearer, pump
from tests.support.requests import passport, spouse, visa_request


def by_role(view: dict) -> dict[str, dict]:
    return {applicant["role"]: applicant for applicant in view["applicants"]}


async def test_auto_policy_issues_one_visa_per_person(system, sponsor, verifier):
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    body = visa_request()
    request_id = await system.submit(sponsor, body)

    [submitted] = await pump(intake, authorization)
    [granted] = await pump(authorization, issuance, intake)
    issued = await pump(issuance, intake)

    assert submitted.type == RequestSubmitted.event_type
    assert granted.type == AuthorizationGranted.event_type
    assert granted.data["decided_by"] == "policy"
    assert [event.type for event in issued] == [VisaIssued.event_type] * 2
    view = await system.view(sponsor, request_id)
    assert view["status"] == "ISSUED"
    assert [a["status"] for a in view["applicants"]] == ["ISSUED", "ISSUED"]
    numbers = set()
    for applicant in view["applicants"]:
        visa = applicant["visa"]
        numbers.add(visa["number"])
        assert visa["valid_until"] == body["posting_end"]  # a resident visa ends with the posting
        line1, line2 = visa["mrz"]
        assert len(line1) == len(line2) == 44
        assert validate_mrv_a(line1, line2) == []
        assert line2.startswith(visa["number"])
        verified = await issuance.http.get(f"/v1/visas/{visa['number']}", headers=verifier)
        assert verified.status_code == 200
        assert verified.json()["standing"] == "VALID"
        assert verified.json()["person_id"] == applicant["person_id"]
        assert verified.json()["mrz"] == [line1, line2]
    assert len(numbers) == 2
    assert by_role(view)["PRINCIPAL"]["visa"]["mrz"][0].startswith("VDPERERIKSSON<<ANNA<MARIA<")
    # What no event set is SQL NULL, not a JSON null: nobody's waiver, as stored at submission and after each event.
    applicants = Applicant.__table__.c
    assert await intake.count(Applicant.__table__, applicants.waiver.is_(None)) == 2
    assert await intake.count(Applicant.__table__, applicants.visa_mrz.is_not(None)) == 2
    # Who caused what: submission -> grant -> each visa, one correlation id throughout.
    assert granted.causationid == submitted.id
    assert all(event.causationid == granted.id for event in issued)
    assert {event.correlationid for event in (submitted, granted, *issued)} == {request_id}
    assert (await issuance.http.get("/v1/visas/PE9999999", headers=verifier)).status_code == 404
    # A visa names a diplomat: nobody but a registered verifier looks it up, not even its sponsor.
    some_visa = f"/v1/visas/{numbers.pop()}"
    assert (await issuance.http.get(some_visa)).status_code == 401
    assert (await issuance.http.get(some_visa, headers=sponsor)).status_code == 401


@pytest.mark.parametrize("policy", ["review"])
async def test_officer_denies_a_reviewed_request(system, sponsor, officer):
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    request_id = await system.submit(sponsor)

    await pump(intake, authorization)
    [review] = await pump(authorization, issuance, intake)

    assert review.type == ReviewStarted.event_type
    view = await system.view(sponsor, request_id)
    assert view["status"] == "UNDER_REVIEW"
    assert {a["status"] for a in view["applicants"]} == {"UNDER_REVIEW"}
    cases = await authorization.http.get("/v1/cases", headers=officer)
    assert [(c["request_id"], c["state"]) for c in cases.json()] == [(request_id, "PENDING")]
    assert (await authorization.http.get("/v1/cases", headers=sponsor)).status_code == 401
    assert (await authorization.http.get("/v1/cases")).status_code == 401

    denied = await authorization.http.post(
        f"/v1/cases/{request_id}/deny", json={"reason": "posting not confirmed"}, headers=officer
    )

    assert denied.status_code == 200 and denied.json()["state"] == "DENIED"
    [decision] = await pump(authorization, issuance, intake)
    assert decision.type == AuthorizationDenied.event_type
    assert decision.correlationid == request_id
    view = await system.view(sponsor, request_id)
    assert view["status"] == "DENIED"
    for applicant in view["applicants"]:
        assert applicant["status"] == "DENIED"
        assert "officer: posting not confirmed" in applicant["reasons"]
        assert applicant["visa"] is None
    assert await issuance.count(Visa.__table__) == 0
    assert await issuance.count(outbox) == 0
    # The decision is final.
    assert (await authorization.http.post(f"/v1/cases/{request_id}/grant", headers=officer)).status_code == 409
    again = await authorization.http.post(f"/v1/cases/{request_id}/deny", json={"reason": "twice"}, headers=officer)
    assert again.status_code == 409
    assert await authorization.count(outbox) == 2  # ReviewStarted, AuthorizationDenied: nothing more
    assert (await authorization.http.get("/v1/cases", headers=officer)).json() == []


@pytest.mark.parametrize("policy", ["review"])
async def test_officer_grants_all_but_a_named_person(system, sponsor, officer):
    authorization, issuance = system.authorization, system.issuance
    request_id = await system.submit(sponsor)
    await system.settle()
    spouse_id = by_role(await system.view(sponsor, request_id))["FAMILY"]["person_id"]
    url = f"/v1/cases/{request_id}/grant"

    assert (await authorization.http.post(url, json={"deny": {"nobody": "why"}}, headers=officer)).status_code == 422
    assert (await authorization.http.post("/v1/cases/nope/grant", headers=officer)).status_code == 404
    granted = await authorization.http.post(url, json={"deny": {spouse_id: "no marriage certificate"}}, headers=officer)

    assert granted.status_code == 200 and granted.json()["state"] == "GRANTED"
    events = await system.settle()
    [decision] = [e for e in events if e.type == AuthorizationGranted.event_type]
    assert decision.data["decided_by"] != "policy"
    view = await system.view(sponsor, request_id)
    principal, family = by_role(view)["PRINCIPAL"], by_role(view)["FAMILY"]
    assert view["status"] == "ISSUED"
    assert principal["status"] == "ISSUED" and principal["visa"] is not None
    assert family["status"] == "DENIED" and family["visa"] is None
    # Each person keeps MRE's own decision, whatever happened after it.
    assert (principal["decision"], family["decision"]) == ("GRANTED", "DENIED")
    assert family["reasons"] == ["officer: no marriage certificate"]
    assert await issuance.count(Visa.__table__) == 1


async def test_rules_deny_a_spouse_without_a_diplomatic_passport(system, sponsor):
    body = visa_request(family=[spouse(passport=passport("P7654321", type="ORDINARY"))])
    request_id = await system.submit(sponsor, body)

    await system.settle()

    view = await system.view(sponsor, request_id)
    principal, family = by_role(view)["PRINCIPAL"], by_role(view)["FAMILY"]
    assert view["status"] == "ISSUED"
    assert principal["status"] == "ISSUED" and principal["visa"] is not None
    assert family["status"] == "DENIED" and family["visa"] is None
    assert any(reason.startswith("diplomatic-passport-required") for reason in family["reasons"])
    assert await system.issuance.count(Visa.__table__) == 1


@pytest.mark.parametrize("policy", ["auto", "review"])
async def test_eniex_sponsor_is_denied_by_the_rules_without_an_officer(system, officer):
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    eniex = bearer(await intake.add_sponsor(kind="eniex", name="Swedish cooperation NGO", country=None))
    request_id = await system.submit(eniex)

    await pump(intake, authorization)
    [decision] = await pump(authorization, issuance, intake)

    assert decision.type == AuthorizationDenied.event_type
    assert decision.data["decided_by"] == "policy"
    for person in decision.data["decisions"]:
        assert person["decision"] == "DENIED"
        assert any(reason.startswith("sponsor-not-entitled") for reason in person["reasons"])
    view = await system.view(eniex, request_id)
    assert view["status"] == "DENIED"
    assert all(any("sponsor-not-entitled" in r for r in a["reasons"]) for a in view["applicants"])
    assert (await authorization.http.get("/v1/cases", headers=officer)).json() == []
    assert await issuance.count(Visa.__table__) == 0


@pytest.mark.parametrize("policy", ["review"])
async def test_an_officer_who_denies_the_principal_denies_the_whole_family(system, sponsor, officer):
    authorization, issuance = system.authorization, system.issuance
    request_id = await system.submit(sponsor)
    await system.settle()
    principal_id = by_role(await system.view(sponsor, request_id))["PRINCIPAL"]["person_id"]

    answer = await authorization.http.post(
        f"/v1/cases/{request_id}/grant", json={"deny": {principal_id: "posting not confirmed"}}, headers=officer
    )

    assert answer.status_code == 200 and answer.json()["state"] == "DENIED"
    events = await system.settle()
    assert [e.type for e in events] == [AuthorizationDenied.event_type]
    view = await system.view(sponsor, request_id)
    assert view["status"] == "DENIED"
    principal, family = by_role(view)["PRINCIPAL"], by_role(view)["FAMILY"]
    assert principal["reasons"] == ["officer: posting not confirmed"]
    assert family["status"] == "DENIED" and family["visa"] is None
    assert family["reasons"] == [
        f"principal-denied: The status of {family['person_id']} derives from the principal, {principal_id}, "
        "whom an officer denied: posting not confirmed"
    ]
    assert await issuance.count(Visa.__table__) == 0


@pytest.mark.parametrize("germany", ["DEU", "D"])
async def test_a_german_diplomat_gets_a_visa_whose_mrz_writes_germany_the_icao_way(system, sponsor, germany):
    body = visa_request(family=[])
    principal = body["principal"] | {"nationality": germany}
    body["principal"] = principal | {"passport": principal["passport"] | {"issuing_state": germany}}
    request_id = await system.submit(sponsor, body)
    await system.settle()

    [applicant] = (await system.view(sponsor, request_id))["applicants"]
    line1, line2 = applicant["visa"]["mrz"]
    assert line2[10:13] == "D<<"  # ICAO Doc 9303 Part 3: Germany is "D", not DEU
    assert validate_mrv_a(line1, line2) == []
    # One code throughout: ICAO's D and ISO's DEU find the same treaty.
    answers = [
        (await system.intake.http.get(f"/v1/visa-waivers/{code}?passport_type=DIPLOMATIC")).json()
        for code in ("DEU", "D")
    ]
    assert answers[0] == answers[1] and answers[0]["nationality"] == "DEU" and answers[0]["visa_required"] is False
