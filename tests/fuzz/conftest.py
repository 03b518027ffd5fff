"""Schemathesis's targets, one system per test: the three services' real apps, seeded, on SQLite or on
fresh PostgreSQL databases, built on schemathesis's event loop by ``tests/support/fuzzing.py``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest

from tests.support.fuzzing import DATABASES, LOADED, RUNNING, SERVICES, Fuzzed, portal, start_fuzzed


@pytest.fixture(params=DATABASES)
def database(request) -> str:
    """The database every service runs on: a SQLite file, or the shared server's PostgreSQL (``POSTGRES_URL``)."""
    return request.param


@pytest.fixture
def database_urls(database, tmp_path, request) -> dict[str, str]:
    """One database per service: a SQLite file, or a fresh PostgreSQL database (dropped after the test)."""
    if database == "sqlite":
        return {service: f"sqlite+aiosqlite:///{tmp_path}/{service}.db" for service in SERVICES}
    make = request.getfixturevalue("postgres_database")
    return {service: portal().call(make, f"fuzz_{service}") for service in SERVICES}


@pytest.fixture
def fuzzed(database_urls) -> Iterator[Fuzzed]:
    """The three services on ``database``, seeded; the system the schemas' hooks read meanwhile."""
    stack = AsyncExitStack()
    try:
        system = portal().call(start_fuzzed, stack, database_urls)
        for service, document in LOADED.items():
            served = system.clients[service].get("/openapi.json")
            assert served.json() == document, f"{service} serves another /openapi.json than its tests were made from"
        RUNNING.append(system)
        yield system
    finally:
        RUNNING.clear()
        portal().call(stack.aclose)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A test fails, once its examples have all run, with every distinct failure they met."""
    result = yield
    fuzzed = getattr(item, "funcargs", {}).get("fuzzed")
    if fuzzed is not None and fuzzed.findings:
        pytest.fail(fuzzed.findings.summary(), pytrace=False)
    return result
