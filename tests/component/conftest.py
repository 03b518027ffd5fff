"""Component fixtures: the three services on a SQLite file each (or a PostgreSQL database each, where a test
parametrizes ``dialect``), built by ``tests/support/components.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from services.authorization.app import build as build_authorization
from services.authorization.settings import AuthorizationSettings
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings
from services.issuance.app import build as build_issuance
from services.issuance.models import Verifier
from services.issuance.settings import IssuanceSettings
from shared.clock import SYSTEM, Clock
from tests.support.components import NAMESPACE, NO_REDIS, Service, System, bearer, start_service


@pytest.fixture
def policy() -> str:
    """Authorization's policy; override with ``@pytest.mark.parametrize("policy", ["review"])``."""
    return "auto"


@pytest.fixture
def clock() -> Clock:
    """The three services' clock; override with a ``FixedClock`` to set "now"."""
    return SYSTEM


@pytest.fixture
async def system(new_database, policy, clock) -> AsyncIterator[System]:
    common = {"redis_url": NO_REDIS, "visa_namespace": NAMESPACE}
    async with AsyncExitStack() as stack:
        intake_app = build_intake(
            IntakeSettings(intake_database_url=await new_database("intake"), **common), clock=clock
        )
        stack.push_async_callback(intake_app.state.treaties.aclose)
        authorization_app = build_authorization(
            AuthorizationSettings(
                authorization_database_url=await new_database("authorization"),
                authorization_policy=policy,
                **common,
            ),
            clock=clock,
        )
        stack.push_async_callback(authorization_app.state.directorate.treaties.aclose)
        issuance_app = build_issuance(
            IssuanceSettings(issuance_database_url=await new_database("issuance"), **common),
            clock=clock,
        )
        yield System(
            intake=await start_service(stack, intake_app),
            authorization=await start_service(stack, authorization_app),
            issuance=await start_service(stack, issuance_app),
        )


@pytest.fixture
def intake(system: System) -> Service:
    return system.intake


@pytest.fixture
def authorization(system: System) -> Service:
    return system.authorization


@pytest.fixture
async def sponsor(intake: Service) -> dict[str, str]:
    """Headers of a government sponsor (Sweden's embassy)."""
    return bearer(await intake.add_sponsor())


@pytest.fixture
async def officer(authorization: Service) -> dict[str, str]:
    """Headers of an MRE officer."""
    return bearer(await authorization.add_officer())


@pytest.fixture
async def verifier(system: System) -> dict[str, str]:
    """Headers of a border verifier."""
    return bearer(await system.issuance.add_account(Verifier, "vk", name="Jorge Chavez airport"))
