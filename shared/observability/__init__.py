"""What an operator sees of a running service: Prometheus metrics, OpenTelemetry traces, structured logs."""

from .logs import about_request, configure_logging
from .metrics import Metrics
from .tracing import Observability, traceparent_now

__all__ = ["Metrics", "Observability", "about_request", "configure_logging", "traceparent_now"]
