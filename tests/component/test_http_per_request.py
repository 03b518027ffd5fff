"""What every HTTP request costs a service beyond its own work: no hop to a worker thread for a dependency, and an
API key's account read from the database once, then remembered (``shared.http.auth.KnownKeys``)."""

from __future__ import annotations

import inspect

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import event

from services.intake.models import SponsorRecord
from shared.http.auth import KnownKeys
from tests.support.components import bearer
from tests.support.requests import visa_request


def plain_functions(dependant: Dependant) -> list[str]:
    """The dependencies under ``dependant`` that are plain functions: FastAPI calls each in a worker thread."""
    found = []
    for dependency in dependant.dependencies:
        call = dependency.call
        # A function, or an object whose ``__call__`` is the dependency (``HTTPBearer``).
        target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
        if call is not None and not inspect.iscoroutinefunction(target):
            found.append(getattr(call, "__qualname__", repr(call)))
        found.extend(plain_functions(dependency))
    return found


def api_routes(routes) -> list[APIRoute]:
    """Every API route, those of the routers included too."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (router := getattr(route, "original_router", None)) is not None:  # an included router
            found.extend(api_routes(router.routes))
    return found


async def test_no_route_of_any_service_depends_on_a_plain_function(system):
    for service in (system.intake, system.authorization, system.issuance):
        routes = api_routes(service.app.routes)
        assert "/v1/requests" in {route.path for route in routes} or service is not system.intake
        for route in routes:
            assert plain_functions(route.dependant) == [], f"{route.path}: a dependency runs in a worker thread"


def lookups_of(service, table: str) -> list[str]:
    """The statements reading ``table`` that ``service``'s database is sent from now on."""
    sent: list[str] = []

    def record(connection, cursor, statement, *args) -> None:
        if statement.startswith("SELECT") and f"FROM {table}" in statement:
            sent.append(statement)

    event.listen(service.app.state.db.engine.sync_engine, "before_cursor_execute", record)
    return sent


async def test_a_key_found_is_read_once_and_an_unknown_one_each_time(system, intake):
    key = await intake.add_sponsor()
    read = lookups_of(intake, "sponsors")

    for _ in range(3):
        assert (await intake.http.get("/v1/requests", headers=bearer(key))).status_code == 200
    assert len(read) == 1

    for _ in range(2):
        assert (await intake.http.get("/v1/requests", headers=bearer("sk_unknown"))).status_code == 401
    assert len(read) == 3
    # A key registered a moment ago works at once: an unknown key is never remembered.
    later = await intake.add_sponsor()
    assert (await intake.http.post("/v1/requests", json=visa_request(), headers=bearer(later))).status_code == 202


def test_an_account_is_remembered_for_its_time_and_the_memory_is_bounded():
    now = [0.0]
    known = KnownKeys(seconds=60, size=2, clock=lambda: now[0])
    known.remember(SponsorRecord, "a", "account a")
    known.remember(SponsorRecord, "b", "account b")

    now[0] = 59.9
    assert (known.get(SponsorRecord, "a"), known.get(SponsorRecord, "b")) == ("account a", "account b")
    # Another kind of account under the same key is another entry.
    assert known.get(object, "a") is None
    now[0] = 60.0
    assert known.get(SponsorRecord, "a") is None

    known.remember(SponsorRecord, "c", "account c")
    known.remember(SponsorRecord, "d", "account d")  # past the size: the one remembered first goes
    assert [known.get(SponsorRecord, k) for k in "bcd"] == [None, "account c", "account d"]
