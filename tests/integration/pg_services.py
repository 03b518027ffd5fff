"""The three services' apps on PostgreSQL, driven in process as the component tests drive them on SQLite
(FastStream's TestRabbitBroker; ``pump`` stands in for the relay and the exchange)."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager

from services.authorization.app import build as build_authorization
from services.authorization.settings import AuthorizationSettings
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings
from services.issuance.app import build as build_issuance
from services.issuance.settings import IssuanceSettings
from tests.component.conftest import NO_REDIS, System, _service

GENEROUS = {
    "visa_rate_limit_per_key": "100000/minute",
    "visa_rate_limit_per_address": "100000/minute",
}


@asynccontextmanager
async def services_on_postgres(urls: dict[str, str], namespace: str, **settings):
    """A ``System`` whose services use the PostgreSQL databases ``urls`` (by service name)."""
    common = {"redis_url": NO_REDIS, "visa_namespace": namespace, "authorization_policy": "auto"} | GENEROUS | settings
    async with AsyncExitStack() as stack:
        intake = build_intake(IntakeSettings(intake_database_url=urls["intake"], **common))
        stack.push_async_callback(intake.state.treaties.aclose)
        authorization = build_authorization(
            AuthorizationSettings(authorization_database_url=urls["authorization"], **common)
        )
        stack.push_async_callback(authorization.state.directorate.treaties.aclose)
        issuance = build_issuance(IssuanceSettings(issuance_database_url=urls["issuance"], **common))
        yield System(
            intake=await _service(stack, intake),
            authorization=await _service(stack, authorization),
            issuance=await _service(stack, issuance),
        )
