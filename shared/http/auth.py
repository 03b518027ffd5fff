"""HTTP authentication: a request bears an account's API key as ``Authorization: Bearer <key>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.accounts import Holder, holder_of
from shared.i18n import Message

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
        raise unauthorized(Message("missing bearer key: send 'Authorization: Bearer <key>'"))
    return key.strip()


def unauthorized(detail: Message | None = None) -> HTTPException:
    """401, ``detail`` (default: "unknown key") in the request's language."""
    detail = detail or Message("unknown key")
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def authenticated(model: type[Holder]):
    """A FastAPI dependency: the ``model`` account whose key the request bears, or 401."""

    async def dependency(
        request: Request, _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
    ) -> Holder:
        key = bearer_key(request)
        async with request.app.state.db.lookups() as session:
            holder = await holder_of(session, model, key)
        if holder is None:
            raise unauthorized()
        return holder

    return dependency
