from __future__ import annotations

import datetime as dt

import pytest
from cloudevents.core.bindings import rabbitmq as ce_rabbitmq
from pydantic import ValidationError

from shared.contracts import CONTENT_TYPE, EVENT_MODELS, Envelope, ReviewStarted, UnknownEventType
from shared.messaging.topology import INTAKE_STATUS, ISSUANCE_AUTHORIZATIONS, ConsumerQueue, Topology
from shared.settings import async_database_url


def test_every_event_type_is_versioned_and_routed_on_visa_keys():
    keys = {model.routing_key for model in EVENT_MODELS.values()}
    assert {
        "visa.request.submitted",
        "visa.authorization.granted",
        "visa.authorization.denied",
        "visa.authorization.revoked",
        "visa.issued",
        "visa.cancelled",
    } <= keys
    assert all(event_type.endswith(".v1") for event_type in EVENT_MODELS)


def test_an_envelope_carries_causation_and_correlation():
    cause = Envelope.wrap(ReviewStarted(request_id="r-1", case_id="c"), source="urn:a")
    effect = Envelope.wrap(ReviewStarted(request_id="r-1", case_id="c"), source="urn:b", causation=cause)
    assert cause.causationid is None and "causationid" not in cause.to_json().decode()
    assert effect.causationid == cause.id and effect.correlationid == cause.correlationid == "r-1"
    assert effect.subject == "r-1" and effect.time.tzinfo is not None


def test_the_cloudevents_sdk_reads_an_envelope_back_unchanged():
    envelope = Envelope.wrap(ReviewStarted(request_id="r-1", case_id="c"), source="urn:pe:rree:visa:test")
    event = ce_rabbitmq.from_rabbitmq_event(
        ce_rabbitmq.RabbitMQMessage(headers={}, content_type=CONTENT_TYPE, body=envelope.to_json())
    )
    assert event.get_id() == envelope.id
    assert event.get_type() == envelope.type
    assert event.get_source() == envelope.source
    assert event.get_time() == envelope.time
    assert event.get_data() == envelope.data


def test_readers_tolerate_unknown_fields_and_refuse_unknown_types():
    envelope = Envelope.wrap(ReviewStarted(request_id="r-1", case_id="c"), source="urn:a")
    extended = Envelope.model_validate({**envelope.model_dump(), "newattr": 1, "data": {**envelope.data, "new": 2}})
    assert extended.payload() == ReviewStarted(request_id="r-1", case_id="c")
    with pytest.raises(UnknownEventType):
        Envelope.model_validate({**envelope.model_dump(), "type": "pe.gob.rree.visa.other.v1"}).payload()
    with pytest.raises(ValidationError):
        Envelope.model_validate({**envelope.model_dump(), "data": {"request_id": "r-1"}}).payload()


@pytest.mark.parametrize(
    ("queue", "routing_key", "expected"),
    [
        (INTAKE_STATUS, "visa.issued", True),
        (INTAKE_STATUS, "visa.authorization.granted", True),
        (INTAKE_STATUS, "visa.request.submitted", False),
        (ISSUANCE_AUTHORIZATIONS, "visa.authorization.revoked", True),
        (ISSUANCE_AUTHORIZATIONS, "visa.issued", False),  # the consulate reacts only to authorizations
        (ConsumerQueue("q", ("a.#",)), "a", True),
        (ConsumerQueue("q", ("a.#",)), "a.b.c", True),
        (ConsumerQueue("q", ("a.*",)), "a.b.c", False),
    ],
)
def test_topic_matching(queue, routing_key, expected):
    assert queue.accepts(routing_key) is expected


def test_queues_are_quorum_with_a_dead_letter_queue_and_a_delivery_limit():
    topology = Topology(namespace="t.", delivery_limit=7)
    queue = topology.queue(INTAKE_STATUS)
    assert queue.name == "t.intake.request-status"
    assert queue.arguments["x-queue-type"] == "quorum"
    assert queue.arguments["x-dead-letter-exchange"] == "t.visa.dead-letter"
    assert queue.arguments["x-dead-letter-routing-key"] == queue.name
    assert queue.arguments["x-delivery-limit"] == 7
    assert topology.dead_letter_queue(INTAKE_STATUS).name == "t.intake.request-status.dlq"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("sqlite+aiosqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
    ],
)
def test_operators_write_plain_database_urls(url, expected):
    assert async_database_url(url) == expected


def test_envelope_time_is_utc():
    assert Envelope.wrap(ReviewStarted(request_id="r", case_id="c"), source="urn:a").time.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("person_ids", "visa_numbers", "person_id", "visa_number", "expected"),
    [
        ((), (), "p1", None, True),  # naming nobody: the whole authorization
        (("p0",), (), "p1", None, False),
        (("p0",), (), "p0", None, True),
        ((), ("PE0000002",), "p1", "PE0000002", True),
        ((), ("PE0000002",), "p0", "PE0000001", False),
        ((), ("PE0000002",), "p1", None, False),  # no visa yet: only a person id can match
    ],
)
def test_what_a_revocation_concerns(person_ids, visa_numbers, person_id, visa_number, expected):
    from shared.contracts.events import revocation_concerns

    assert revocation_concerns(person_ids, visa_numbers, person_id, visa_number) is expected
