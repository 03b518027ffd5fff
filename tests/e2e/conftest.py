from __future__ import annotations

import pytest

from tests.support.system import SERVICES, System


@pytest.fixture
def policy() -> str:
    """Authorization's policy; override with ``@pytest.mark.parametrize("policy", ["review"])``."""
    return "auto"


@pytest.fixture
async def system(tmp_path, broker, redis_url, postgres_database, policy):
    """intake, authorization (policy ``policy``: auto unless a test says) and issuance, each its own process on its
    own PostgreSQL database, each its own broker user on a vhost of the test's own."""
    databases = {service: await postgres_database(service) for service in SERVICES}
    running = System.on(broker, workdir=tmp_path, redis_url=redis_url, databases=databases, policy=policy)
    yield running
    running.stop()
