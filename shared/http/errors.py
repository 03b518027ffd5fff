"""One error body for every service, and the exception handlers that guarantee it.

Every error answer of every service is ``{"detail": ...}``: a sentence, or, for a refused request (422),
the list of what was refused, each ``{"loc", "msg", "type"}``. A refused value is never echoed: it may be
personal data, and it may not even be encodable (a lone surrogate).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

import asyncpg.exceptions
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.types import Send

from shared.privacy import failure_kind

log = logging.getLogger("visa.http")


class Issue(BaseModel):
    """One refused part of a request. ``loc`` names it (``["body", "principal", "surnames"]``,
    ``["query", "limit"]``, ``["path"]``); the refused value is not repeated."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error answer: a sentence, or (422) each refused part of the request."""

    detail: str | list[Issue] = Field(
        description="What went wrong: a sentence, or, when the request was refused (422), one entry per refusal."
    )


RETRY_AFTER_HEADER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
}

DESCRIPTIONS = {
    400: "The request could not be read.",
    401: "Missing or unknown API key (`Authorization: Bearer <key>`).",
    404: "Not found, or not yours to see.",
    409: "The request conflicts with the current state.",
    413: "The request body is larger than this service accepts (`VISA_MAX_BODY_BYTES`).",
    422: "The request was refused: each entry names a refused part; a NUL character or a lone surrogate anywhere "
    "in the path, the query, a header or the body is refused too.",
    429: "Too many requests from this key, address or verifier: wait `Retry-After` seconds.",
    503: "The service's database is unreachable for now: retry after `Retry-After` seconds.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the shared body (and Retry-After where sent)."""
    return {
        code: {"model": ErrorBody, "description": DESCRIPTIONS[code]}
        | ({"headers": RETRY_AFTER_HEADER} if code in (429, 503) else {})
        for code in codes
    }


# Characters no field of any service may hold: PostgreSQL's text cannot store NUL, and a lone surrogate is
# not Unicode text at all (it cannot be encoded as UTF-8, so neither stored nor answered).
_HOSTILE = re.compile("[\x00\ud800-\udfff]")


def hostile_character(text: str) -> str | None:
    """Why ``text`` may not be accepted (``"NUL character (U+0000)"``, ``"lone surrogate (U+D800)"``), or None."""
    found = _HOSTILE.search(text)
    if found is None:
        return None
    char = found.group()
    return "NUL character (U+0000)" if char == "\x00" else f"lone surrogate (U+{ord(char):04X})"


def _printable(value: str) -> str:
    return _HOSTILE.sub("\ufffd", value)


def issue(loc: Iterable[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {
        "loc": [_printable(part) if isinstance(part, str) else part for part in loc],
        "msg": _printable(msg),
        "type": type_,
    }


async def send_error(send: Send, status_code: int, detail: Any, headers: dict[str, str] | None = None) -> None:
    """Answer ``{"detail": detail}`` straight from an ASGI middleware (before any route ran)."""
    body = json.dumps({"detail": detail}).encode()  # ASCII-escaped: always encodable
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()
    ]
    await send({"type": "http.response.start", "status": status_code, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def validation_failed(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming each refused field, without pydantic's ``input`` (personal data) nor ``ctx``."""
    return JSONResponse(
        status_code=422,
        content={
            "detail": [issue(e.get("loc", ()), str(e.get("msg", "")), str(e.get("type", ""))) for e in error.errors()]
        },
    )


# Errors meaning the database cannot be reached now, not that the request is at fault.
_ASYNCPG_OUTAGES = (
    asyncpg.exceptions.PostgresConnectionError,  # connection lost or refused (08xxx)
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, terminated (57xxx)
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed"
)


def is_database_outage(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps) says the database is unreachable rather than the request wrong."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(
            current,
            (
                sa_exc.OperationalError,
                sa_exc.InterfaceError,
                sa_exc.DisconnectionError,
                sa_exc.TimeoutError,  # no pooled connection came free in time
                OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError, unreachable host
                *_ASYNCPG_OUTAGES,
            ),
        ):
            return True
        pending += [getattr(current, "orig", None), current.__cause__]
    return False


def database_outage_handler(retry_after: int):
    async def database_outage(request: Request, error: Exception) -> JSONResponse:
        if not is_database_outage(error):
            raise error  # not an outage: the generic 500 handler answers, and the traceback is logged
        route = request.scope.get("route")
        where = getattr(route, "path", None) or "an unrouted path"
        log.warning("%s %s answered 503: database unreachable (%s)", request.method, where, failure_kind(error))
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": f"the service's database is unreachable; retry after {retry_after} s"},
            headers={"Retry-After": str(retry_after)},
        )

    return database_outage


async def internal_error(request: Request, error: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware calls this, then re-raises: the server logs the traceback.
    return JSONResponse(status_code=500, content={"detail": "internal error"})


def install_error_handlers(app: FastAPI, *, retry_after: int) -> None:
    app.add_exception_handler(RequestValidationError, validation_failed)
    outage = database_outage_handler(retry_after)
    for kind in (
        sa_exc.DBAPIError,
        sa_exc.DisconnectionError,
        sa_exc.TimeoutError,
        OSError,
        asyncpg.exceptions.PostgresError,
        asyncpg.exceptions.InterfaceError,
    ):
        app.add_exception_handler(kind, outage)
    app.add_exception_handler(Exception, internal_error)
