"""HTTP authentication: a request bears an account's API key as ``Authorization: Bearer <key>``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.accounts import Holder, holder_of, key_hash
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
        known, digest = known_keys(request), key_hash(key)
        if (holder := known.get(model, digest)) is not None:
            return holder
        async with request.app.state.db.lookups() as session:
            holder = await holder_of(session, model, key)
        if holder is None:
            raise unauthorized()
        known.remember(model, digest, holder)
        return holder

    return dependency


class KnownKeys:
    """The accounts of the keys one service's process found lately, each remembered for ``seconds``: a request
    bearing a remembered key costs no database round trip (it was a tenth of intake's CPU per request,
    docs/performance.md). Only a key found is remembered: a key registered a moment ago works at once, an unknown
    one is looked up each time. An account is never changed once registered, and no command revokes a key; an
    account deleted from the database by hand is refused once its ``seconds`` have passed."""

    def __init__(self, seconds: float = 60.0, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._known: dict[tuple[type, str], tuple[float, object]] = {}

    def get(self, model: type[Holder], digest: str) -> Holder | None:
        """The account of the key whose hash (``key_hash``) is ``digest``, while it is remembered."""
        entry = self._known.get((model, digest))
        if entry is None:
            return None
        until, holder = entry
        if self.clock() >= until:
            del self._known[(model, digest)]
            return None
        return holder  # type: ignore[return-value]

    def remember(self, model: type[Holder], digest: str, holder: Holder) -> None:
        if len(self._known) >= self.size:
            self._known.pop(next(iter(self._known)))  # the one remembered first
        self._known[(model, digest)] = (self.clock() + self.seconds, holder)


def known_keys(request: Request) -> KnownKeys:
    """The application's ``KnownKeys``: one per application, so that two services (or two test applications) in one
    process never share an account."""
    state = request.app.state
    try:
        return state.known_keys
    except AttributeError:
        state.known_keys = KnownKeys()
        return state.known_keys
