"""Intake's HTTP contract: admissibility, authentication, idempotency, the visa-waiver question."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from cloudevents.core.formats.json import JSONFormat

from services.intake.models import VisaRequest
from shared.messaging.outbox import outbox
from tests.support.components import bearer, nothing_stored
from tests.support.requests import days, passport, spouse, visa_request


async def test_submission_is_accepted_and_staged_as_one_cloudevent(intake, sponsor):
    response = await intake.http.post("/v1/requests", json=visa_request(), headers=sponsor)

    assert response.status_code == 202
    assert set(response.json()) == {"request_id", "status"}
    request_id = response.json()["request_id"]
    assert response.json()["status"] == "SUBMITTED"

    [row] = await intake.outbox_rows()
    assert row.routing_key == "visa.request.submitted"
    assert row.published_at is None  # the relay, not the request, publishes it
    event = json.loads(row.body)
    assert {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"} <= set(event)
    assert event["specversion"] == "1.0"
    assert uuid.UUID(event["id"]) and row.event_id == event["id"]
    assert event["source"] == "urn:pe:rree:visa:intake"
    assert event["type"] == "pe.gob.rree.visa.request.submitted.v1"
    assert dt.datetime.fromisoformat(event["time"]).tzinfo is not None
    assert event["subject"] == request_id
    assert event["datacontenttype"] == "application/json"
    assert event["correlationid"] == request_id == row.correlation_id
    assert "causationid" not in event  # a submission is caused by no event
    data = event["data"]
    assert data["request_id"] == request_id
    assert data["principal"]["role"] == "PRINCIPAL" and data["family"][0]["role"] == "FAMILY"
    assert data["principal"]["person_id"] != data["family"][0]["person_id"]
    # And the official SDK reads it as a CloudEvent, extensions included.
    parsed = JSONFormat().read(None, row.body)
    assert parsed.get_id() == event["id"]
    assert parsed.get_extension("correlationid") == request_id


INVALID = {
    "missing note_verbale": (lambda b: b.pop("note_verbale"), [("body", "note_verbale")]),
    "2-letter nationality": (
        lambda b: b["principal"].update(nationality="SE"),
        [("body", "principal", "nationality")],
    ),
    "expired passport": (
        lambda b: b["principal"].update(passport=passport("D1234567", expires_in_days=-1)),
        [("body", "principal", "passport", "expires_on")],
    ),
    "misspelt field": (
        lambda b: b.update(funtion=b.pop("function")),
        [("body", "funtion"), ("body", "function")],
    ),
    "posting_end before arrival": (lambda b: b.update(posting_end=days(30)), [("body", "posting_end")]),
    "resident without posting_end": (lambda b: b.pop("posting_end"), [("body", "posting_end")]),
    "unknown immigration_status": (
        lambda b: b.update(immigration_status="TOURIST"),
        [("body", "immigration_status")],
    ),
    "spouse born in the future": (
        lambda b: b["family"][0].update(date_of_birth=days(1)),
        [("body", "family", 0, "date_of_birth")],
    ),
    "name no MRZ can hold": (
        lambda b: b["family"][0].update(given_names="ЛАРС"),
        [("body", "family", 0, "given_names")],
    ),
    "note verbale dated tomorrow": (
        lambda b: b["note_verbale"].update(date=days(1)),
        [("body", "note_verbale", "date")],
    ),
}


@pytest.mark.parametrize("spoil", INVALID.values(), ids=INVALID.keys())
async def test_inadmissible_request_names_the_field_and_stores_nothing(intake, sponsor, spoil):
    mutate, locations = spoil
    body = visa_request()
    mutate(body)

    response = await intake.http.post("/v1/requests", json=body, headers=sponsor)

    assert response.status_code == 422
    named = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert set(locations) <= named, named
    assert await nothing_stored(intake)


async def test_every_bad_field_is_named_at_once(intake, sponsor):
    body = visa_request(family=[spouse(nationality="SE", relation="SPOUSE")])
    body.pop("note_verbale")
    body["principal"]["passport"]["expires_on"] = days(-30)

    response = await intake.http.post("/v1/requests", json=body, headers=sponsor)

    assert response.status_code == 422
    named = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert {
        ("body", "note_verbale"),
        ("body", "principal", "passport", "expires_on"),
        ("body", "family", 0, "nationality"),
        ("body", "family", 0, "relation"),
    } <= named
    assert await nothing_stored(intake)


async def test_sponsor_must_authenticate_and_sees_only_its_own_requests(intake, sponsor):
    other = bearer(await intake.add_sponsor(name="Embassy of Norway", country="NOR"))
    theirs = (await intake.http.post("/v1/requests", json=visa_request(), headers=other)).json()["request_id"]
    mine = (await intake.http.post("/v1/requests", json=visa_request(), headers=sponsor)).json()["request_id"]

    assert (await intake.http.post("/v1/requests", json=visa_request())).status_code == 401
    assert (await intake.http.post("/v1/requests", json=visa_request(), headers=bearer("sk_nope"))).status_code == 401
    assert (await intake.http.get(f"/v1/requests/{mine}")).status_code == 401
    assert (await intake.http.get(f"/v1/requests/{mine}", headers=bearer("sk_nope"))).status_code == 401
    assert await intake.count(VisaRequest.__table__) == 2  # the refused submissions stored nothing

    assert (await intake.http.get(f"/v1/requests/{theirs}", headers=sponsor)).status_code == 404
    assert (await intake.http.get(f"/v1/requests/{uuid.uuid4()}", headers=sponsor)).status_code == 404
    own = await intake.http.get(f"/v1/requests/{mine}", headers=sponsor)
    assert own.status_code == 200
    assert own.json()["request_id"] == mine and own.json()["status"] == "SUBMITTED"
    assert [a["role"] for a in own.json()["applicants"]] == ["PRINCIPAL", "FAMILY"]
    listed = await intake.http.get("/v1/requests", headers=sponsor)
    assert [r["request_id"] for r in listed.json()] == [mine]


async def test_idempotency_key_replays_the_same_request_and_refuses_a_different_one(intake, sponsor):
    body, key = visa_request(), {"Idempotency-Key": "nv-123-2026"}

    first = await intake.http.post("/v1/requests", json=body, headers=sponsor | key)
    again = await intake.http.post("/v1/requests", json=body, headers=sponsor | key)

    assert first.status_code == again.status_code == 202
    assert again.json()["request_id"] == first.json()["request_id"]
    assert await intake.count(VisaRequest.__table__) == 1
    assert await intake.count(outbox) == 1

    changed = await intake.http.post("/v1/requests", json=visa_request(function="Counsellor"), headers=sponsor | key)

    assert changed.status_code == 409
    assert await intake.count(VisaRequest.__table__) == 1
    assert await intake.count(outbox) == 1


async def test_idempotency_keys_belong_to_one_sponsor(intake, sponsor):
    other = bearer(await intake.add_sponsor(name="Embassy of Norway", country="NOR"))
    key = {"Idempotency-Key": "same-key"}

    mine = await intake.http.post("/v1/requests", json=visa_request(), headers=sponsor | key)
    theirs = await intake.http.post("/v1/requests", json=visa_request(), headers=other | key)

    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["request_id"] != theirs.json()["request_id"]
    assert await intake.count(outbox) == 2


async def test_visa_waiver_answers_from_the_bundled_list_without_redis(intake):
    exempt = await intake.http.get("/v1/visa-waivers/ALB", params={"passport_type": "DIPLOMATIC"})
    needed = await intake.http.get("/v1/visa-waivers/usa", params={"passport_type": "DIPLOMATIC"})
    union = await intake.http.get("/v1/visa-waivers/swe", params={"passport_type": "ORDINARY"})
    bad_type = await intake.http.get("/v1/visa-waivers/ALB", params={"passport_type": "SPACE"})
    bad_country = await intake.http.get("/v1/visa-waivers/AL", params={"passport_type": "DIPLOMATIC"})
    no_country = await intake.http.get("/v1/visa-waivers/ZZZ", params={"passport_type": "DIPLOMATIC"})

    assert exempt.status_code == 200
    assert exempt.json()["visa_required"] is False
    assert exempt.json()["treaty"]["country"] == "ALB"
    assert exempt.json()["treaty"]["source"] == "datosperu.org, normas legales 2018-02-15 p.67"
    assert exempt.json()["on"] == dt.date.today().isoformat()
    assert needed.status_code == 200
    assert needed.json() | {"list_version": None} == {
        "nationality": "USA",
        "passport_type": "DIPLOMATIC",
        "on": dt.date.today().isoformat(),
        "visa_required": True,
        "treaty": None,
        "list_version": None,
    }
    # The EU's agreement (Council Decision (EU) 2016/1744) covers every passport of its citizens, ordinary too.
    assert union.json()["visa_required"] is False
    treaty = union.json()["treaty"]
    assert (treaty["instrument"], treaty["max_stay_days"], treaty["window_days"]) == (
        "EU-Peru short-stay visa waiver agreement",
        90,
        180,
    )
    assert treaty["decided_by"] == "nationality" and treaty["verified"] is True
    assert bad_type.status_code == 422
    assert bad_country.status_code == 422
    assert no_country.status_code == 422 and "ZZZ" in str(no_country.json()["detail"])  # a code, not a person's


async def test_visa_waiver_does_not_cover_ordinary_passports(intake):
    answer = await intake.http.get("/v1/visa-waivers/ALB", params={"passport_type": "ORDINARY"})

    assert answer.status_code == 200
    assert answer.json()["visa_required"] is True


async def test_an_empty_idempotency_key_is_refused_not_stored(system, sponsor):
    # An empty key would be stored, then collide with the next empty one: it names no request, so it is refused.
    for key in ("", " "):
        answer = await system.intake.http.post(
            "/v1/requests", json=visa_request(), headers=sponsor | {"Idempotency-Key": key}
        )
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert await nothing_stored(system.intake)
