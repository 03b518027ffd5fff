"""API keys of the people and systems that call the services: shown once, stored only as a hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

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


# Declares the scheme in each service's OpenAPI document (``security`` on every authenticated route); the key
# itself is read and checked by ``authenticated``, which answers 401 in this project's own words.
BEARER = HTTPBearer(
    scheme_name="apiKey",
    description="An API key from `visa sponsors|officers|verifiers|auditors add`, as `Authorization: Bearer <key>`.",
    auto_error=False,
)


def bearer_key(request: Request) -> str:
    """The key of ``Authorization: Bearer <key>``, or 401."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized("missing bearer key: send 'Authorization: Bearer <key>'")
    return key.strip()


def unauthorized(detail: str = "unknown key") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def authenticated(model: type[Holder]):
    """A FastAPI dependency: the ``model`` account whose key the request bears, or 401."""

    async def dependency(
        request: Request, _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
    ) -> Holder:
        key = bearer_key(request)
        async with request.app.state.db.sessions() as session:
            holder = await session.scalar(select(model).where(model.key_hash == key_hash(key)))
        if holder is None:
            raise unauthorized()
        return holder

    return dependency


async def register(
    database_url: str,
    model: type[Holder],
    *,
    prefix: str,
    name: str,
    key: str | None = None,
    holder_id: str | None = None,
    **fields: Any,
) -> tuple[str, str]:
    """Create an account in its service's database; returns its id and its key, which is never stored.

    ``key`` and ``holder_id`` reuse an account's identity from another service's database (an auditor
    reads two services with one key); by default both are new.
    """
    db = Database(database_url, model.metadata)
    key, holder_id = key or new_key(prefix), holder_id or str(uuid.uuid4())
    try:
        await db.create_all()
        async with db.transaction() as session:
            session.add(
                model(
                    id=holder_id,
                    name=name.strip(),
                    key_hash=key_hash(key),
                    created_at=dt.datetime.now(dt.UTC),
                    **fields,
                )
            )
    finally:
        await db.dispose()
    return holder_id, key
