"""The auditor and a waiver: an ``AuthorizationNotRequired`` is accepted, counted, moves its people to
NOT_REQUIRED as intake does, and licenses no visa."""

from __future__ import annotations

import datetime as dt

import pytest

from services.audit.history import History, Report
from services.audit.schemas import SchemaCheck
from services.issuance.visas import machine_readable_zone
from shared.contracts import AuthorizationNotRequired, ImmigrationStatus, RequestSubmitted, VisaIssued
from tests.support.histories import DECIDED_AT, VALID_FROM, VALID_UNTIL, Story


@pytest.fixture(scope="module")
def schemas() -> SchemaCheck:
    return SchemaCheck.load()


def audit(story: Story, schemas: SchemaCheck) -> Report:
    history = History(story.signers.ring, schemas, complete=True)
    for offset, event in story.records():
        history.feed(offset, event)
    return history.finish()


def visa_for(story: Story, submitted: dict, authorization_id: str, person_id: str) -> dict:
    """A VisaIssued for ``person_id``, whatever was decided about them."""
    applicant = next(p for p in RequestSubmitted.model_validate(submitted["data"]).people if p.person_id == person_id)
    status = ImmigrationStatus.DIPLOMATIC_RESIDENT
    return story.emit(
        VisaIssued(
            request_id=submitted["data"]["request_id"],
            authorization_id=authorization_id,
            person_id=person_id,
            person=applicant,
            visa_number="PE0000009",
            immigration_status=status,
            valid_from=VALID_FROM,
            valid_until=VALID_UNTIL,
            mrz=machine_readable_zone("PE0000009", applicant, status, VALID_UNTIL),
            issued_at=DECIDED_AT + dt.timedelta(seconds=1),
        ),
        submitted,
    )


def test_a_request_nobody_needs_a_visa_for_is_clean_counted_and_not_required(schemas):
    story = Story()
    submitted = story.submit("r1")
    story.waive(submitted, "a1", ["r1-p0", "r1-p1"])
    report = audit(story, schemas)
    assert report.violations == []
    assert (report.grants, report.denials, report.not_required, report.visas_issued) == (0, 0, 1, 0)
    assert report.by_type[AuthorizationNotRequired.event_type] == 1
    assert report.to_dict()["not_required"] == 1
    assert report.request_statuses == {
        "r1": {"status": "NOT_REQUIRED", "people": {"r1-p0": "NOT_REQUIRED", "r1-p1": "NOT_REQUIRED"}}
    }


def test_a_mixed_request_grants_the_others_and_a_visa_for_the_covered_person_is_issued_without_grant(schemas):
    story = Story()
    submitted = story.submit("r1")
    story.waive(submitted, "a1", ["r1-p0"])
    granted = story.decide(submitted, "a1", without=["r1-p0"])
    story.issue(granted, "r1-p1")
    report = audit(story, schemas)
    assert report.violations == []
    assert report.request_statuses["r1"] == {
        "status": "ISSUED",
        "people": {"r1-p0": "NOT_REQUIRED", "r1-p1": "ISSUED"},
    }
    visa_for(story, submitted, "a1", "r1-p0")
    report = audit(story, schemas)
    assert [(v["invariant"], v["detail"]) for v in report.violations] == [
        ("issued-without-grant", "case a1 answered that r1-p0 needs no visa (a waiver treaty)")
    ]


def test_a_visa_under_a_case_only_answered_not_required_is_issued_without_grant(schemas):
    story = Story()
    submitted = story.submit("r1", family=0)
    story.waive(submitted, "a1", ["r1-p0"])
    visa_for(story, submitted, "a1", "r1-p0")
    assert [v["invariant"] for v in audit(story, schemas).violations] == ["issued-without-grant"]


def test_revoking_the_whole_authorization_leaves_the_covered_person_not_required(schemas):
    story = Story()
    submitted = story.submit("r1")
    story.waive(submitted, "a1", ["r1-p0"])
    granted = story.decide(submitted, "a1", without=["r1-p0"])
    story.revoke(granted)  # no people named: the whole authorization
    report = audit(story, schemas)
    assert report.violations == []
    assert report.request_statuses["r1"]["people"] == {"r1-p0": "NOT_REQUIRED", "r1-p1": "CANCELLED"}


def test_only_authorization_may_say_a_visa_is_not_required(schemas):
    story = Story()
    submitted = story.submit("r1")
    forged = story.waive(submitted, "a1", ["r1-p0", "r1-p1"])
    story.events[-1] = story.signers.resign(forged, "intake")
    report = audit(story, schemas)
    assert [v["invariant"] for v in report.violations] == ["not-owner"]
    assert report.not_required == 0
