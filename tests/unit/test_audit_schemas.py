"""The audit's two schema validators: the compiled one decides, jsonschema explains; they must agree."""

from __future__ import annotations

import copy

import pytest

from services.audit.schemas import SchemaCheck
from tests.support.histories import consistent_history


@pytest.fixture(scope="module")
def schemas() -> SchemaCheck:
    return SchemaCheck.load()


def slow_verdict(schemas: SchemaCheck, event: dict) -> bool:
    """jsonschema's own verdict, without the compiled fast path."""
    envelope_ok = schemas.envelope.is_valid(event)
    validator = schemas.data.get(event.get("type"))
    return envelope_ok and validator is not None and validator.is_valid(event.get("data"))


def breakages() -> list[tuple[str, callable]]:
    def at(path, value):
        def change(event):
            target = event
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value

        return change

    def drop(path):
        def change(event):
            target = event
            for step in path[:-1]:
                target = target[step]
            del target[path[-1]]

        return change

    return [
        ("impossible date", at(("data", "principal", "date_of_birth"), "2026-02-30")),
        ("date with a time", at(("data", "intended_arrival"), "2027-01-15T00:00:00Z")),
        ("date-time without zone", at(("data", "submitted_at"), "2026-11-19T15:00:00")),
        ("date-time impossible", at(("time",), "2026-13-01T00:00:00Z")),
        ("lower-case passport", at(("data", "principal", "passport", "number"), "d1234567")),
        ("unknown status", at(("data", "immigration_status"), "TOURIST")),
        ("number for a string", at(("data", "function"), 42)),
        ("missing required", drop(("data", "sponsor"))),
        ("missing subject", drop(("subject",))),
        ("wrong specversion", at(("specversion",), "0.3")),
        ("family not a list", at(("data", "family"), "spouse")),
    ]


@pytest.mark.parametrize(("name", "breaks"), breakages(), ids=[name for name, _ in breakages()])
def test_both_validators_refuse_what_breaks_the_contract(schemas, name, breaks):
    submitted = copy.deepcopy(consistent_history().events[0])
    breaks(submitted)
    assert not slow_verdict(schemas, submitted), name
    assert schemas.check(submitted), name  # the fast path must not let it through


def test_both_validators_accept_every_event_of_a_consistent_history(schemas):
    for event in consistent_history().events:
        assert slow_verdict(schemas, event)
        assert schemas.check(event) == []


def test_checking_changes_nothing_in_the_event(schemas):
    # The compiled validator would write the schema's defaults into the event, breaking its signature.
    for event in consistent_history().events:
        event["data"].pop("family", None)  # a field with a default in the schema
        before = copy.deepcopy(event)
        schemas.check(event)
        assert event == before
