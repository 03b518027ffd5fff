"""Schemathesis over every route of intake, authorization and issuance, on SQLite and on PostgreSQL.

One test per operation of each service's /openapi.json and per database, on the three services built
and seeded by ``tests/support/fuzzing.py``, with a bounded, deterministic set of examples. A 5xx (a response, or an
exception out of the app), a response body its operation does not document, or an undocumented status
code fails the test, once all its examples have run: it lists each distinct failure with schemathesis's
report of the first case that showed it (what failed, the response, a curl command that reproduces it).
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.support.fuzzing import BASE_URL, Fuzzed, load_schema

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# Bounds, seed and derandomization come with the schemas' config (fuzzing.CONFIG). The seeded system is
# built once per test, not per example: examples may leave rows behind, and no check depends on their absence.
SHARED_SYSTEM = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

intake = load_schema("intake")
authorization = load_schema("authorization")
issuance = load_schema("issuance")


def _call(service: str, case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    try:
        case.call_and_validate(session=fuzzed.clients[service], base_url=BASE_URL, checks=CHECKS)
    except FailureGroup as failures:
        fuzzed.findings.failed(failures)
    except Exception as error:  # the app's own exceptions come out of the in-process call
        fuzzed.findings.raised(error)


@intake.parametrize()
@SHARED_SYSTEM
def test_intake(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    _call("intake", case, fuzzed)


@authorization.parametrize()
@SHARED_SYSTEM
def test_authorization(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    _call("authorization", case, fuzzed)


@issuance.parametrize()
@SHARED_SYSTEM
def test_issuance(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    _call("issuance", case, fuzzed)
