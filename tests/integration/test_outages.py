"""A PostgreSQL restart under load: every request answers 202, or 503 with Retry-After, never a 500.

The restart is played by a TCP proxy between intake and PostgreSQL (the shared server is not restarted):
it drops every open connection, as a server going down does, refuses new ones for a while, then lets them in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import text

from shared.db import Database
from tests.support.components import bearer, services_on_postgres
from tests.support.requests import visa_request


class Proxy:
    """A TCP proxy to ``host:port`` on a local port of its own; ``down()`` and ``up()`` play a restart."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Stop listening (new connections are refused) and cut every open one."""
        self.server.close()
        for writer in list(self.open):
            writer.transport.abort()
        self.open.clear()
        await self.server.wait_closed()

    async def _pipe(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.open |= {client_writer, server_writer}

        async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(copy(client_reader, server_writer), copy(server_reader, client_writer))
        self.open -= {client_writer, server_writer}


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{port}"))


@pytest.fixture
async def proxied(postgres_database, run_id):
    urls = {name: await postgres_database(name) for name in ("intake", "authorization", "issuance")}
    target = urlsplit(urls["intake"])
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.up()
    urls["intake"] = through(urls["intake"], proxy.port)
    async with services_on_postgres(urls, f"it-{run_id}.") as system:
        yield system, proxy
    with contextlib.suppress(Exception):
        await proxy.down()


async def test_a_postgres_restart_answers_503_with_retry_after_never_500(proxied, caplog):
    system, proxy = proxied
    sponsor = bearer(await system.intake.add_sponsor())
    caplog.set_level(logging.WARNING)
    answers = []

    async def submit() -> None:
        answers.append(await system.intake.http.post("/v1/requests", json=visa_request(), headers=sponsor))

    async def going_down() -> None:
        await asyncio.sleep(0.01)  # while round 3's requests are in flight: their connections are cut
        await proxy.down()

    for round_ in range(10):  # 100 POSTs, ten at a time; the database goes down in round 3, is back in 7
        extra = [going_down()] if round_ == 3 else []
        if round_ == 7:
            await proxy.up()
        await asyncio.gather(*(submit() for _ in range(10)), *extra)

    statuses = [response.status_code for response in answers]
    assert set(statuses) <= {202, 503}, statuses
    assert statuses[:30] == [202] * 30 and statuses[-30:] == [202] * 30  # before, and once it is back
    assert statuses[40:70] == [503] * 30  # while it is down
    outage = [response for response in answers if response.status_code == 503]
    for response in outage:
        assert response.headers["Retry-After"] == "2"
        assert response.json() == {"detail": "the service's database is unreachable; retry after 2 s"}
    lines = [record for record in caplog.records if record.name == "visa.http"]
    assert len(lines) == len(outage) and all(record.exc_info is None for record in lines)
    assert all(record.getMessage().startswith("POST /v1/requests answered 503") for record in lines)
    assert "ERIKSSON" not in caplog.text


async def _driver_of(session):
    """The asyncpg connection under ``session``."""
    return (await (await session.connection()).get_raw_connection()).driver_connection


async def test_a_pooled_connection_the_server_dropped_is_replaced_before_use(postgres_database):
    url = await postgres_database("pool")
    target = urlsplit(url)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.up()
    db = Database(through(url, proxy.port))
    try:
        async with db.sessions() as session:
            await session.execute(text("SELECT 1"))
            pooled = await _driver_of(session)
        dropped = asyncio.Event()
        pooled.add_termination_listener(lambda _connection: dropped.set())
        await proxy.down()  # a restart: the pooled connection is cut while idle
        await proxy.up()
        await asyncio.wait_for(dropped.wait(), timeout=10)

        # Without a ping per checkout, the pool still knows: the next session gets a new connection, no error.
        async with db.sessions() as session:
            assert await session.scalar(text("SELECT 1")) == 1
            assert await _driver_of(session) is not pooled
    finally:
        await db.dispose()
        await proxy.down()


async def test_a_lookup_on_postgresql_runs_outside_a_transaction(postgres_database):
    db = Database(await postgres_database("lookups"))
    try:
        async with db.lookups() as session:  # one statement: no BEGIN and ROLLBACK around it
            assert await session.scalar(text("SELECT 1")) == 1
            assert not (await _driver_of(session)).is_in_transaction()
        async with db.sessions() as session:  # a query of several statements reads one snapshot
            assert await session.scalar(text("SELECT 1")) == 1
            assert (await _driver_of(session)).is_in_transaction()
    finally:
        await db.dispose()
