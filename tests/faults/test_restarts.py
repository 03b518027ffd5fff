"""Restart RabbitMQ, or PostgreSQL, while requests flow: every accepted request still reaches ISSUED, with
exactly one visa per person, and nothing is dead-lettered.

Each test stops a broker node or a database cluster of its own (``tests/faults/conftest.py``), never the
shared ones. A sponsor keeps submitting during the outage and retries, with the same Idempotency-Key, what
could not be answered (503, or no connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import pytest

from shared.messaging.provisioning import rabbitmqctl
from shared.messaging.topology import CONSUMERS, EVENTS_EXCHANGE
from tests.support.broker import Listener
from tests.support.requests import example_request
from tests.support.sponsor import submit_until_accepted
from tests.support.system import System, eventually
from tests.support.vhost import BrokerAccess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

REQUESTS = 30
PEOPLE = 2 * REQUESTS  # a principal and a spouse each
ISSUED = "pe.gob.rree.visa.issued.v1"
DOWN_SECONDS = 3.0  # how long the backing service stays stopped while the sponsor keeps submitting


@asynccontextmanager
async def durable_listener(access: BrokerAccess, *routing_keys: str) -> AsyncIterator[Listener]:
    """An integrator's durable quorum queue on ``visa.events``, consumed over a robust connection: what is
    routed to it while the listener is cut off, or before a broker restart, is still delivered after."""
    listener = Listener()
    connection = await aio_pika.connect_robust(access.admin, reconnect_interval=0.5, timeout=10)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        queue = await channel.declare_queue(
            f"test-listener.{id(listener):x}", durable=True, arguments={"x-queue-type": "quorum"}
        )
        for key in routing_keys:
            await queue.bind(exchange, routing_key=key)
        await queue.consume(listener._on_message)
        yield listener  # the queue goes with the test's vhost
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), 10)  # never hang a failing test on a dead broker


async def first_of(sender: asyncio.Task, awaitable: Awaitable) -> None:
    """Await ``awaitable``, unless the sender fails first: its failure is the test's."""
    waiter = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait({sender, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if sender.done() and sender.exception() is not None:
            raise sender.exception()
        await waiter
    finally:
        waiter.cancel()


def issued_people(events: list[dict]) -> set[str]:
    return {event["data"]["person_id"] for event in events if event["type"] == ISSUED}


async def queue_depths(access: BrokerAccess) -> dict[str, int]:
    """Every consumer queue's and dead-letter queue's messages, ready and unacknowledged (``rabbitmqctl``)."""
    output = await asyncio.to_thread(
        _ctl_output, "list_queues", "-p", access.vhost, "name", "messages", "--quiet", "--no-table-headers"
    )
    depths = {}
    for line in output.splitlines():
        name, _, count = line.strip().rpartition("\t")
        if name:
            depths[name] = int(count)
    return depths


def _ctl_output(*arguments: str) -> str:
    result = subprocess.run([*rabbitmqctl(), *arguments], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr or result.stdout
    return result.stdout


async def dead_letters(access: BrokerAccess) -> dict[str, int]:
    """Messages in each ``<queue>.dlq``, as an operator sees them."""
    connection = await aio_pika.connect(access.admin)
    async with connection:
        counts = {}
        for consumer in CONSUMERS:
            channel = await connection.channel()
            declared = await channel.declare_queue(consumer.name + ".dlq", passive=True)
            counts[declared.name] = declared.declaration_result.message_count
        return counts


def logs(system: System, backing: Path) -> str:
    """The services' and the restarted backing service's last lines, for a failure's message."""
    tails = [f"--- {name}.log\n{service.log_tail(60)}" for name, service in system.services.items()]
    try:
        tails.append(f"--- {backing}\n" + "\n".join(backing.read_text(errors="replace").splitlines()[-60:]))
    except OSError as error:
        tails.append(f"--- {backing}: {error}")
    return "\n".join(tails)


async def requests_survive(
    system: System,
    access: BrokerAccess,
    issuance_database: str,
    fault: Callable[[], Awaitable[None]],
) -> None:
    """Submit ``REQUESTS`` as a steady trickle; once a third are issued, run ``fault`` (stop, wait, start a
    backing service) while the trickle goes on; then every request must be ISSUED with one visa a person."""
    async with durable_listener(access, "visa.issued") as listener:
        await system.start()
        key = system.new_key("sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden")
        headers = {"Authorization": f"Bearer {key}"}
        accepted: dict[int, str] = {}
        refusals: list[str] = []

        async with httpx.AsyncClient(base_url=system.services["intake"].url, timeout=10) as intake:

            async def submit(n: int) -> None:
                body = example_request(surname="FAULT" + chr(ord("A") + n % 26) * (1 + n // 26))
                accepted[n] = await submit_until_accepted(intake, body, headers, f"fault-{n}", refusals=refusals)

            async def flow() -> None:
                for n in range(REQUESTS):
                    await submit(n)
                    await asyncio.sleep(0.15)  # a steady trickle, so the fault lands mid-flow

            sender = asyncio.create_task(flow())
            try:
                # A third of the people have their visa: the fault lands while the rest are in flight.
                third = listener.wait_for(lambda events: len(issued_people(events)) >= PEOPLE // 3, timeout=60)
                await first_of(sender, third)
                assert len(accepted) < REQUESTS, "the flow ended before the fault: nothing was in flight"
                in_flight_at_fault = REQUESTS - len(accepted)
                await fault()
                back = asyncio.get_running_loop().time()
                await sender
            finally:
                sender.cancel()

            assert len(set(accepted.values())) == len(accepted) == REQUESTS
            assert in_flight_at_fault > 0

            # Event-driven: every person's visa.issued reaches the integrator's queue.
            await listener.wait_for(lambda events: len(issued_people(events)) >= PEOPLE, timeout=90)
            recovery = asyncio.get_running_loop().time() - back
            print(  # noqa: T201  (shown with -s: how long the backlog took once the service was back)
                f"\n{len(accepted) - (REQUESTS - in_flight_at_fault)}/{REQUESTS} submitted after the fault began, "
                f"{len(refusals)} refusals (429/503) retried; last visa {recovery:.1f}s after the restart"
            )

            async def all_issued():
                answer = await intake.get("/v1/requests", params={"limit": 500}, headers=headers)
                assert answer.status_code == 200, f"{answer.status_code} {answer.text}"
                statuses = {view["request_id"]: view["status"] for view in answer.json()}
                assert set(statuses) == set(accepted.values()), "intake lists other requests than it accepted"
                return all(status == "ISSUED" for status in statuses.values())

            await eventually(all_issued, timeout=60, interval=0.2)
            views = []
            for request_id in accepted.values():
                answer = await intake.get(f"/v1/requests/{request_id}", headers=headers)
                assert answer.status_code == 200, f"{answer.status_code} {answer.text}"
                views.append(answer.json())
                assert views[-1]["status"] == "ISSUED", views[-1]

        # One visa per person, whatever was redelivered or published twice across the fault.
        visas_per_person: dict[str, set[str]] = defaultdict(set)
        for event in listener.of_type(ISSUED):
            visas_per_person[event["data"]["person_id"]].add(event["data"]["visa_number"])
        people = {applicant["person_id"]: applicant for view in views for applicant in view["applicants"]}
        assert len(people) == PEOPLE
        assert set(visas_per_person) == set(people), "a visa.issued for someone nobody asked for, or one missing"
        for person_id, applicant in people.items():
            assert applicant["status"] == "ISSUED"
            assert visas_per_person[person_id] == {applicant["visa"]["number"]}, person_id

        # The consulate's own records agree: one row per person, and every event left its outbox.
        connection = await asyncpg.connect(issuance_database)
        try:
            rows = await connection.fetch("SELECT person_id, number FROM visas")
        finally:
            await connection.close()
        per_person: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            per_person[row["person_id"]].append(row["number"])
        assert {person: numbers for person, numbers in per_person.items() if len(numbers) != 1} == {}
        assert {person: numbers[0] for person, numbers in per_person.items()} == {
            person: applicant["visa"]["number"] for person, applicant in people.items()
        }
        await everything_published(system)

        # Nothing dead-lettered, and nothing left in a queue (ready or unacknowledged) once all is done.
        async def drained():
            depths = await queue_depths(access)
            return depths if all(depths.get(c.name) == 0 for c in CONSUMERS) else None  # listed, and empty

        await eventually(drained, timeout=30, interval=0.5)
        assert await dead_letters(access) == {f"{consumer.name}.dlq": 0 for consumer in CONSUMERS}


async def everything_published(system: System) -> None:
    async def none_pending():
        for service in system.services:
            connection = await asyncpg.connect(system.env[f"{service.upper()}_DATABASE_URL"])
            try:
                if await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                    return None
            finally:
                await connection.close()
        return True

    await eventually(none_pending, timeout=30, interval=0.5)


async def test_rabbitmq_restart_mid_flow_loses_nothing_and_doubles_nothing(
    own_rabbit, own_rabbit_broker, shared_postgres_databases, make_system
):
    system = make_system(own_rabbit_broker, shared_postgres_databases)

    async def restart_broker() -> None:
        await own_rabbit.astop()  # the node's process ends: connections drop, unconfirmed publishes fail
        assert not own_rabbit.running
        await asyncio.sleep(DOWN_SECONDS)
        await own_rabbit.astart()  # same data: the quorum queues, their messages and the definitions

    try:
        await requests_survive(system, own_rabbit_broker, shared_postgres_databases["issuance"], restart_broker)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{logs(system, own_rabbit.log_path)}") from failure
    assert own_rabbit.starts == 2


async def test_postgresql_restart_mid_flow_loses_nothing_and_doubles_nothing(
    broker, own_postgres, own_postgres_databases, make_system
):
    system = make_system(broker, own_postgres_databases)

    async def restart_database() -> None:
        await own_postgres.astop()  # pg_ctl stop -m fast: every session is cut, the postmaster exits
        assert not own_postgres.running
        await asyncio.sleep(DOWN_SECONDS)
        await own_postgres.astart()

    try:
        await requests_survive(system, broker, own_postgres_databases["issuance"], restart_database)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{logs(system, own_postgres.log_path)}") from failure
    assert own_postgres.starts == 2
