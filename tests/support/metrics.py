"""The metrics every service exposes on ``GET /metrics``: the contract of the dashboard and of the live check."""

from __future__ import annotations

# The contract the dashboard is built on: every series name a service exposes on GET /metrics that the
# dashboard (deploy/grafana/visa.json) may query, with its labels. Histograms are named by their _bucket
# series, which carry `le`. Keep this list as the contract: a check against a live /metrics compares it too.
METRICS: dict[str, frozenset[str]] = {
    name: frozenset(labels)
    for name, labels in {
        # prometheus-fastapi-instrumentator's defaults (status grouped: "2xx", "5xx"...)
        "http_requests_total": {"handler", "method", "status"},
        "http_request_duration_seconds_bucket": {"handler", "method", "le"},
        # FastStream's Prometheus middleware
        "faststream_received_messages_total": {"app_name", "broker", "handler"},
        "faststream_received_processed_messages_total": {"app_name", "broker", "handler", "status"},
        "faststream_received_processed_messages_duration_seconds_bucket": {"app_name", "broker", "handler", "le"},
        "faststream_published_messages_total": {"app_name", "broker", "destination", "status"},
        # The project's own, each with the label `service`
        "visa_events_consumed_total": {"service", "queue", "event_type", "outcome"},
        "visa_events_published_total": {"service", "event_type"},
        "visa_event_handler_duration_seconds_bucket": {"service", "queue", "event_type", "le"},
        "visa_outbox_backlog_events": {"service"},
        "visa_outbox_oldest_age_seconds": {"service"},
        "visa_database_up": {"service"},
        "visa_broker_up": {"service"},
    }.items()
}
# The values a query may match exactly, for the labels whose values are a closed set.
METRIC_LABEL_VALUES = {
    ("visa_events_consumed_total", "outcome"): {"handled", "duplicate", "ignored", "dead_lettered", "retried"},
    ("faststream_received_processed_messages_total", "status"): {"acked", "nacked", "rejected", "skipped", "error"},
    ("http_requests_total", "status"): {"1xx", "2xx", "3xx", "4xx", "5xx"},
}


Samples = dict[tuple[str, frozenset], float]


def samples(exposition: str) -> Samples:
    """Every sample of a ``/metrics`` answer, by name and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (sample, have), value in found.items() if sample == name and wanted <= have)
