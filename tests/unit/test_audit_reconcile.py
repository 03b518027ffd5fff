"""Reconciliation: the log's account of visas and requests against what issuance and intake hold."""

from __future__ import annotations

import pytest

from services.audit.history import History, Report
from services.audit.reconcile import reconcile
from services.audit.schemas import SchemaCheck
from tests.support.histories import consistent_history

CANCELLED_AT = "2026-12-20T15:00:01Z"


def account(*, complete: bool = True) -> Report:
    story = consistent_history()
    history = History(story.signers.ring, SchemaCheck.load(), complete=complete)
    for offset, event in story.records():
        history.feed(offset, event)
    return history.finish()


def held_visas(report: Report) -> dict[str, dict]:
    """Issuance's records, as its audit API lists them, agreeing with the log."""
    return {
        number: {
            "number": number,
            "request_id": visa["request_id"],
            "authorization_id": visa["authorization_id"],
            "person_id": visa["person_id"],
            "immigration_status": "DIPLOMATIC_RESIDENT",
            "issued_at": "2026-11-20T15:00:01Z",
            "cancelled_at": CANCELLED_AT if visa["cancelled"] else None,
            "revocation_id": None,
        }
        for number, visa in report.visas.items()
    }


def held_requests(report: Report) -> dict[str, dict]:
    return {rid: {"status": r["status"], "people": dict(r["people"])} for rid, r in report.request_statuses.items()}


@pytest.fixture
def report() -> Report:
    return account()


def test_services_agreeing_with_the_log_show_no_difference(report):
    assert reconcile(report, held_visas(report), held_requests(report)) == []


def test_a_visa_the_log_issued_but_issuance_lacks(report):
    visas = held_visas(report)
    del visas["PE0000002"]
    [difference] = reconcile(report, visas, held_requests(report))
    assert difference == {
        "kind": "visa-missing-in-service",
        "key": "PE0000002",
        "log": report.visas["PE0000002"],
        "service": None,
    }


def test_a_visa_issuance_holds_but_the_log_never_issued(report):
    visas = held_visas(report)
    visas["PE0000003"] = visas["PE0000002"] | {"number": "PE0000003", "cancelled_at": None}
    [difference] = reconcile(report, visas, held_requests(report))
    assert (difference["kind"], difference["key"], difference["log"]) == ("visa-missing-in-log", "PE0000003", None)
    assert difference["service"]["cancelled"] is False
    # A window that does not start at the beginning may just not reach back to it.
    partial = account(complete=False)
    assert reconcile(partial, held_visas(partial) | {"PE0000003": visas["PE0000003"]}, held_requests(partial)) == []


def test_a_visa_cancelled_in_the_log_but_live_at_issuance(report):
    visas = held_visas(report)
    visas["PE0000001"]["cancelled_at"] = None
    [difference] = reconcile(report, visas, held_requests(report))
    assert (difference["kind"], difference["key"]) == ("visa-state-differs", "PE0000001")
    assert (difference["log"]["cancelled"], difference["service"]["cancelled"]) == (True, False)


def test_a_visa_held_for_another_person(report):
    visas = held_visas(report)
    visas["PE0000001"]["person_id"] = "r1-p1"
    [difference] = reconcile(report, visas, held_requests(report))
    assert difference["kind"] == "visa-state-differs"


def test_requests_missing_on_either_side(report):
    requests = held_requests(report)
    del requests["r2"]
    requests["r3"] = {"status": "SUBMITTED", "people": {"r3-p0": "SUBMITTED"}}
    differences = reconcile(report, held_visas(report), requests)
    assert [(d["kind"], d["key"]) for d in differences] == [
        ("request-missing-in-service", "r2"),
        ("request-missing-in-log", "r3"),
    ]
    assert differences[0]["log"] == report.request_statuses["r2"] and differences[0]["service"] is None


def test_a_request_whose_status_differs(report):
    requests = held_requests(report)
    requests["r1"] = {"status": "ISSUED", "people": {"r1-p0": "ISSUED", "r1-p1": "ISSUED"}}
    [difference] = reconcile(report, held_visas(report), requests)
    assert difference == {
        "kind": "status-differs",
        "key": "r1",
        "log": report.request_statuses["r1"],
        "service": requests["r1"],
    }


def test_one_persons_status_differing_is_a_difference(report):
    requests = held_requests(report)
    requests["r1"]["people"]["r1-p1"] = "ISSUED"  # the request's own status still agrees
    [difference] = reconcile(report, held_visas(report), requests)
    assert difference["kind"] == "status-differs"
