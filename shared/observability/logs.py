"""Logs: JSON lines when not on a terminal, human-readable on one; each line with the service, the request it
is about (the correlation id) and the trace id. Personal data never goes in a message at INFO or above:
log request, person and visa ids, kinds of failure, never names, passport numbers or dates of birth."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

_request_id: ContextVar[str | None] = ContextVar("visa_request_id", default=None)

HUMAN = "%(asctime)s %(levelname)s %(service)s %(name)s [request %(request_id)s trace %(trace_id)s]: %(message)s"
FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s %(trace_id)s %(span_id)s"


@contextmanager
def about_request(request_id: str | None) -> Iterator[None]:
    """Every log line inside the block names ``request_id``."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def bind_request(request_id: str) -> None:
    """From here to the end of the current request or event, log lines name ``request_id``."""
    _request_id.set(request_id)


class Correlation(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = _request_id.get() or "-"
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else "-"
        record.span_id = format(context.span_id, "016x") if context.is_valid else "-"
        return True


def configure_logging(level: str, service: str, *, stream: TextIO | None = None, json: bool | None = None) -> None:
    """Send every log record to ``stream`` (stderr), as JSON unless it is a terminal (``json`` overrides)."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    handler = logging.StreamHandler(stream)
    handler.addFilter(Correlation(service))
    if json:
        handler.setFormatter(
            JsonFormatter(FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
        )
    else:
        handler.setFormatter(logging.Formatter(HUMAN))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
