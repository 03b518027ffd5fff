from __future__ import annotations

import pytest

from tests.support.system import SERVICES, ServiceProcess, System, system_env


@pytest.fixture
async def system(tmp_path, broker, redis_url, postgres_database):
    """intake, authorization (policy auto) and issuance, each its own process on its own PostgreSQL database,
    each its own broker user on a vhost of the test's own."""
    databases = {service: await postgres_database(service) for service in SERVICES}
    env = system_env(
        workdir=tmp_path,
        amqp_url=broker.admin,
        redis_url=redis_url,
        namespace="",
        databases=databases,
        policy="auto",
    )
    running = System(env)
    for service in SERVICES:
        running.services[service] = ServiceProcess(service, env, tmp_path / f"{service}.log", broker.urls[service])
    yield running
    running.stop()
