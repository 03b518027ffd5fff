"""The real RabbitMQ, Redis and PostgreSQL the integration and end-to-end tests run against.

Each is named by an environment URL (``AMQP_URL``, ``REDIS_URL``, ``POSTGRES_URL``). Without one,
a container is started where Docker is running, and otherwise the local default is used. A service
that cannot be reached fails the test: it is never skipped.
"""

from __future__ import annotations

import os
import socket
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest

DEFAULTS = {
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "POSTGRES_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
}


def _docker_running() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


def _container_url(name: str, stack: ExitStack) -> str:
    if name == "AMQP_URL":
        from testcontainers.community.rabbitmq import RabbitMqContainer

        rabbit = stack.enter_context(RabbitMqContainer("rabbitmq:3.13-management"))
        return f"amqp://guest:guest@{rabbit.get_container_host_ip()}:{rabbit.get_exposed_port(5672)}/"
    if name == "REDIS_URL":
        from testcontainers.community.redis import RedisContainer

        redis = stack.enter_context(RedisContainer("redis:7.2"))
        return f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
    from testcontainers.community.postgres import PostgresContainer

    postgres = stack.enter_context(PostgresContainer("postgres:16.4", driver=None))
    return postgres.get_connection_url()


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2):
            return True
    except OSError:
        return False


def resolve(name: str, stack: ExitStack) -> str:
    url = os.environ.get(name)
    if url is None and _docker_running():
        url = _container_url(name, stack)
    url = url or DEFAULTS[name]
    if not _reachable(url):
        pytest.fail(f"{name}: nothing answers at {url}; start the service or point {name} at one", pytrace=False)
    return url
