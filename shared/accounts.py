"""Accounts of the people and systems that call the services: each holds an API key, shown once and stored
only as a hash. How a request proves it holds one is HTTP's business (``shared.http.auth``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any, TypeVar

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from . import clock
from .db import Database, UTCDateTime


class KeyHolder:
    """Columns of an account that authenticates with an API key (a sponsor, an officer, a verifier)."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


Holder = TypeVar("Holder", bound=KeyHolder)


def new_key(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def key_hash(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


async def holder_of(session: AsyncSession, model: type[Holder], key: str) -> Holder | None:
    """The ``model`` account whose key is ``key``, if any."""
    return await session.scalar(select(model).where(model.key_hash == key_hash(key)))


async def register(
    database_url: str,
    model: type[Holder],
    *,
    service: str,
    prefix: str,
    name: str,
    key: str | None = None,
    holder_id: str | None = None,
    **fields: Any,
) -> tuple[str, str]:
    """Create an account in its service's database; returns its id and its key, which is never stored.

    ``key`` and ``holder_id`` reuse an account's identity from another service's database (an auditor
    reads two services with one key); by default both are new. A SQLite database (development) is brought
    to the schema's head first, as ``visa run`` does; a PostgreSQL one must be at head already
    (``shared.migrations.SchemaBehind`` names ``visa db upgrade <service>`` otherwise).
    """
    from .migrations import aupgrade, check  # Alembic, only for the commands that write accounts

    db = Database(database_url, model.metadata)
    key, holder_id = key or new_key(prefix), holder_id or str(uuid.uuid4())
    try:
        if db.is_postgres:
            await check(db, service)
        else:
            await aupgrade(service, database_url)
        async with db.transaction() as session:
            session.add(
                model(
                    id=holder_id,
                    name=name.strip(),
                    key_hash=key_hash(key),
                    created_at=clock.current().now(),
                    **fields,
                )
            )
    finally:
        await db.dispose()
    return holder_id, key
