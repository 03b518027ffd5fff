"""A short stay a treaty covers ends a case as NOT_REQUIRED: not granted, not denied (``cases.conclusion``)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.authorization.cases import CaseState, InvalidTransition, conclusion, decide, transition
from services.authorization.rules import assess
from shared.contracts import AuthorizationDenied, AuthorizationGranted, Decision, ImmigrationStatus, PassportType
from shared.contracts import SponsorKind as Kind
from shared.treaties.model import TreatyEntry, TreatyList
from tests.support.rules import ARRIVAL, TODAY, person, relative, request

PT, SHORT_STAY = PassportType, ImmigrationStatus.SHORT_STAY

TREATIES = TreatyList(
    version="2025-01-01.1",
    published=dt.date(2025, 1, 1),
    entries=(
        TreatyEntry(
            country="IDN",
            country_name="Indonesia",
            passport_types=(PT.DIPLOMATIC, PT.SERVICE),
            max_stay_days=30,
            min_passport_validity_months=6,
            instrument="exemption agreement (2003, renewed)",
            source="busquedas.elperuano.pe visor 2369559-1",
            verified=True,
        ),
        TreatyEntry(
            country="LVA",
            country_name="Latvia",
            passport_types=(PT.DIPLOMATIC, PT.SERVICE),
            max_stay_days=90,
            window_days=180,
            purposes=("OFFICIAL_ACTIVITY", "TRANSIT"),
            instrument="agreement",
            source="likumi.lv 224949",
            verified=True,
        ),
    ),
)


def concluded(r, denials=None):
    assessment = assess(r, today=TODAY, waivers=TREATIES)
    return conclusion(r, assessment, decide(r, assessment, officer_denials=denials))


def indonesian(pid="p0", **kw):
    return person(pid, nationality="IDN", **kw) if pid == "p0" else relative(pid, nationality="IDN", **kw)


def test_everyone_covered_is_not_required_with_the_treaty_and_its_maximum_stay_and_nothing_else():
    r = request(status=SHORT_STAY, principal=indonesian(), family=[indonesian("p1", passport=PT.SERVICE)])
    result = concluded(r)
    assert result.state is CaseState.NOT_REQUIRED
    assert result.decisions == () and result.visa_event is None  # no grant, no denial: nothing to issue
    assert [p.person_id for p in result.not_required] == ["p0", "p1"]
    waiver = result.not_required[0].waiver
    assert (waiver.country, waiver.instrument, waiver.max_stay_days) == (
        "IDN",
        "exemption agreement (2003, renewed)",
        30,
    )
    assert (waiver.stay_days, waiver.stay_assumed) == (30, True)  # no departure given: the maximum, assumed
    assert waiver.source == "busquedas.elperuano.pe visor 2369559-1"
    assert "the passport must be valid 6 months from the date of entry" in waiver.conditions
    assert result.not_required[0].person == r.principal


def test_a_stay_longer_than_the_treaty_allows_needs_a_visa_and_gets_one():
    r = request(status=SHORT_STAY, principal=indonesian(), family=[]).model_copy(
        update={"intended_departure": ARRIVAL + dt.timedelta(days=30)}  # 31 days
    )
    result = concluded(r)
    assert result.state is CaseState.GRANTED and result.not_required == ()
    assert [d.decision for d in result.decisions] == [Decision.GRANTED] and result.visa_event is AuthorizationGranted


def test_a_mixed_request_grants_who_needs_a_visa_and_lists_apart_who_does_not():
    family = [relative("p1", nationality="ESP"), relative("p2", nationality="ESP", passport=PT.ORDINARY)]
    r = request(status=SHORT_STAY, principal=indonesian(), family=family)
    result = concluded(r)
    assert [p.person_id for p in result.not_required] == ["p0"]
    assert [(d.person_id, d.decision) for d in result.decisions] == [("p1", Decision.GRANTED), ("p2", Decision.DENIED)]
    assert result.state is CaseState.GRANTED and result.visa_event is AuthorizationGranted


def test_nobody_granted_but_someone_covered_is_not_required_never_denied():
    family = [relative("p1", nationality="ESP", passport=PT.ORDINARY)]  # the ordinary procedure: denied here
    result = concluded(request(status=SHORT_STAY, principal=indonesian(), family=family))
    assert result.state is CaseState.NOT_REQUIRED
    assert [(d.person_id, d.decision) for d in result.decisions] == [("p1", Decision.DENIED)]
    assert result.visa_event is AuthorizationDenied and [p.person_id for p in result.not_required] == ["p0"]


def test_an_officers_denial_does_not_reach_a_person_who_needs_no_visa():
    family = [relative("p1", nationality="ESP")]
    result = concluded(request(status=SHORT_STAY, principal=indonesian(), family=family), denials={"*": "no"})
    assert [p.person_id for p in result.not_required] == ["p0"]
    assert [(d.person_id, d.decision) for d in result.decisions] == [("p1", Decision.DENIED)]
    assert result.state is CaseState.NOT_REQUIRED


def test_a_purpose_the_treaty_does_not_cover_needs_a_visa():
    latvian = person(nationality="LVA")
    official = concluded(request(status=SHORT_STAY, principal=latvian, family=[]))
    assert official.state is CaseState.NOT_REQUIRED
    eniex = concluded(request(status=SHORT_STAY, sponsor=Kind.ENIEX, principal=latvian, family=[]))
    assert eniex.state is CaseState.GRANTED and eniex.not_required == ()


def test_residents_are_never_not_required():
    result = concluded(request(principal=indonesian(), family=[]))
    assert result.state is CaseState.GRANTED and result.not_required == ()


def test_a_case_becomes_not_required_only_from_pending_and_stays_so():
    assert transition(CaseState.PENDING, CaseState.NOT_REQUIRED) is CaseState.NOT_REQUIRED
    for target in CaseState:
        with pytest.raises(InvalidTransition):
            transition(CaseState.NOT_REQUIRED, target)  # nothing to revoke: no visa was authorized
    for current in (CaseState.GRANTED, CaseState.DENIED, CaseState.REVOKED):
        with pytest.raises(InvalidTransition):
            transition(current, CaseState.NOT_REQUIRED)


def test_the_waiver_keeps_the_treatys_window():
    result = concluded(request(status=SHORT_STAY, principal=person("p0", nationality="LVA"), family=[]))
    [covered] = result.not_required
    assert (covered.waiver.country, covered.waiver.max_stay_days, covered.waiver.window_days) == ("LVA", 90, 180)


def test_nobody_granted_and_nobody_covered_is_denied():
    r = request(status=SHORT_STAY, principal=person("p0", nationality="ESP", passport=PT.ORDINARY), family=[])
    result = concluded(r)
    assert result.state is CaseState.DENIED and result.not_required == ()
    assert [d.decision for d in result.decisions] == [Decision.DENIED] and result.visa_event is AuthorizationDenied
