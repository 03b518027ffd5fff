"""A short stay a waiver treaty covers, as operations runs it: three processes, real RabbitMQ, PostgreSQL, Redis.

The answer is its own event (``visa.authorization.not-required``), NOT_REQUIRED at intake with the treaty and its
maximum stay; the consulate receives it and issues nothing; nobody is denied; the auditor finds the log sound.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.broker import listen
from tests.support.metrics import samples, total
from tests.support.requests import days, passport, spouse, visa_request
from tests.support.system import audit, eventually

NOT_REQUIRED = "pe.gob.rree.visa.authorization.not_required.v1"
GRANTED, DENIED = "pe.gob.rree.visa.authorization.granted.v1", "pe.gob.rree.visa.authorization.denied.v1"
ISSUED = "pe.gob.rree.visa.issued.v1"


def traveller(nationality: str, number: str) -> dict[str, Any]:
    return {"nationality": nationality, "passport": passport(number) | {"issuing_state": nationality}}


def short_stay(*, family: list | None = None) -> dict[str, Any]:
    """An Albanian delegate's stay of 20 days (the agreement of 2018: at most 90 days in 180)."""
    body = visa_request(family=family or [])
    body |= {
        "immigration_status": "SHORT_STAY",
        "posting_end": None,
        "function": "Delegate to a CEPAL session",
        "intended_departure": days(60 + 19),
    }
    body["principal"] |= traveller("ALB", "A1234567")
    return body


async def test_a_covered_short_stay_is_not_required_and_the_consulate_issues_nothing(system, broker, tmp_path):
    async with listen(broker.admin, "", "visa.authorization.*", "visa.issued") as listener:
        await system.start()
        key = system.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden")
        auditor = system.new_key("auditors", "add", "--name", "Contraloría")
        intake_url, issuance_url = system.services["intake"].url, system.services["issuance"].url
        async with httpx.AsyncClient(base_url=intake_url, headers={"Authorization": f"Bearer {key}"}) as intake:

            async def submit(body) -> str:
                answer = await intake.post("/v1/requests", json=body)
                assert answer.status_code == 202, answer.text
                return answer.json()["request_id"]

            async def view(request_id: str, status: str) -> dict | None:
                found = (await intake.get(f"/v1/requests/{request_id}")).json()
                return found if found["status"] == status else None

            covered = await submit(short_stay())
            # The delegate covered, the spouse (no treaty with the United States) needing a visa.
            mixed = await submit(short_stay(family=[spouse(**traveller("USA", "B7654321"))]))

            await listener.wait_for(
                lambda events: (
                    len([e for e in events if e["type"] == NOT_REQUIRED]) == 2
                    and any(e["type"] == ISSUED for e in events)
                )
            )
            alone = await eventually(lambda: view(covered, "NOT_REQUIRED"))
            both = await eventually(lambda: view(mixed, "ISSUED"))

        # The consulate received both answers on its queue and ignored them: a waiver issues nothing.
        async def ignored_at_issuance() -> bool:
            async with httpx.AsyncClient(base_url=issuance_url) as issuance:
                found = samples((await issuance.get("/metrics")).text)
            return total(found, "visa_events_consumed_total", event_type=NOT_REQUIRED, outcome="ignored") == 2 or None

        await eventually(ignored_at_issuance)

    # The sponsor sees NOT_REQUIRED, the treaty and its maximum stay; no visa, no refusal.
    [applicant] = alone["applicants"]
    assert (applicant["status"], applicant["decision"], applicant["reasons"], applicant["visa"]) == (
        "NOT_REQUIRED",
        None,
        [],
        None,
    )
    waiver = applicant["waiver"]
    assert (waiver["country"], waiver["instrument"]) == ("ALB", "agreement, El Peruano 2018-02-15")
    assert (waiver["max_stay_days"], waiver["window_days"], waiver["stay_days"]) == (90, 180, 20)
    delegate, spouse_ = both["applicants"]
    assert (
        delegate["status"] == "NOT_REQUIRED" and delegate["visa"] is None and delegate["waiver"]["max_stay_days"] == 90
    )
    assert spouse_["status"] == "ISSUED" and spouse_["visa"] is not None

    # On the wire: one answer per request, signed and in the CloudEvents envelope; a grant for the spouse only.
    events = listener.events
    answers = {e["data"]["request_id"]: e for e in events if e["type"] == NOT_REQUIRED}
    assert set(answers) == {covered, mixed}
    for request_id, event in answers.items():
        assert event["source"] == "urn:pe:rree:visa:authorization" and event["sigkeyid"] and event["signature"]
        assert event["subject"] == event["correlationid"] == request_id
        assert [p["waiver"]["instrument"] for p in event["data"]["people"]] == ["agreement, El Peruano 2018-02-15"]
    assert not [e for e in events if e["type"] == DENIED]
    [grant] = [e for e in events if e["type"] == GRANTED]
    assert grant["data"]["request_id"] == mixed
    assert [d["person_id"] for d in grant["data"]["decisions"]] == [spouse_["person_id"]]
    [visa] = [e for e in events if e["type"] == ISSUED]
    assert (visa["data"]["request_id"], visa["data"]["person_id"]) == (mixed, spouse_["person_id"])

    # The auditor accepts the new event and agrees with intake's statuses.
    verified = audit(system, broker, "verify", "--summary-json", "summary.json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["violations"] == [] and summary["by_type"][NOT_REQUIRED] == 2
    assert (summary["not_required"], summary["grants"], summary["denials"], summary["visas_issued"]) == (2, 1, 0, 1)
    reconciled = audit(
        system, broker, "reconcile", "--intake-url", intake_url, "--issuance-url", issuance_url, "--key", auditor
    )
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
