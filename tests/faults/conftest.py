"""Backing services a fault test may stop: a RabbitMQ node and a PostgreSQL cluster of the test's own
(``tests/support/instances.py``). The shared broker and database other tests use are never stopped."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.support.instances import PostgresCluster, RabbitNode
from tests.support.system import SERVICES, System
from tests.support.vhost import BrokerAccess, SessionUsers, provision_vhost


@pytest.fixture
def own_rabbit(run_id, monkeypatch, tmp_path):
    """A RabbitMQ node of this test's own, started; ``rabbitmqctl`` (``RABBITMQCTL``) aims at it meanwhile.
    Its logs are kept in the test's directory."""
    node = RabbitNode.create(run_id)
    try:
        node.start()
        monkeypatch.setenv("RABBITMQCTL", node.ctl)
        yield node
    finally:
        node.destroy(keep_logs_in=tmp_path / "rabbitmq")


@pytest.fixture
async def own_rabbit_broker(own_rabbit, run_id) -> BrokerAccess:
    """A vhost on the test's own node, provisioned from the deployment definitions like every e2e test's."""
    return await provision_vhost(own_rabbit.url, SessionUsers.new(run_id), f"visa-test-{run_id}-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def own_postgres(run_id, tmp_path):
    """A PostgreSQL cluster of this test's own, started. Its log is kept in the test's directory."""
    cluster = PostgresCluster.create(run_id)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy(keep_logs_in=tmp_path / "postgres")


@pytest.fixture
async def own_postgres_databases(own_postgres) -> dict[str, str]:
    """One database per service on the test's own cluster."""
    connection = await asyncpg.connect(own_postgres.url)
    try:
        for service in SERVICES:
            await connection.execute(f'CREATE DATABASE "{service}"')
    finally:
        await connection.close()
    return {service: own_postgres.database_url(service) for service in SERVICES}


@pytest.fixture
async def shared_postgres_databases(postgres_database) -> dict[str, str]:
    """One fresh database per service on the shared PostgreSQL (dropped after the test)."""
    return {service: await postgres_database(service) for service in SERVICES}


@pytest.fixture
def make_system(tmp_path, redis_url):
    """The three services as processes (policy auto), each its own broker user on ``access``'s vhost."""
    made: list[System] = []

    def make(access: BrokerAccess, databases: dict[str, str]) -> System:
        running = System.on(access, workdir=tmp_path, redis_url=redis_url, databases=databases)
        made.append(running)
        return running

    yield make
    for running in made:
        running.stop()
