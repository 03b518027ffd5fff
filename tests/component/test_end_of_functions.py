"""The end of functions, notified by the sponsor or decided by an officer, for one person or for everyone:
exactly those people lose their authorization, one ``VisaCancelled`` per visa, a second notice changes nothing,
and a visa not issued yet is never issued afterwards."""

from __future__ import annotations

from typing import Any

from services.issuance.models import Visa
from shared.contracts import AuthorizationGranted, AuthorizationRevoked, FunctionsEnded, VisaCancelled
from shared.messaging.outbox import outbox
from tests.support.components import System, bearer, pump
from tests.support.requests import days, passport, spouse, visa_request

NOTICE = {"note_verbale": {"number": "NV-200/2026", "date": days(-1)}, "reason": "no longer a dependant"}


def child() -> dict[str, Any]:
    return spouse(relationship="CHILD", given_names="ERIK", date_of_birth="2012-05-01", passport=passport("D2223334"))


def family_request() -> dict[str, Any]:
    return visa_request(family=[spouse(), child()])


async def people(system: System, sponsor, request_id: str) -> dict[str, dict]:
    """The request's applicants by relationship (the principal as ``PRINCIPAL``)."""
    view = await system.view(sponsor, request_id)
    return {a["relationship"] or a["role"]: a for a in view["applicants"]}


async def issued_family(system: System, sponsor) -> tuple[str, dict[str, dict]]:
    request_id = await system.submit(sponsor, family_request())
    await system.settle()
    found = await people(system, sponsor, request_id)
    assert {who: a["status"] for who, a in found.items()} == {
        "PRINCIPAL": "ISSUED",
        "SPOUSE": "ISSUED",
        "CHILD": "ISSUED",
    }
    return request_id, found


async def notify(system: System, sponsor, request_id: str, **body: Any):
    return await system.intake.http.post(
        f"/v1/requests/{request_id}/end-of-functions", json=NOTICE | body, headers=sponsor
    )


async def test_the_end_of_functions_of_one_child_cancels_only_that_childs_visa_once(system, sponsor, officer, verifier):
    request_id, before = await issued_family(system, sponsor)
    kid = before["CHILD"]

    first = await notify(system, sponsor, request_id, person_ids=[kid["person_id"]])
    # A second notice, sent before the first took effect: accepted, and without a second effect.
    second = await notify(system, sponsor, request_id, person_ids=[kid["person_id"]])
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert first.json() == {"request_id": request_id, "person_ids": [kid["person_id"]]}
    moved = await system.settle()

    notices = [e for e in moved if e.type == FunctionsEnded.event_type]
    revocations = [e for e in moved if e.type == AuthorizationRevoked.event_type]
    cancellations = [e for e in moved if e.type == VisaCancelled.event_type]
    assert len(notices) == 2
    assert [r.data["person_ids"] for r in revocations] == [[kid["person_id"]]]
    assert revocations[0].data["visa_numbers"] == [kid["visa"]["number"]]
    assert revocations[0].data["revoked_by"] == "sponsor"
    assert "no longer a dependant" in revocations[0].data["reason"] and "NV-200/2026" in revocations[0].data["reason"]
    assert [(c.data["visa_number"], c.data["revocation_id"]) for c in cancellations] == [
        (kid["visa"]["number"], revocations[0].id)
    ]
    after = await people(system, sponsor, request_id)
    assert {who: a["status"] for who, a in after.items()} == {
        "PRINCIPAL": "ISSUED",
        "SPOUSE": "ISSUED",
        "CHILD": "CANCELLED",
    }
    standing = {
        who: (await system.issuance.http.get(f"/v1/visas/{a['visa']['number']}", headers=verifier)).json()["standing"]
        for who, a in before.items()
    }
    assert standing == {"PRINCIPAL": "VALID", "SPOUSE": "VALID", "CHILD": "CANCELLED"}
    case = await system.authorization.http.get(f"/v1/cases/{request_id}", headers=officer)
    assert case.json()["state"] == "GRANTED"  # the principal and the spouse still hold their authorization
    assert [r["person_ids"] for r in case.json()["revocations"]] == [[kid["person_id"]]]

    # Once the child's visa is cancelled, a third notice about them is refused: nothing is left to end.
    staged = await system.intake.count(outbox)
    third = await notify(system, sponsor, request_id, person_ids=[kid["person_id"]])
    assert third.status_code == 409
    assert await system.intake.count(outbox) == staged  # nothing published


async def test_the_principals_end_of_functions_takes_the_family_with_them(system, sponsor, officer):
    request_id, before = await issued_family(system, sponsor)

    answer = await notify(
        system, sponsor, request_id, person_ids=[before["PRINCIPAL"]["person_id"]], reason="end of mission"
    )
    assert answer.status_code == 202
    moved = await system.settle()

    [revocation] = [e for e in moved if e.type == AuthorizationRevoked.event_type]
    assert set(revocation.data["person_ids"]) == {a["person_id"] for a in before.values()}
    cancelled = [e.data["visa_number"] for e in moved if e.type == VisaCancelled.event_type]
    assert sorted(cancelled) == sorted(a["visa"]["number"] for a in before.values())
    assert (await system.view(sponsor, request_id))["status"] == "CANCELLED"
    case = (await system.authorization.http.get(f"/v1/cases/{request_id}", headers=officer)).json()
    assert case["state"] == "REVOKED" and case["revoked_by"] == "sponsor"


async def test_a_notice_before_issuance_means_the_visa_is_never_issued(system, sponsor):
    intake, authorization, issuance = system.intake, system.authorization, system.issuance
    request_id = await system.submit(sponsor, family_request())
    await pump(intake, authorization)
    [grant] = await pump(authorization, intake)  # intake knows the grant; the consulate has not received it
    assert grant.type == AuthorizationGranted.event_type
    kid = (await people(system, sponsor, request_id))["CHILD"]
    assert kid["status"] == "AUTHORIZED"

    assert (await notify(system, sponsor, request_id, person_ids=[kid["person_id"]])).status_code == 202
    await pump(intake, authorization)
    [revocation] = await pump(authorization, intake)
    # The revocation overtakes the grant at the consulate.
    assert await issuance.deliver(revocation) == "ack"
    assert await issuance.deliver(grant) == "ack"

    assert await issuance.count(Visa.__table__) == 2  # the principal's and the spouse's
    assert await issuance.count(Visa.__table__, Visa.__table__.c.person_id == kid["person_id"]) == 0
    await system.settle()
    assert (await people(system, sponsor, request_id))["CHILD"]["status"] == "CANCELLED"


async def test_notices_are_refused_when_they_cannot_apply(system, sponsor):
    request_id, found = await issued_family(system, sponsor)
    staged = await system.intake.count(outbox)

    unknown = await notify(system, sponsor, request_id, person_ids=["nobody-here"])
    assert unknown.status_code == 422 and "nobody-here" in unknown.text
    other = await system.intake.add_sponsor(name="Embassy of Norway", country="NOR")
    assert (await notify(system, bearer(other), request_id)).status_code == 404
    assert (await notify(system, sponsor, "no-such-request")).status_code == 404
    assert (
        await system.intake.http.post(f"/v1/requests/{request_id}/end-of-functions", json=NOTICE)
    ).status_code == 401
    incomplete = await system.intake.http.post(
        f"/v1/requests/{request_id}/end-of-functions", json={"reason": "end of mission"}, headers=sponsor
    )
    assert incomplete.status_code == 422
    assert await system.intake.count(outbox) == staged  # nothing published for a refused notice


async def test_an_officer_revokes_one_person_then_the_rest(system, sponsor, officer):
    authorization = system.authorization
    request_id, before = await issued_family(system, sponsor)
    spouse_id = before["SPOUSE"]["person_id"]
    url = f"/v1/cases/{request_id}/revoke"

    one = await authorization.http.post(url, json={"reason": "divorce", "person_ids": [spouse_id]}, headers=officer)
    assert one.status_code == 200, one.text
    assert one.json()["state"] == "GRANTED"
    again = await authorization.http.post(url, json={"reason": "divorce", "person_ids": [spouse_id]}, headers=officer)
    assert again.status_code == 409  # already revoked: nothing to revoke
    unknown = await authorization.http.post(url, json={"reason": "divorce", "person_ids": ["x"]}, headers=officer)
    assert unknown.status_code == 422
    rest = await authorization.http.post(url, json={"reason": "end of mission"}, headers=officer)
    assert rest.status_code == 200 and rest.json()["state"] == "REVOKED"
    moved = await system.settle()

    revoked = [e.data["person_ids"] for e in moved if e.type == AuthorizationRevoked.event_type]
    assert revoked == [[spouse_id], [before["PRINCIPAL"]["person_id"], before["CHILD"]["person_id"]]]
    cancelled = [e.data["visa_number"] for e in moved if e.type == VisaCancelled.event_type]
    assert sorted(cancelled) == sorted(a["visa"]["number"] for a in before.values())  # each visa once
    history = rest.json()["revocations"]
    assert [r["reason"] for r in history] == ["divorce", "end of mission"]
    assert history[0]["revoked_by"] == history[1]["revoked_by"] not in ("sponsor", None)  # the officer, both times
