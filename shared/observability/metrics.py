"""The project's own Prometheus metrics, beside FastStream's (``faststream_*``) and the HTTP instrumentator's
(``http_*``). Each service keeps them in a registry of its own, served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# How a consumer settled one delivery (label ``outcome`` of visa_events_consumed_total).
HANDLED = "handled"  # its use case ran and committed
DUPLICATE = "duplicate"  # handled before (the inbox knew it): acknowledged, nothing done
IGNORED = "ignored"  # a type this consumer does not handle
DEAD_LETTERED = "dead_lettered"  # forged, malformed or poison: moved to the dead-letter queue
RETRIED = "retried"  # failed; returned to the queue for another attempt


class Metrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.consumed = Counter(
            "visa_events_consumed",
            "Deliveries settled by a consumer, by queue, CloudEvents type and outcome.",
            ["service", "queue", "event_type", "outcome"],
            registry=self.registry,
        )
        self.published = Counter(
            "visa_events_published",
            "Events the broker confirmed, by CloudEvents type.",
            ["service", "event_type"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "visa_event_handler_duration_seconds",
            "Time to handle one event: inbox, use case and commit.",
            ["service", "queue", "event_type"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "visa_outbox_backlog_events",
            "Events staged and not yet confirmed by the broker.",
            ["service"],
            registry=self.registry,
        )
        self.outbox_age = Gauge(
            "visa_outbox_oldest_age_seconds",
            "Age of the oldest event not yet confirmed by the broker (0 when none).",
            ["service"],
            registry=self.registry,
        )
        self.database_up = Gauge(
            "visa_database_up", "1 when the service's database answers, else 0.", ["service"], registry=self.registry
        )
        self.broker_up = Gauge(
            "visa_broker_up", "1 when the broker connection answers, else 0.", ["service"], registry=self.registry
        )

    def settled(self, queue: str, event_type: str, outcome: str) -> None:
        self.consumed.labels(self.service, queue, event_type, outcome).inc()
