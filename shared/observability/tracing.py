"""OpenTelemetry for one service: spans from FastAPI, SQLAlchemy and FastStream's kept instrumentations and
the bus's own, one trace per request across the services.

The trace context travels inside each CloudEvent as its ``traceparent`` extension (CloudEvents'
distributed-tracing extension): stored in the outbox with the event, signed with it, and read back by every
consumer, so that the submission, the authorization and the issuance of one request form one trace however
long the outbox waits. Spans are exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; otherwise nothing leaves the process, but trace ids still
correlate the logs.

Spans are recorded only while something receives them (a span processor: the OTLP exporter, or a test's): a
span nobody receives is a non-recording one, which keeps its trace and span ids (the logs' correlation, the
``traceparent`` the events carry) without the cost of its attributes, events and end (``Recorded``; measured in
docs/performance.md). A service that exports follows the sampling decision of the request's first service, so
export from every service or from none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult
from sqlalchemy.ext.asyncio import AsyncEngine

from .metrics import Metrics

OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def traceparent_now() -> str | None:
    """The W3C ``traceparent`` of the current span, if there is one."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> Context | None:
    """The trace context an event carries, or None."""
    if not traceparent:
        return None
    context = propagate.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


class Recorded(Sampler):
    """Samples (as ``ParentBased(ALWAYS_ON)``, OpenTelemetry's default) while ``provider`` has a span processor to
    hand the spans to; drops them otherwise: they are then non-recording, with their ids."""

    def __init__(self) -> None:
        self.provider: TracerProvider | None = None
        self._sampled = ParentBased(ALWAYS_ON)

    def receiving(self) -> bool:
        """Whether a span processor receives spans now."""
        # The SDK keeps its processors here; ``add_span_processor`` appends to it.
        return self.provider is not None and bool(self.provider._active_span_processor._span_processors)

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        if self.receiving():
            return self._sampled.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        parent = trace.get_current_span(parent_context).get_span_context()
        return SamplingResult(Decision.DROP, trace_state=parent.trace_state if parent.is_valid else None)

    def get_description(self) -> str:
        return "Recorded{ParentBased{ALWAYS_ON} while a span processor receives spans}"


def _provider(service: str) -> TracerProvider:
    sampler = Recorded()
    provider = TracerProvider(resource=Resource.create({"service.name": f"visa-{service}"}), sampler=sampler)
    sampler.provider = provider
    if any(os.environ.get(name) for name in OTLP_ENDPOINTS):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


@dataclass
class Observability:
    """One service's metrics and tracer provider (its own, so that services sharing a process stay apart)."""

    service: str
    metrics: Metrics = field(init=False)
    tracer_provider: TracerProvider = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.service)
        self.tracer_provider = _provider(self.service)
        self.tracer = self.tracer_provider.get_tracer("visa")

    async def shutdown(self) -> None:
        self.tracer_provider.shutdown()  # flushes what the exporter holds


def instrument_engine(engine: AsyncEngine, observability: Observability) -> None:
    """Spans for ``engine``'s statements, from OpenTelemetry's SQLAlchemy instrumentation, with this service's
    tracer provider (its instrumentor would wrap ``create_engine`` for the whole process instead)."""
    from opentelemetry.instrumentation.sqlalchemy import __version__
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    class Statements(EngineTracer):
        """A span per statement while spans are received; none otherwise: a non-recording span per statement
        carries nothing the logs or the events use (its ids are never read), and costs the statement's name
        parsed, the span started and made current (docs/performance.md)."""

        def _before_cur_exec(self, conn, cursor, statement, params, context, executemany):
            if not sampler.receiving():
                return statement, params
            return super()._before_cur_exec(conn, cursor, statement, params, context, executemany)

    sampler = observability.tracer_provider.sampler
    tracer = observability.tracer_provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    usage = NoOpMeterProvider().get_meter("visa").create_up_down_counter("db.client.connections.usage")
    Statements(tracer, engine.sync_engine, usage)
