"""The three services' real apps in process: FastStream's TestRabbitBroker, a database of their own each.

No lifespan runs (it would connect to RabbitMQ): tables are created directly, each broker is entered
in test mode, and ``pump`` stands in for the outbox relay and the ``visa.events`` exchange by
delivering a service's unpublished outbox rows straight to every consumer queue bound to them.
The component tests run them on SQLite files, the integration tests on PostgreSQL (``services_on_postgres``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from unittest import mock

import httpx
import orjson
from fastapi import FastAPI
from faststream.rabbit import TestRabbitBroker
from faststream.rabbit.message import RabbitMessage
from sqlalchemy import func, select, update

from services.authorization.app import build as build_authorization
from services.authorization.models import Officer
from services.authorization.settings import AuthorizationSettings
from services.intake.app import build as build_intake
from services.intake.models import Applicant, SponsorRecord, VisaRequest
from services.intake.settings import IntakeSettings
from services.issuance.app import build as build_issuance
from services.issuance.settings import IssuanceSettings
from shared.accounts import key_hash, new_key
from shared.contracts import CONTENT_TYPE, Envelope
from shared.contracts.registry import routing_headers
from shared.messaging import Bus, ConsumerQueue
from shared.messaging.outbox import now, outbox
from tests.support.requests import visa_request

NAMESPACE = "ct."
NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there: the treaty cache must fall back to the bundled list


@contextmanager
def settlements(record: list[str]):
    """Record how each delivered message is settled: "ack", "reject" (dead-letter) or "requeue".

    Under TestRabbitBroker the aio-pika message has no delivery tag, so FastStream never reaches its raw
    ``reject``; we watch the ``RabbitMessage`` methods FastStream's acknowledgement middleware calls.
    """
    ack, nack, reject = RabbitMessage.ack, RabbitMessage.nack, RabbitMessage.reject

    async def on_ack(self, multiple: bool = False) -> None:
        record.append("ack")
        await ack(self, multiple=multiple)

    async def on_nack(self, multiple: bool = False, requeue: bool = True) -> None:
        record.append("requeue" if requeue else "nack")
        await nack(self, multiple=multiple, requeue=requeue)

    async def on_reject(self, requeue: bool = False) -> None:
        record.append("requeue" if requeue else "reject")
        await reject(self, requeue=requeue)

    with (
        mock.patch.object(RabbitMessage, "ack", on_ack),
        mock.patch.object(RabbitMessage, "nack", on_nack),
        mock.patch.object(RabbitMessage, "reject", on_reject),
    ):
        yield


@dataclass
class Service:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def bus(self) -> Bus:
        return self.app.state.bus

    async def count(self, table, *where) -> int:
        async with self.app.state.db.sessions() as session:
            return await session.scalar(select(func.count()).select_from(table).where(*where))

    async def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table of this service: equal snapshots mean no state changed."""
        tables = [table for metadata in self.app.state.db.metadata for table in metadata.sorted_tables]
        async with self.app.state.db.sessions() as session:
            return {
                table.name: sorted(map(tuple, (await session.execute(select(table))).all()), key=repr)
                for table in tables
            }

    async def outbox_rows(self, routing_key: str | None = None) -> list:
        """Every outbox row of this service (published or not), oldest first."""
        query = select(outbox).order_by(outbox.c.seq)
        if routing_key is not None:
            query = query.where(outbox.c.routing_key == routing_key)
        async with self.app.state.db.sessions() as session:
            return list((await session.execute(query)).all())

    async def outbox(self, routing_key: str | None = None) -> list[Envelope]:
        """Every event this service staged (published or not), oldest first."""
        return [Envelope.model_validate_json(row.body) for row in await self.outbox_rows(routing_key)]

    async def deliver(self, body: bytes | Envelope, consumer: ConsumerQueue | None = None) -> str:
        """Deliver one message to ``consumer``'s queue (this service's only one by default); its settlement."""
        [settlement] = await self.deliver_together([body], consumer)
        return settlement

    async def deliver_together(
        self, bodies: list[bytes | Envelope], consumer: ConsumerQueue | None = None
    ) -> list[str]:
        """Deliver messages to ``consumer``'s queue at once, as the broker delivers what arrived together (up to its
        prefetch); their settlements, in the order they were settled."""
        consumer = consumer or self.bus.consumers[0]
        record: list[str] = []
        with settlements(record):
            await asyncio.gather(*(self._publish(body, consumer) for body in bodies))
        assert len(record) == len(bodies), f"expected {len(bodies)} settlements, got {record}"
        return record

    async def _publish(self, body: bytes | Envelope, consumer: ConsumerQueue) -> None:
        if isinstance(body, Envelope):
            body = body.to_json()
        try:
            message_id = Envelope.model_validate_json(body).id
        except ValueError:
            message_id = str(uuid.uuid4())
        await self.bus.broker.publish(
            body, queue=self.bus.topology.queue(consumer).name, message_id=message_id, content_type=CONTENT_TYPE
        )

    async def add_account(self, model, prefix: str, **fields) -> str:
        """An account row as the ``visa … add`` commands write it; returns its plain API key."""
        key = new_key(prefix)
        async with self.app.state.db.transaction() as session:
            session.add(
                model(id=str(uuid.uuid4()), key_hash=key_hash(key), created_at=dt.datetime.now(dt.UTC), **fields)
            )
        return key

    async def add_sponsor(self, kind: str = "government", name: str = "Embassy of Sweden", country: str | None = "SWE"):
        return await self.add_account(SponsorRecord, "sk", kind=kind, name=name, country=country)

    async def add_officer(self, name: str = "Rosa Quispe") -> str:
        return await self.add_account(Officer, "ok", name=name)


async def pump(source: Service, *targets: Service) -> list[Envelope]:
    """Relay + exchange in memory: move ``source``'s unpublished outbox rows to every consumer bound to them."""
    moved = []
    for row in [row for row in await source.outbox_rows() if row.published_at is None]:
        for target in targets:
            for consumer in target.bus.consumers:
                # As visa.events and visa.posts route: by routing key, and by the post header of its data.
                if consumer.receives(row.routing_key, routing_headers(orjson.loads(row.body))):
                    settled = await target.deliver(row.body, consumer)
                    assert settled == "ack", f"{consumer.name} settled {row.event_type} with {settled}"
        async with source.app.state.db.transaction() as session:
            await session.execute(update(outbox).where(outbox.c.seq == row.seq).values(published_at=now()))
        moved.append(Envelope.model_validate_json(row.body))
    return moved


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class System:
    intake: Service
    authorization: Service
    issuance: Service
    # The issuances of other consular posts than ``issuance``'s, each its own database (``add_post``).
    posts: list[Service] = field(default_factory=list)

    async def submit(self, headers: dict[str, str], body: dict | None = None) -> str:
        response = await self.intake.http.post("/v1/requests", json=body or visa_request(), headers=headers)
        assert response.status_code == 202, response.text
        return response.json()["request_id"]

    async def view(self, headers: dict[str, str], request_id: str) -> dict:
        response = await self.intake.http.get(f"/v1/requests/{request_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def settle(self) -> list[Envelope]:
        """Pump every outbox to every other service until no event is left to move."""
        intake, authorization, issuances = self.intake, self.authorization, (self.issuance, *self.posts)
        moved: list[Envelope] = []
        while batch := [
            *await pump(intake, authorization, *issuances),
            *await pump(authorization, intake, *issuances),
            *[event for issuance in issuances for event in await pump(issuance, intake, authorization)],
        ]:
            moved += batch
        return moved


async def start_service(stack: AsyncExitStack, app: FastAPI) -> Service:
    """``app`` ready to call, its tables created, its broker in test mode; ``stack`` closes them."""
    await app.state.db.create_all()
    stack.push_async_callback(app.state.db.dispose)
    await stack.enter_async_context(TestRabbitBroker(app.state.bus.broker))
    # English unless a test asks otherwise: the services answer Spanish to a request that names no language.
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Accept-Language": "en"}
    )
    return Service(app, await stack.enter_async_context(client))


async def nothing_stored(intake: Service) -> bool:
    """No request, no applicant and no staged event at intake."""
    return (
        await intake.count(VisaRequest.__table__) == 0
        and await intake.count(Applicant.__table__) == 0
        and await intake.count(outbox) == 0
    )


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
            intake=await start_service(stack, intake),
            authorization=await start_service(stack, authorization),
            issuance=await start_service(stack, issuance),
        )
