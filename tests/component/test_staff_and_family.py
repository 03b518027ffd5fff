"""The staff category, the Cooperante status with its APCI evidence and the family's declared conditions, through
the services: intake refuses what is incomplete (422), the Directorate's rules judge the rest
(docs/domain/staff.md, docs/domain/family.md)."""

from __future__ import annotations

import json

import pytest

from shared.contracts import RequestSubmitted
from tests.support.components import bearer, nothing_stored
from tests.support.requests import apci_registration, days, spouse, visa_request


def by_role(view: dict) -> dict[str, dict]:
    return {applicant["role"]: applicant for applicant in view["applicants"]}


def child(**overrides) -> dict:
    return spouse(relationship="CHILD", given_names="ERIK", date_of_birth="2012-05-01") | overrides


INADMISSIBLE = {
    "no staff_category": (lambda b: b.pop("staff_category"), ("body", "staff_category")),
    "unknown staff_category": (lambda b: b.update(staff_category="AMBASSADOR"), ("body", "staff_category")),
    "Cooperante without APCI registration": (
        lambda b: b.update(immigration_status="COOPERANT", apci_registration=None),
        ("body", "apci_registration"),
    ),
    "APCI registration dated tomorrow": (
        lambda b: b.update(apci_registration=apci_registration(date=days(1))),
        ("body", "apci_registration", "date"),
    ),
    "APCI registration without a number": (
        lambda b: b.update(apci_registration=apci_registration(number="  ")),
        ("body", "apci_registration", "number"),
    ),
    "a condition twice": (
        lambda b: b["family"][0].update(conditions=["STUDIES", "STUDIES"]),
        ("body", "family", 0, "conditions"),
    ),
    "an unknown condition": (
        lambda b: b["family"][0].update(conditions=["SPORTS"]),
        ("body", "family", 0, "conditions", 0),
    ),
    "conditions on the principal": (
        lambda b: b["principal"].update(conditions=["STUDIES"]),
        ("body", "principal", "conditions"),
    ),
}


@pytest.mark.parametrize(("spoil", "location"), INADMISSIBLE.values(), ids=INADMISSIBLE.keys())
async def test_an_incomplete_request_is_refused_with_the_field_named(intake, sponsor, spoil, location):
    body = visa_request()
    spoil(body)
    response = await intake.http.post("/v1/requests", json=body, headers=sponsor)
    assert response.status_code == 422, response.text
    assert location in {tuple(error["loc"]) for error in response.json()["detail"]}
    assert await nothing_stored(intake)


async def test_the_submission_carries_the_category_the_evidence_and_the_conditions(intake, sponsor):
    body = visa_request(
        immigration_status="COOPERANT",
        staff_category="COOPERANT",
        family=[spouse(), child(conditions=["DISABILITY"])],
    )
    assert (await intake.http.post("/v1/requests", json=body, headers=sponsor)).status_code == 202
    [row] = await intake.outbox_rows()
    data = RequestSubmitted.model_validate(json.loads(row.body)["data"])
    assert data.staff_category == "COOPERANT"
    assert data.apci_registration is not None and data.apci_registration.number == "ENIEX-0421"
    assert [member.conditions for member in data.family] == [(), ("DISABILITY",)]
    assert data.principal.conditions == ()


async def test_the_legality_is_the_directorates_a_diplomatic_agent_asking_for_official_residence(system, sponsor):
    # Admissible: intake does not judge which category may ask for which status.
    body = visa_request(immigration_status="OFFICIAL_RESIDENT", staff_category="DIPLOMATIC_AGENT")
    request_id = await system.submit(sponsor, body)
    await system.settle()
    view = await system.view(sponsor, request_id)
    assert view["status"] == "DENIED"
    for applicant in view["applicants"]:
        assert any(reason.startswith("staff-category-status: ") for reason in applicant["reasons"])


async def test_a_cooperant_of_an_eniex_is_issued_a_visa_of_its_own_type(system):
    eniex = bearer(await system.intake.add_sponsor(kind="eniex", name="Fundación Ayuda", country="ESP"))
    body = visa_request(immigration_status="COOPERANT", family=[])
    request_id = await system.submit(eniex, body)
    await system.settle()
    view = await system.view(eniex, request_id)
    assert view["status"] == "ISSUED", view
    line1 = by_role(view)["PRINCIPAL"]["visa"]["mrz"][0]
    assert line1.startswith("VKPER")  # docs/domain/mrz.md: K for cooperant


async def test_a_child_past_the_age_band_is_denied_and_the_rest_of_the_family_issued(system, sponsor):
    grown = child(date_of_birth="1995-01-01", passport=spouse()["passport"] | {"number": "D2223334"})
    studying = child(
        given_names="INGRID",
        date_of_birth=days(-22 * 365),
        conditions=["STUDIES"],
        passport=spouse()["passport"] | {"number": "D3334445"},
    )
    request_id = await system.submit(sponsor, visa_request(family=[spouse(), grown, studying]))
    await system.settle()
    view = await system.view(sponsor, request_id)
    statuses = [(a["relationship"], a["status"]) for a in view["applicants"]]
    assert statuses == [(None, "ISSUED"), ("SPOUSE", "ISSUED"), ("CHILD", "DENIED"), ("CHILD", "ISSUED")]
    assert view["applicants"][2]["reasons"][0].startswith("family-age-limit: ")
