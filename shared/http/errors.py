"""One error body for every service, and the exception handlers that guarantee it.

Every error answer of every service is ``{"detail": ...}``: a sentence, or, for a refused request (422),
the list of what was refused, each ``{"loc", "msg", "type"}``. A refused value is never echoed: it may be
personal data, and it may not even be encodable (a lone surrogate).

Sentences and ``msg`` are in the request's language (``shared.i18n``, ``shared.http.language``); ``loc`` and
``type`` are the same in every language. The OpenAPI descriptions below stay in English.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

import asyncpg.exceptions
from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from shared.i18n import N_, Message, N_plural, localized, message_of, translate, translate_plural
from shared.privacy import failure_kind

from .language import accepted_language

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


def hostile_character(text: str) -> Message | None:
    """Why ``text`` may not be accepted (``"NUL character (U+0000)"``, ``"lone surrogate (U+D800)"``), or None."""
    found = _HOSTILE.search(text)
    if found is None:
        return None
    char = found.group()
    return (
        Message("NUL character (U+0000)")
        if char == "\x00"
        else Message("lone surrogate (U+{code})", code=f"{ord(char):04X}")
    )


def _printable(value: str) -> str:
    return _HOSTILE.sub("\ufffd", value)


def issue(loc: Iterable[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {
        "loc": [_printable(part) if isinstance(part, str) else part for part in loc],
        "msg": _printable(localized(msg)),  # a Message: in the current language
        "type": type_,
    }


async def send_error(send: Send, status_code: int, detail: Any, headers: dict[str, str] | None = None) -> None:
    """Answer ``{"detail": detail}`` straight from an ASGI middleware (before any route ran)."""
    body = json.dumps({"detail": localized(detail)}).encode()  # ASCII-escaped: always encodable
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()
    ]
    await send({"type": "http.response.start", "status": status_code, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


# Pydantic's messages as catalog msgids, by error type: the English is pydantic's own, word for word, and its
# fields are the error's ``ctx``. A type not listed keeps pydantic's English message.
PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": N_("Field required"),
    "missing_argument": N_("Missing required argument"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "model_type": N_("Input should be a valid dictionary or instance of {class_name}"),
    "model_attributes_type": N_("Input should be a valid dictionary or object to extract fields from"),
    "dict_type": N_("Input should be a valid dictionary"),
    "list_type": N_("Input should be a valid list"),
    "json_invalid": N_("JSON decode error"),
    "json_type": N_("JSON input should be string, bytes or bytearray"),
    "string_type": N_("Input should be a valid string"),
    "string_unicode": N_("Input should be a valid string, unable to parse raw data as a unicode string"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "string_not_ascii": N_("String should contain only ASCII characters"),
    "enum": N_("Input should be {expected}"),
    "literal_error": N_("Input should be {expected}"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_parsing_size": N_("Unable to parse input string as an integer, exceeded maximum size"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "finite_number": N_("Input should be a finite number"),
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "date_type": N_("Input should be a valid date"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD, {error}"),
    "date_from_datetime_parsing": N_("Input should be a valid date or datetime, {error}"),
    "date_from_datetime_inexact": N_("Datetimes provided to dates should have zero time - e.g. be exact dates"),
    "datetime_type": N_("Input should be a valid datetime"),
    "datetime_parsing": N_("Input should be a valid datetime, {error}"),
    "datetime_from_date_parsing": N_("Input should be a valid datetime or date, {error}"),
    "uuid_type": N_("UUID input should be a string, bytes or UUID object"),
    "uuid_parsing": N_("Input should be a valid UUID, {error}"),
    "value_error": N_("Value error, {error}"),
    "assertion_error": N_("Assertion failed, {error}"),
}
# Counted ones: ((singular, plural), the ctx field that counts).
PYDANTIC_PLURALS: dict[str, tuple[tuple[str, str], str]] = {
    "string_too_short": (
        N_plural(
            "String should have at least {min_length} character", "String should have at least {min_length} characters"
        ),
        "min_length",
    ),
    "string_too_long": (
        N_plural(
            "String should have at most {max_length} character", "String should have at most {max_length} characters"
        ),
        "max_length",
    ),
    "too_short": (
        N_plural(
            "{field_type} should have at least {min_length} item after validation, not {actual_length}",
            "{field_type} should have at least {min_length} items after validation, not {actual_length}",
        ),
        "min_length",
    ),
    "too_long": (
        N_plural(
            "{field_type} should have at most {max_length} item after validation, not {actual_length}",
            "{field_type} should have at most {max_length} items after validation, not {actual_length}",
        ),
        "max_length",
    ),
}
# What the date and time parser says is wrong (the ``error`` of the date types above).
DATE_PROBLEMS = frozenset(
    {
        N_("input is too short"),
        N_("input is too long"),
        N_("invalid character in year"),
        N_("invalid character in month"),
        N_("invalid character in day"),
        N_("invalid character in hour"),
        N_("invalid character in minute"),
        N_("invalid character in second"),
        N_("invalid date separator, expected `-`"),
        N_("invalid datetime separator, expected `T`, `t`, `_` or space"),
        N_("invalid time separator, expected `:`"),
        N_("month value is outside expected range of 1-12"),
        N_("day value is outside expected range"),
        N_("hour value is outside expected range of 0-23"),
        N_("minute value is outside expected range of 0-59"),
        N_("second value is outside expected range of 0-59"),
        N_("year 0 is out of range"),
        N_("unexpected extra characters at the end of the input"),
    }
)
# Words of pydantic's ``expected`` ("'A', 'B' or 'C'") and ``field_type`` ("List").
_OR = N_("{choices} or {last}")
_FIELD_TYPES = {"List": N_("List"), "Tuple": N_("Tuple"), "Set": N_("Set"), "Dictionary": N_("Dictionary")}


def _expected(expected: str, language: str) -> str:
    choices, separator, last = expected.rpartition(" or ")
    return translate(_OR, language, choices=choices, last=last) if separator else expected


def _context(kind: str, ctx: dict[str, Any], language: str) -> dict[str, Any]:
    """The error's ``ctx`` as the message's fields, each worded in ``language``."""
    fields: dict[str, Any] = {name: value for name, value in ctx.items() if name != "error"}
    error = ctx.get("error")
    if isinstance(error, BaseException):  # a validator's exception: its sentence, in the catalog or not
        found = message_of(error)
        fields["error"] = found.render(language) if found is not None else str(error)
    elif error is not None:
        fields["error"] = translate(error, language) if error in DATE_PROBLEMS else error
    if kind in ("enum", "literal_error") and isinstance(ctx.get("expected"), str):
        fields["expected"] = _expected(ctx["expected"], language)
    if isinstance(field_type := ctx.get("field_type"), str) and field_type in _FIELD_TYPES:
        fields["field_type"] = translate(_FIELD_TYPES[field_type], language)
    return fields


def validation_message(entry: dict[str, Any], language: str) -> str:
    """One pydantic error's ``msg`` in ``language``: from the catalog by its ``type`` and ``ctx``; pydantic's
    own English where the type is not in the catalog."""
    kind, ctx, english = str(entry.get("type", "")), entry.get("ctx") or {}, str(entry.get("msg", ""))
    try:
        fields = _context(kind, ctx, language)
        if kind in PYDANTIC_PLURALS:
            (singular, plural), counted = PYDANTIC_PLURALS[kind]
            return translate_plural(singular, plural, int(ctx[counted]), language, **fields)
        if kind in PYDANTIC_MESSAGES:
            return translate(PYDANTIC_MESSAGES[kind], language, **fields)
    except (KeyError, ValueError, TypeError):  # a ctx other than the template's: pydantic's words
        pass
    return english


async def validation_failed(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 naming each refused field, in the request's language, without pydantic's ``input`` (personal data)
    nor ``ctx``."""
    language = accepted_language(request.scope)
    return JSONResponse(
        status_code=422,
        content={
            "detail": [
                issue(e.get("loc", ()), validation_message(e, language), str(e.get("type", ""))) for e in error.errors()
            ]
        },
    )


def field_refused(loc: tuple[str | int, ...], refusal: Exception) -> RequestValidationError:
    """A 422 naming ``loc`` for a value only the service can judge (e.g. a post not in the configured list), worded
    like a validator's refusal: raise it from a route."""
    return RequestValidationError(
        [{"type": "value_error", "loc": loc, "msg": f"Value error, {refusal}", "ctx": {"error": refusal}}]
    )


# Starlette's and FastAPI's own refusals (an unknown path, a wrong method, an unreadable body).
STANDARD_DETAILS = frozenset(
    {
        N_("Not Found"),
        N_("Method Not Allowed"),
        N_("There was an error parsing the body"),
        N_("Bad Request"),
        N_("Unsupported Media Type"),
    }
)


async def http_refused(request: Request, error: Exception) -> Any:
    """An ``HTTPException``'s detail in the request's language: a ``Message`` (a use case's refusal, an
    authentication failure), or one of Starlette's and FastAPI's own sentences."""
    assert isinstance(error, StarletteHTTPException)
    language = accepted_language(request.scope)
    detail = error.detail
    if isinstance(detail, Message):
        error.detail = detail.render(language)
    elif isinstance(detail, str) and detail in STANDARD_DETAILS:
        error.detail = translate(detail, language)
    return await http_exception_handler(request, error)


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
            content={
                "detail": translate(
                    "the service's database is unreachable; retry after {seconds} s",
                    accepted_language(request.scope),
                    seconds=retry_after,
                )
            },
            headers={"Retry-After": str(retry_after)},
        )

    return database_outage


async def internal_error(request: Request, error: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware calls this, then re-raises: the server logs the traceback.
    return JSONResponse(
        status_code=500, content={"detail": translate(INTERNAL_ERROR, accepted_language(request.scope))}
    )


INTERNAL_ERROR = N_("internal error")


def install_error_handlers(app: FastAPI, *, retry_after: int) -> None:
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(StarletteHTTPException, http_refused)
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
