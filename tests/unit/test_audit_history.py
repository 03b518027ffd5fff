"""The auditor's verdict on a history: a consistent one is clean, and each invariant fires when broken."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json

import pytest

from services.audit.history import DIGEST_BYTES, History, Report, digest
from services.audit.schemas import SchemaCheck
from shared.contracts import VisaIssued
from shared.signing import KeyRing
from tests.support.histories import KEYS_VALID_FROM, Signers, Story, consistent_history

VIOLATION_FIELDS = {"offset", "event_id", "type", "request_id", "invariant", "detail"}


@pytest.fixture(scope="module")
def schemas() -> SchemaCheck:
    return SchemaCheck.load()


@pytest.fixture
def audit(schemas):
    def run(story: Story, *, complete: bool = True, ring: KeyRing | None = None, skip: int = 0) -> Report:
        history = History(ring or story.signers.ring, schemas, complete=complete)
        for offset, event in story.records()[skip:]:
            history.feed(offset, event)
        return history.finish()

    return run


def invariants(report: Report) -> dict[str, int]:
    return dict(report.violations_by_invariant)


def offset_of(story: Story, event: dict) -> int:
    return story.first_offset + next(i for i, logged in enumerate(story.events) if logged is event)


def granted_story() -> tuple[Story, dict]:
    story = Story()
    submitted = story.submit("r1")
    return story, story.decide(submitted, "a1")


# -- a consistent history -----------------------------------------------------------------------------------


def test_a_consistent_history_has_no_violation_and_its_account_is_right(audit):
    story = consistent_history()
    report = audit(story)
    assert report.violations == [] and report.ok
    assert (report.events, report.redeliveries, report.before_window) == (10, 1, 0)
    assert (report.first_offset, report.last_offset) == (0, 10)
    assert (report.requests, report.grants, report.denials, report.revocations) == (2, 1, 1, 1)
    assert (report.visas_issued, report.visas_cancelled, report.visas_live) == (2, 2, 0)
    assert report.by_type[VisaIssued.event_type] == 2 and sum(report.by_type.values()) == 10
    assert report.visas == {
        "PE0000001": {
            "request_id": "r1",
            "authorization_id": "a1",
            "person_id": "r1-p0",
            "cancelled": True,
            "superseded": False,
        },
        "PE0000002": {
            "request_id": "r1",
            "authorization_id": "a1",
            "person_id": "r1-p1",
            "cancelled": True,
            "superseded": False,
        },
    }
    assert report.request_statuses == {
        "r1": {"status": "CANCELLED", "people": {"r1-p0": "CANCELLED", "r1-p1": "CANCELLED"}},
        "r2": {"status": "DENIED", "people": {"r2-p0": "DENIED"}},
    }
    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["ok"] and summary["events"] == 10 and "visas" not in summary
    assert set(report.to_dict(accounts=True)) >= {"visas", "request_statuses"}


def test_request_statuses_follow_intakes_rules(audit):
    story = Story()
    submitted = story.submit("r1")
    story.review(submitted)
    granted = story.decide(submitted, "a1", denied=("r1-p1",))
    story.revoke(granted)  # before any visa: the granted principal is cancelled, the denied spouse stays denied
    report = audit(story)
    assert report.ok
    assert report.request_statuses["r1"] == {"status": "CANCELLED", "people": {"r1-p0": "CANCELLED", "r1-p1": "DENIED"}}

    story = Story()
    submitted = story.submit("r1")
    granted = story.decide(submitted, "a1")
    story.issue(granted, "r1-p0")
    assert audit(story).request_statuses["r1"] == {
        "status": "AUTHORIZED",  # the least advanced person still in the running
        "people": {"r1-p0": "ISSUED", "r1-p1": "AUTHORIZED"},
    }


def test_redeliveries_are_collapsed_and_counted(audit):
    story = consistent_history()
    for name in ("issued_principal", "cancelled_spouse", "revoked"):
        story.redeliver(story.steps[name])
    report = audit(story)
    assert report.ok, report.violations  # no visa-number-twice, no cancelled-twice: each applied once
    assert (report.events, report.redeliveries) == (10, 4)
    assert report.visas_issued == 2


def test_a_violation_names_where_and_what(audit):
    story, granted = granted_story()
    issued = story.issue(granted, "r1-p0")
    story.append(story.signers.resign(issued | {"id": "another"}))  # the same visa number again
    [violation] = audit(story).violations
    assert set(violation) == VIOLATION_FIELDS
    assert violation | {"detail": ""} == {
        "offset": 3,
        "event_id": "another",
        "type": VisaIssued.event_type,
        "request_id": "r1",
        "invariant": "visa-number-twice",
        "detail": "",
    }


# -- proof of origin ------------------------------------------------------------------------------------------


def test_an_unsigned_event_is_reported_and_not_applied(audit):
    story = consistent_history()
    for copy_of_grant in (story.steps["granted"], story.steps["redelivered"]):
        for field in ("signature", "sigkeyid"):
            del copy_of_grant[field]
    report = audit(story)
    assert report.violations_by_invariant["unsigned"] == 1  # the redelivered copy is collapsed
    assert report.violations_by_invariant["issued-without-grant"] == 2
    assert report.grants == 0


def test_an_event_signed_by_a_key_outside_the_ring_is_reported(audit):
    story = consistent_history()
    stranger = Signers.generate()
    story.events[0] = stranger.resign(story.events[0])
    report = audit(story)
    assert invariants(report) == {"unknown-key": 1}
    assert report.violations[0]["offset"] == 0
    assert "r1" not in report.request_statuses  # intake's view of it was never built


def test_a_tampered_event_fails_its_signature(audit):
    story = consistent_history()
    story.steps["revoked"]["data"]["reason"] = "no reason at all"
    report = audit(story)
    assert report.violations_by_invariant["bad-signature"] == 1
    assert report.revocations == 0


def test_a_key_may_sign_only_its_own_services_types(audit):
    story, granted = granted_story()
    story.events[-1] = story.signers.resign(granted, "intake")  # intake's key signing a grant
    story.issue(granted, "r1-p0")
    report = audit(story)
    assert invariants(report) == {"not-owner": 1, "issued-without-grant": 1}


def test_a_key_signs_only_within_its_validity(audit):
    story = consistent_history()
    ring = story.signers.ring
    kid = story.signers.keys["issuance"].kid
    retired = dataclasses.replace(ring.entries[kid], valid_until=KEYS_VALID_FROM + dt.timedelta(days=1))
    report = audit(story, ring=ring.with_entry(retired))
    assert invariants(report) == {"key-not-valid": 4}  # two visas issued, two cancelled


def test_a_forged_grant_legitimizes_no_visa(audit):
    story, granted = granted_story()
    granted["data"]["decisions"][1]["valid_until"] = "2040-01-01"  # after signing: the signature breaks
    story.issue(granted, "r1-p0")  # issuance's own, validly signed
    report = audit(story)
    assert invariants(report) == {"bad-signature": 1, "issued-without-grant": 1}
    assert report.violations[-1]["offset"] == 2


# -- the contract ---------------------------------------------------------------------------------------------


def test_an_event_breaking_its_schema_is_reported_without_its_personal_data(audit):
    story, granted = granted_story()
    submitted = story.events[0]
    changed = copy.deepcopy(submitted)
    changed["data"]["principal"]["passport"]["number"] = "lower case!"
    del changed["data"]["function"]
    story.events[0] = story.signers.resign(changed)  # validly signed: only the contract is broken
    report = audit(story)
    assert invariants(report) == {"schema": 1}
    detail = report.violations[0]["detail"]
    assert "'function' is a required property" in detail
    assert "event.data.principal.passport.number: fails pattern" in detail
    assert "lower case!" not in detail
    assert "r1" not in report.request_statuses  # a poison event is not applied


def test_an_event_of_a_type_outside_the_contract_is_a_schema_violation(audit):
    story, granted = granted_story()
    story.append(story.signers.resign(granted | {"type": "pe.gob.rree.visa.authorization.sealed.v1"}, "authorization"))
    report = audit(story)
    assert report.violations_by_invariant["schema"] == 1
    assert "not a type of the contract" in report.violations[-1]["detail"]


def test_a_malformed_envelope_is_a_schema_violation(audit):
    story, granted = granted_story()
    story.events[-1] = story.signers.resign(granted | {"time": "yesterday at noon"})
    report = audit(story)
    assert "schema" in invariants(report)
    assert any("event.time: fails format 'date-time'" in v["detail"] for v in report.violations)


# -- identity and causes -------------------------------------------------------------------------------------


def test_one_id_with_two_contents_is_flagged_and_the_first_stands(audit):
    story = consistent_history()
    issued = story.steps["issued_principal"]
    other = copy.deepcopy(issued)
    other["data"]["visa_number"] = "PE0000099"
    story.append(story.signers.resign(other))  # validly signed, same id as a visa already issued
    report = audit(story)
    assert invariants(report) == {"duplicate-id": 1}
    assert "PE0000099" not in report.visas


def test_a_forged_copy_does_not_take_the_genuine_events_id(audit):
    story, granted = granted_story()
    forged = copy.deepcopy(granted)
    forged["data"]["decided_by"] = "intruder"  # its signature no longer holds
    story.events.insert(1, forged)
    story.issue(granted, "r1-p0")
    report = audit(story)
    assert invariants(report) == {"bad-signature": 1, "duplicate-id": 1}  # no issued-without-grant: genuine applied
    assert report.grants == 1


def test_a_cause_missing_from_a_complete_log_is_a_violation(audit):
    story = consistent_history()
    report = audit(story, skip=1)  # the window starts after the first submission
    assert report.violations_by_invariant["cause-missing"] == 1
    report = audit(story, skip=1, complete=False)
    assert report.ok, report.violations
    assert report.before_window == 1


def test_a_digest_per_event_is_small_and_content_bound():
    story = consistent_history()
    first, second = story.events[0], story.events[1]
    assert len(digest(first)) == DIGEST_BYTES == 16
    assert digest(first) == digest(json.loads(json.dumps(first, indent=3)))
    assert digest(first) != digest(second)


# -- issuance ------------------------------------------------------------------------------------------------


def test_a_visa_without_any_grant_is_issued_without_grant(audit):
    story = Story()
    submitted = story.submit("r1")
    granted = story.decide(submitted, "a1")
    story.events.remove(granted)  # never logged
    story.issue(granted, "r1-p0")
    report = audit(story)
    assert invariants(report) == {"issued-without-grant": 1, "cause-missing": 1}
    report = audit(story, complete=False)
    assert report.ok and report.before_window == 2  # the grant, and the visa's cause, predate the window


def test_a_visa_for_a_person_the_grant_denied_is_issued_after_denial(audit):
    story = Story()
    submitted = story.submit("r1")
    granted = story.decide(submitted, "a1", denied=("r1-p1",))
    story.issue(granted, "r1-p1")
    assert invariants(audit(story)) == {"issued-after-denial": 1}


def test_a_visa_under_a_denied_authorization_is_issued_after_denial(audit):
    story = Story()
    submitted = story.submit("r1", family=0)
    denied = story.decide(submitted, "a1", denied=("r1-p0",))
    story.issue(denied, "r1-p0")
    assert invariants(audit(story)) == {"issued-after-denial": 1}


def test_a_visa_for_someone_the_grant_does_not_name_is_issued_without_grant(audit):
    story, granted = granted_story()
    issued = story.issue(granted, "r1-p0")
    story.events[-1] = story.signers.resign(issued | {"data": issued["data"] | {"person_id": "r1-p9"}})
    assert invariants(audit(story)) == {"issued-without-grant": 1}


def test_a_visa_issued_after_the_revocation_and_never_cancelled(audit):
    story, granted = granted_story()
    revoked = story.revoke(granted)
    issued = story.issue(granted, "r1-p0")
    report = audit(story)
    assert invariants(report) == {"issued-after-revocation": 1, "revocation-not-executed": 1}
    by_invariant = {v["invariant"]: v for v in report.violations}
    assert by_invariant["issued-after-revocation"]["event_id"] == issued["id"]
    assert by_invariant["revocation-not-executed"]["event_id"] == revoked["id"]


def test_a_visa_issued_before_the_revocation_reached_issuance_and_then_cancelled_is_fine(audit):
    story, granted = granted_story()
    revoked = story.revoke(granted)
    issued = story.issue(granted, "r1-p0")
    story.cancel(revoked, issued)
    assert audit(story).ok


@pytest.mark.parametrize("missing", [("cancelled_spouse",), ("cancelled_principal", "cancelled_spouse")])
def test_each_visa_a_revocation_concerns_must_be_cancelled(audit, missing):
    story = consistent_history()
    for name in missing:
        story.events.remove(story.steps[name])
    report = audit(story)
    assert invariants(report) == {"revocation-not-executed": len(missing)}
    revoked_at = offset_of(story, story.steps["revoked"])
    assert {v["offset"] for v in report.violations} == {revoked_at}
    assert report.visas_live == len(missing)


def test_a_revocation_is_executed_by_its_own_cancellation_or_an_earlier_ones(audit):
    story, granted = granted_story()
    issued = story.issue(granted, "r1-p0")
    first = story.revoke(granted, person_ids=("r1-p0",))
    second = story.revoke(granted)
    story.cancel(second, issued)  # the first revocation was left unexecuted until the second
    report = audit(story)
    assert invariants(report) == {"revocation-not-executed": 1}
    assert report.violations[0]["event_id"] == first["id"]


def test_a_visa_cancelled_twice(audit):
    story = consistent_history()
    story.cancel(story.steps["revoked"], story.steps["issued_spouse"])
    assert invariants(audit(story)) == {"cancelled-twice": 1}


def test_cancelling_a_visa_never_issued(audit):
    story = consistent_history()
    story.events.remove(story.steps["issued_spouse"])
    report = audit(story)
    assert invariants(report) == {"cancelled-unknown-visa": 1}
    report = audit(story, complete=False)
    assert report.ok and report.before_window == 1


def test_one_visa_number_issued_twice(audit):
    story, granted = granted_story()
    story.issue(granted, "r1-p0", number="PE0000007")
    story.issue(granted, "r1-p1", number="PE0000007")
    report = audit(story)
    assert invariants(report) == {"visa-number-twice": 1}
    assert report.visas["PE0000007"]["person_id"] == "r1-p0"


def test_two_live_visas_for_one_person_of_one_authorization(audit):
    story, granted = granted_story()
    story.issue(granted, "r1-p0")
    story.issue(granted, "r1-p0")
    report = audit(story)
    assert invariants(report) == {"two-live-visas": 1}
    assert report.violations[0]["offset"] == 3


# -- renewals and ends of functions ----------------------------------------------------------------------------


def renewed_story() -> tuple[Story, dict, dict]:
    """r1's principal and spouse hold visas; r2 renews both; the consulate supersedes each old visa."""
    story = Story()
    submitted = story.submit("r1")
    grant = story.decide(submitted, "a1")
    old = [story.issue(grant, "r1-p0"), story.issue(grant, "r1-p1")]
    renewal = story.renew(submitted, old, "r2")
    renewed = story.decide(renewal, "a2")
    for n, earlier in enumerate(old):
        story.supersede(earlier, story.issue(renewed, f"r2-p{n}"))
    return story, old[0], renewed


def test_a_renewal_supersedes_the_old_visas_and_the_account_says_so(audit):
    story, _, _ = renewed_story()
    story.end_functions(story.events[0], ["r1-p1"])  # a notice is admitted and counted; its effect is a revocation
    report = audit(story)
    assert report.violations == []
    assert (report.visas_issued, report.visas_cancelled, report.visas_superseded, report.visas_live) == (4, 0, 2, 2)
    assert report.by_type["pe.gob.rree.visa.superseded.v1"] == 2
    assert report.by_type["pe.gob.rree.visa.request.functions_ended.v1"] == 1
    assert report.request_statuses["r1"]["status"] == "SUPERSEDED"
    assert report.request_statuses["r2"]["status"] == "ISSUED"
    assert [v["superseded"] for v in report.visas.values()] == [True, True, False, False]


def test_superseding_a_visa_that_no_longer_stands_or_was_never_issued_is_reported(audit):
    story, old, renewed = renewed_story()
    story.supersede(old, story.issue(renewed, "r2-p0"))  # superseded a second time
    story.supersede(old, story.events[-2], number="PE9999999")  # a visa never issued
    report = audit(story)
    assert invariants(report) == {"superseded-not-standing": 1, "superseded-unknown-visa": 1, "two-live-visas": 1}
    # Before the window, an unknown visa may simply predate it.
    assert "superseded-unknown-visa" not in invariants(audit(story, complete=False, skip=0))


def test_a_visa_superseded_by_a_visa_not_in_the_log_is_reported(audit):
    story = Story()
    submitted = story.submit("r1", family=0)
    old = story.issue(story.decide(submitted, "a1"), "r1-p0")
    phantom = copy.deepcopy(old)
    phantom["data"] = phantom["data"] | {"visa_number": "PE0000777", "request_id": "r9"}
    story.supersede(old, phantom)
    assert invariants(audit(story)) == {"superseded-by-unknown-visa": 1}
