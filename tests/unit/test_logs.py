"""Log lines: JSON off a terminal, readable on one; each names the service, the request and the trace."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from shared.observability import about_request, configure_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_off_a_terminal_each_line_is_json_with_service_request_and_trace():
    stream = io.StringIO()
    configure_logging("INFO", "authorization", stream=stream)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("handle") as span, about_request("r-1"):
        logging.getLogger("visa.authorization").info("request %s granted by %s", "r-1", "policy")
    logging.getLogger("visa.authorization").debug("not at INFO")
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "request r-1 granted by policy"
    assert record["level"] == "INFO" and record["logger"] == "visa.authorization"
    assert record["service"] == "authorization" and record["request_id"] == "r-1"
    assert record["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert record["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "time" in record


def test_outside_a_request_and_a_span_the_fields_say_so():
    stream = io.StringIO()
    configure_logging("INFO", "intake", stream=stream)
    logging.getLogger("visa").warning("started")
    record = json.loads(stream.getvalue())
    assert (record["request_id"], record["trace_id"]) == ("-", "-")


def test_on_a_terminal_lines_are_for_people():
    stream = Terminal()
    configure_logging("INFO", "issuance", stream=stream)
    with about_request("r-2"):
        logging.getLogger("visa.issuance").info("visa PE0000001 issued")
    line = stream.getvalue().strip()
    assert "INFO issuance visa.issuance [request r-2 trace -]: visa PE0000001 issued" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
