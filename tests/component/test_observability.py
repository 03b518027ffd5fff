"""What an operator sees: one trace per request across the three services, metrics that count what happened,
and a readiness that fails when the outbox falls behind."""

from __future__ import annotations

import datetime as dt

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.clock import FixedClock
from shared.contracts import AuthorizationGranted, RequestSubmitted, VisaIssued
from tests.support.components import Service, System
from tests.support.metrics import METRICS, Samples, samples, total


@pytest.fixture
def clock() -> FixedClock:
    """A clock the readiness test moves (set after the test keys' creation: events are signed at its time)."""
    return FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=1))


def spans_of(service: Service) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    service.bus.observability.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def scrape(service: Service) -> Samples:
    answer = await service.http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


async def test_one_request_is_one_trace_across_the_three_services(system: System, sponsor):
    exporters = {name: spans_of(getattr(system, name)) for name in ("intake", "authorization", "issuance")}

    await system.submit(sponsor)
    events = await system.settle()

    [post] = [s for s in exporters["intake"].get_finished_spans() if s.name == "POST /v1/requests"]
    trace_id = post.context.trace_id
    assert {int(event.traceparent.split("-")[1], 16) for event in events} == {trace_id}
    for name, exporter in exporters.items():
        handling = [s for s in exporter.get_finished_spans() if " handle " in s.name]
        assert handling, f"{name} handled no event"
        assert {s.context.trace_id for s in handling} == {trace_id}, name
        assert {s.resource.attributes["service.name"] for s in exporter.get_finished_spans()} == {f"visa-{name}"}
    # The database statements are spans of the same trace (OpenTelemetry's SQLAlchemy instrumentation).
    statements = [s for s in exporters["issuance"].get_finished_spans() if s.attributes.get("db.statement")]
    assert statements and {s.context.trace_id for s in statements if s.parent} >= {trace_id}


async def test_the_metrics_count_what_happened(system: System, sponsor):
    await system.submit(sponsor)
    await system.settle()
    [granted] = await system.authorization.outbox(AuthorizationGranted.routing_key)
    assert await system.issuance.deliver(granted) == "ack"  # a redelivery: nothing issued twice

    intake, authorization, issuance = (
        await scrape(system.intake),
        await scrape(system.authorization),
        await scrape(system.issuance),
    )
    consumed = "visa_events_consumed_total"
    assert total(intake, "http_requests_total", handler="/v1/requests", method="POST", status="2xx") == 1
    assert total(authorization, consumed, event_type=RequestSubmitted.event_type, outcome="handled") == 1
    assert total(authorization, consumed, event_type=VisaIssued.event_type, outcome="handled") == 2
    assert total(issuance, consumed, event_type=AuthorizationGranted.event_type, outcome="handled") == 1
    assert total(issuance, consumed, event_type=AuthorizationGranted.event_type, outcome="duplicate") == 1
    assert total(intake, consumed, event_type=VisaIssued.event_type, outcome="handled") == 2
    assert total(intake, consumed, outcome="dead_lettered") == 0
    assert total(issuance, "visa_event_handler_duration_seconds_count", event_type=AuthorizationGranted.event_type) == 2
    for found in (intake, authorization, issuance):
        assert total(found, "visa_database_up") == 1
        assert total(found, "visa_outbox_backlog_events") == 0  # everything was moved and marked
    # Every name the dashboard is built on is exposed (FastStream's own counters appear once a message flowed
    # through the broker, which the in-memory harness bypasses for publishing).
    names = {name for found in (intake, authorization, issuance) for name, _ in found}
    published = {"faststream_published_messages_total", "visa_events_published_total"}
    assert set(METRICS) - published <= names, set(METRICS) - published - names


async def test_a_forged_event_is_counted_as_dead_lettered(system: System, sponsor):
    await system.submit(sponsor)
    [submitted] = await system.intake.outbox()
    forged = submitted.model_copy(update={"data": {**submitted.data, "function": "Ambassador"}})
    assert await system.authorization.deliver(forged) == "reject"
    scraped = await scrape(system.authorization)
    assert (
        total(scraped, "visa_events_consumed_total", event_type="unknown", outcome="dead_lettered")
        + total(scraped, "visa_events_consumed_total", event_type=RequestSubmitted.event_type, outcome="dead_lettered")
        == 1
    )


async def test_readiness_fails_when_the_outbox_falls_behind(system: System, sponsor, clock: FixedClock):
    await system.submit(sponsor)  # staged; no relay runs in this harness, so it stays unpublished
    assert (await system.intake.http.get("/readyz")).status_code == 200

    clock.advance(dt.timedelta(seconds=61))
    answer = await system.intake.http.get("/readyz")
    assert answer.status_code == 503
    assert "outbox oldest unpublished event is 61 s old (limit 60 s)" in answer.json()["detail"]
    scraped = await scrape(system.intake)
    assert total(scraped, "visa_outbox_backlog_events") == 1
    assert total(scraped, "visa_outbox_oldest_age_seconds") == 61

    await system.settle()  # published: ready again
    assert (await system.intake.http.get("/readyz")).status_code == 200
