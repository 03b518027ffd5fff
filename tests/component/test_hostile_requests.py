"""Hostile input: implausible requests at intake, and an event that used to jam authorization (docs/plausibility.md)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy.exc import OperationalError

import services.authorization.rules
import services.authorization.usecases
from services.authorization.models import Case
from shared.contracts import AuthorizationDenied, ReviewStarted
from shared.contracts.people import add_years
from shared.messaging.outbox import inbox, outbox
from tests.support.components import nothing_stored, pump
from tests.support.keys import sign_as
from tests.support.requests import passport, spouse, visa_request

TODAY = dt.date.today


def iso(day: dt.date) -> str:
    return day.isoformat()


def short_stay_of_9999(body: dict) -> None:
    body.update(immigration_status="SHORT_STAY", intended_arrival="9999-12-30", posting_end=None, family=[])
    body["principal"]["passport"]["expires_on"] = "9999-12-31"


IMPLAUSIBLE = {
    "born 0001-01-01": (
        lambda b: b["principal"].update(date_of_birth="0001-01-01"),
        [("body", "principal", "date_of_birth")],
    ),
    "spouse born 0001-01-01": (
        lambda b: b["family"][0].update(date_of_birth="0001-01-01"),
        [("body", "family", 0, "date_of_birth")],
    ),
    "born a day more than 120 years ago": (
        lambda b: b["principal"].update(date_of_birth=iso(add_years(TODAY(), -120) - dt.timedelta(days=1))),
        [("body", "principal", "date_of_birth")],
    ),
    "note verbale 0001-01-01": (
        lambda b: b["note_verbale"].update(date="0001-01-01"),
        [("body", "note_verbale", "date")],
    ),
    "note verbale a day more than 2 years old": (
        lambda b: b["note_verbale"].update(date=iso(add_years(TODAY(), -2) - dt.timedelta(days=1))),
        [("body", "note_verbale", "date")],
    ),
    "passport valid to 9999-12-31": (
        lambda b: b["principal"]["passport"].update(expires_on="9999-12-31"),
        [("body", "principal", "passport", "expires_on")],
    ),
    "spouse's passport a day beyond 20 years": (
        lambda b: b["family"][0]["passport"].update(expires_on=iso(add_years(TODAY(), 20) + dt.timedelta(days=1))),
        [("body", "family", 0, "passport", "expires_on")],
    ),
    "short stay arriving 9999-12-30": (short_stay_of_9999, [("body", "intended_arrival")]),
    "resident arriving in 9999": (
        lambda b: b.update(intended_arrival="9999-01-01", posting_end="9999-12-31"),
        [("body", "intended_arrival"), ("body", "posting_end")],
    ),
    "arrival a day beyond 2 years": (
        lambda b: b.update(intended_arrival=iso(add_years(TODAY(), 2) + dt.timedelta(days=1))),
        [("body", "intended_arrival")],
    ),
    "posting a day beyond 10 years": (
        lambda b: b.update(
            posting_end=iso(add_years(dt.date.fromisoformat(b["intended_arrival"]), 10) + dt.timedelta(days=1))
        ),
        [("body", "posting_end")],
    ),
    "nationality ZZZ": (lambda b: b["principal"].update(nationality="ZZZ"), [("body", "principal", "nationality")]),
    "spouse's nationality QQQ": (
        lambda b: b["family"][0].update(nationality="qqq"),
        [("body", "family", 0, "nationality")],
    ),
    "passport issued by ZZZ": (
        lambda b: b["principal"]["passport"].update(issuing_state="ZZZ"),
        [("body", "principal", "passport", "issuing_state")],
    ),
    "emoji in given names": (
        lambda b: b["principal"].update(given_names="ANNA 😀 MARIA"),
        [("body", "principal", "given_names")],
    ),
    "emoji in surnames": (lambda b: b["family"][0].update(surnames="ERIKSSON🙂"), [("body", "family", 0, "surnames")]),
}


@pytest.mark.parametrize("spoil", IMPLAUSIBLE.values(), ids=IMPLAUSIBLE.keys())
async def test_implausible_request_is_refused_naming_the_field(intake, sponsor, spoil):
    mutate, locations = spoil
    body = visa_request()
    mutate(body)

    response = await intake.http.post("/v1/requests", json=body, headers=sponsor)

    assert response.status_code == 422, response.text
    named = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert set(locations) <= named, named
    assert await nothing_stored(intake)  # nothing stored, nothing published


async def test_the_refusal_says_why(intake, sponsor):
    body = visa_request()
    body["principal"]["given_names"] = "ANNA 😀"
    body["principal"]["date_of_birth"] = "0001-01-01"

    detail = (await intake.http.post("/v1/requests", json=body, headers=sponsor)).json()["detail"]

    messages = {tuple(error["loc"]): error["msg"] for error in detail}
    assert "cannot transliterate" in messages[("body", "principal", "given_names")]
    assert "more than 120 years ago" in messages[("body", "principal", "date_of_birth")]


async def test_the_edges_of_every_window_are_admitted(intake, sponsor):
    today = TODAY()
    arrival = add_years(today, 2)
    body = visa_request(
        note_verbale={"number": "NV-1/2024", "date": iso(add_years(today, -2))},
        intended_arrival=iso(arrival),
        posting_end=iso(add_years(arrival, 10)),
        family=[spouse(date_of_birth=iso(add_years(today, -120)))],
    )
    body["principal"]["passport"]["expires_on"] = iso(add_years(today, 20))

    assert (await intake.http.post("/v1/requests", json=body, headers=sponsor)).status_code == 202


async def test_codes_from_the_passport_are_case_blind_and_kept_upper_case(intake, sponsor):
    body = visa_request(
        family=[spouse(nationality="swe", sex="m", passport=passport("d7654321") | {"issuing_state": "swe"})]
    )

    response = await intake.http.post("/v1/requests", json=body, headers=sponsor)

    assert response.status_code == 202, response.text
    [event] = await intake.outbox()
    member = event.data["family"][0]
    assert (member["nationality"], member["sex"]) == ("SWE", "M")
    assert member["passport"] | {"expires_on": None} == {
        "number": "D7654321",
        "type": "DIPLOMATIC",
        "issuing_state": "SWE",
        "expires_on": None,
    }


# --- the event that jammed authorization ------------------------------------------------------------------


async def hostile_submission(system, sponsor, signing_keys) -> tuple[str, bytes]:
    """A real request's submission, rewritten to the 9999 short stay and signed with intake's key, as a
    compromised or older intake would publish it: authorization cannot tell it from a genuine one."""
    request_id = await system.submit(sponsor, visa_request(family=[]))
    [submitted] = await system.intake.outbox()
    event = json.loads(submitted.to_json())
    event["data"] |= {"immigration_status": "SHORT_STAY", "intended_arrival": "9999-12-30", "posting_end": None}
    event["data"]["principal"]["passport"]["expires_on"] = "9999-12-31"
    return request_id, sign_as(signing_keys, event)


@pytest.mark.parametrize("policy", ["auto", "review"])
async def test_a_request_that_overflowed_the_validity_is_denied_at_once_and_the_sponsor_sees_why(
    system, sponsor, signing_keys, policy
):
    request_id, hostile = await hostile_submission(system, sponsor, signing_keys)
    authorization = system.authorization

    assert await authorization.deliver(hostile) == "ack"  # one settlement: no retry, no dead letter

    assert await authorization.count(inbox) == 1
    async with authorization.app.state.db.sessions() as session:
        case = await session.get(Case, request_id)
    assert case.state == "DENIED" and case.decided_by == "policy"
    [decision] = await authorization.outbox()
    assert decision.type == AuthorizationDenied.event_type  # not left to an officer, even under review
    assert not await authorization.outbox(ReviewStarted.routing_key)
    assert decision.data["decisions"][0]["reasons"] == ["implausible-request"]  # a code, never a sentence
    [finding] = decision.data["decisions"][0]["findings"]
    reason = f"implausible-request: {finding['params']['fields']}"
    assert "intended_arrival" in reason and "principal.passport.expires_on" in reason
    assert decision.data["decisions"][0]["valid_until"] is None

    # The denial reaches intake, which shows the request DENIED with the reason.
    await pump(authorization, system.intake, system.issuance)
    view = await system.view(sponsor, request_id)
    assert view["status"] == "DENIED"
    [applicant] = view["applicants"]
    assert applicant["status"] == "DENIED"
    assert applicant["reasons"][0].startswith("implausible-request: ")
    assert "intended_arrival" in applicant["reasons"][0]


async def test_the_same_event_redelivered_is_not_decided_twice(system, sponsor, signing_keys):
    _, hostile = await hostile_submission(system, sponsor, signing_keys)

    assert await system.authorization.deliver(hostile) == "ack"
    assert await system.authorization.deliver(hostile) == "ack"

    assert await system.authorization.count(outbox) == 1


@pytest.mark.parametrize("error", [OverflowError("date value out of range"), ValueError("unforeseen data")])
async def test_a_domain_failure_on_the_events_content_is_poison_at_once(system, sponsor, monkeypatch, error):
    await system.submit(sponsor)
    [submitted] = await system.intake.outbox()
    before = await system.authorization.snapshot()

    def assess(*args, **kwargs):
        raise error

    monkeypatch.setattr(services.authorization.usecases, "assess", assess)

    # Dead-lettered on the first delivery (reject, no requeue), not retried to the delivery limit.
    assert await system.authorization.deliver(submitted) == "reject"
    assert await system.authorization.snapshot() == before


async def test_a_domain_failure_while_deciding_is_poison_too(system, sponsor, monkeypatch):
    await system.submit(sponsor)
    [submitted] = await system.intake.outbox()

    def validity(*args, **kwargs):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(services.authorization.rules, "validity", validity)

    assert await system.authorization.deliver(submitted) == "reject"
    assert await system.authorization.count(Case.__table__) == 0


async def test_a_database_failure_is_still_retried(system, sponsor, monkeypatch):
    await system.submit(sponsor)
    [submitted] = await system.intake.outbox()
    failures = [OperationalError("INSERT INTO cases ...", {}, Exception("database is locked"))]
    assess = services.authorization.usecases.assess

    def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return assess(*args, **kwargs)

    monkeypatch.setattr(services.authorization.usecases, "assess", flaky)

    assert await system.authorization.deliver(submitted) == "requeue"  # infrastructure: retried, not poison
    assert await system.authorization.deliver(submitted) == "ack"
    assert await system.authorization.count(Case.__table__) == 1
