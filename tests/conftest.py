"""Fixtures for tests that need the real RabbitMQ, Redis and PostgreSQL (see ``support/backing.py``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from contextlib import ExitStack

import asyncpg
import pytest

from tests.support.backing import resolve
from tests.support.broker import delete_namespace
from tests.support.documents import make_seal_keys
from tests.support.keys import make_keys
from tests.support.vhost import SessionUsers, provision_vhost, remove_users, remove_vhost


@pytest.fixture(scope="session", autouse=True)
def signing_keys(tmp_path_factory):
    """Every service built in this session signs with, and verifies against, the session's own keys."""
    files = make_keys(tmp_path_factory.mktemp("keys"))
    saved = {name: os.environ.get(name) for name in ("VISA_KEYRING", "VISA_SIGNING_KEYS")}
    os.environ["VISA_KEYRING"], os.environ["VISA_SIGNING_KEYS"] = str(files.ring_path), str(files.private_dir)
    yield files
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session", autouse=True)
def seal_keys(tmp_path_factory):
    """Every issuance built in this session seals the visas it prints with the session's own key of post LIM."""
    files = make_seal_keys(tmp_path_factory.mktemp("seal"), dt.date.today() - dt.timedelta(days=1))
    names = {"ISSUANCE_SEAL_PUBLIC_KEYS": files.published_path, "ISSUANCE_SEAL_KEYS": files.private_dir}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(path) for name, path in names.items()})
    yield files
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def backing():
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def amqp_url(backing) -> str:
    return resolve("AMQP_URL", backing)


@pytest.fixture(scope="session")
def redis_url(backing) -> str:
    return resolve("REDIS_URL", backing)


@pytest.fixture(scope="session")
def postgres_url(backing) -> str:
    return resolve("POSTGRES_URL", backing)


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def namespace(amqp_url, run_id):
    """A name prefix of this test's own: its exchanges and queues are nobody else's, and go away after."""
    prefix = f"test-{run_id}-{uuid.uuid4().hex[:6]}."
    yield prefix
    await delete_namespace(amqp_url, prefix)


@pytest.fixture(scope="session")
def broker_users(amqp_url, run_id):
    """The session's broker users (created by the first vhost provisioned), removed at the end."""
    users = SessionUsers.new(run_id)
    yield users
    with contextlib.suppress(RuntimeError):  # users no test provisioned are not there to delete
        remove_users(users)


@pytest.fixture
async def broker(amqp_url, broker_users, run_id):
    """A vhost of this test's own, provisioned from the deployment definitions, each service its own user."""
    vhost = f"visa-test-{run_id}-{uuid.uuid4().hex[:6]}"
    access = await provision_vhost(amqp_url, broker_users, vhost)
    yield access
    remove_vhost(vhost)


@pytest.fixture
async def postgres_database(postgres_url, run_id):
    """Makes fresh PostgreSQL databases on demand and drops them after the test."""
    created: list[str] = []
    admin = postgres_url.replace("postgresql+asyncpg://", "postgresql://")

    async def make(label: str) -> str:
        name = f"visa_{run_id}_{label}_{uuid.uuid4().hex[:6]}"
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        created.append(name)
        return admin.rsplit("/", 1)[0] + f"/{name}"

    yield make
    connection = await asyncpg.connect(admin)
    try:
        for name in created:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture
def dialect() -> str:
    """The database kind of a test that does not say: SQLite. A test parametrizes it, or a module's or a folder's
    fixture of this name says otherwise."""
    return "sqlite"


@pytest.fixture
def new_database(request, tmp_path, dialect):
    """``await new_database(label)``: the URL of an empty database of the test's own, of kind ``dialect``."""
    postgres = request.getfixturevalue("postgres_database") if dialect == "postgresql" else None

    async def make(label: str) -> str:
        if postgres is None:
            return f"sqlite+aiosqlite:///{tmp_path}/{label}-{uuid.uuid4().hex[:6]}.db"
        return await postgres(label)

    return make
