"""One injectable clock: each service reads "now" and "today" from the clock it was built with, in request
validation, in the use cases, in the events it stages and in a visa's standing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from services.issuance.models import Visa
from shared.clock import FixedClock
from tests.support.components import System
from tests.support.requests import visa_request

START = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


async def test_every_timestamp_of_a_request_comes_from_the_services_clock(system: System, sponsor, verifier, clock):
    request_id = await system.submit(sponsor)
    events = await system.settle()

    view = await system.view(sponsor, request_id)
    assert dt.datetime.fromisoformat(view["submitted_at"]) == START
    assert {event.time for event in events} == {START}
    assert {person["status"] for person in view["applicants"]} == {"ISSUED"}
    async with system.issuance.app.state.db.sessions() as session:
        visas = list(await session.scalars(select(Visa)))
    assert {visa.issued_at for visa in visas} == {START}
    assert {visa.valid_from for visa in visas} == {START.date()}  # valid from the day of the decision

    number = view["applicants"][0]["visa"]["number"]
    lookup = await system.issuance.http.get(f"/v1/visas/{number}", headers=verifier)
    assert lookup.json()["standing"] == "VALID"
    clock.advance(dt.timedelta(days=20 * 365))
    lookup = await system.issuance.http.get(f"/v1/visas/{number}", headers=verifier)
    assert lookup.json()["standing"] == "EXPIRED"


async def test_request_validation_reads_the_services_clock(system: System, sponsor, clock):
    # Valid by the wall clock: an arrival in two months. A year later by the service's clock, it is past.
    clock.advance(dt.timedelta(days=365))
    answer = await system.intake.http.post("/v1/requests", json=visa_request(), headers=sponsor)
    assert answer.status_code == 422
    assert any(issue["loc"][-1] == "intended_arrival" for issue in answer.json()["detail"])
