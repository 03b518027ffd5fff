"""The registry of the topology: one place says who publishes and who consumes what, and it holds together."""

from __future__ import annotations

import pytest

from shared.clock import FixedClock, SystemClock, current, using
from shared.contracts import EVENT_MODELS, AuthorizationGranted, VisaIssued
from shared.contracts.registry import (
    ROLES,
    ConsumerQueue,
    Role,
    consumers_of,
    owned_types,
    producer_of,
    role,
)


def test_every_event_type_has_exactly_one_producer_and_reaches_a_consumer():
    for event_type, model in EVENT_MODELS.items():
        assert [service for service in ROLES if event_type in owned_types(service)] == [producer_of(event_type)]
        assert consumers_of(model.routing_key), f"nobody consumes {event_type}"


def test_no_service_consumes_what_it_publishes():
    for service, entry in ROLES.items():
        assert not set(entry.publishes) & set(entry.handles), service


def test_issuance_consumes_only_authorization_events():
    assert consumers_of(VisaIssued.routing_key) == ("intake", "authorization")
    assert all(model.routing_key.startswith("visa.authorization.") for model in role("issuance").handles)


def test_a_role_cannot_handle_what_its_queue_is_not_bound_to():
    with pytest.raises(ValueError, match="not bound to visa.issued"):
        Role("x", publishes=(), consumes=ConsumerQueue("x.q", ("visa.authorization.*",)), handles=(VisaIssued,))
    Role("x", publishes=(), consumes=ConsumerQueue("x.q", ("visa.#",)), handles=(VisaIssued, AuthorizationGranted))


def test_an_unknown_service_is_named():
    with pytest.raises(ValueError, match="no service 'consulate': one of intake, authorization, issuance"):
        role("consulate")


def test_the_clock_in_use_is_the_one_given_and_the_system_clock_elsewhere():
    import datetime as dt

    fixed = FixedClock(dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC))
    assert isinstance(current(), SystemClock)
    with using(fixed):
        assert current().now() == dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC)
        assert current().today() == dt.date(2027, 3, 1)
        fixed.advance(dt.timedelta(days=1))
        assert current().today() == dt.date(2027, 3, 2)
    assert isinstance(current(), SystemClock)
    with pytest.raises(ValueError, match="aware"):
        FixedClock(dt.datetime(2027, 3, 1))
