"""What no route of any service accepts, refused before any route runs: an oversized body (413), and a NUL
character or a lone surrogate anywhere in the request (422).

A pure ASGI middleware, so that a refused body is never read whole: a ``Content-Length`` beyond the limit is
answered at once, and a streamed (chunked) body is counted chunk by chunk and abandoned at the limit. A body
within the limit is read here, checked, and handed on to the route unchanged.

Why NUL and lone surrogates: PostgreSQL's text cannot hold NUL (a query carrying one fails), and a lone
surrogate (``"\\ud800"`` in JSON) is not text at all: it can be neither stored as UTF-8 nor echoed back.
Refusing both here, once, covers every route, every parameter and every field of every body.
"""

from __future__ import annotations

import json
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from shared import i18n

from .errors import hostile_character, issue, send_error


class BodyTooLarge(Exception):
    pass


def _is_json(content_type: str | None) -> bool:
    """Whether a route would read the body as JSON (FastAPI's own test, lenient on a missing type)."""
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _hostile_in_json(value: Any, loc: list[str | int]) -> list[dict[str, Any]]:
    """An issue per string (or key) of a parsed JSON document that holds a NUL or a lone surrogate."""
    found: list[dict[str, Any]] = []
    stack: list[tuple[Any, list[str | int]]] = [(value, loc)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, str):
            if reason := hostile_character(current):
                found.append(
                    issue(where, i18n.Message("{character} is not allowed in a value", character=reason), _type(reason))
                )
        elif isinstance(current, dict):
            for key, item in current.items():
                if reason := hostile_character(key):
                    found.append(
                        issue(
                            where, i18n.Message("{character} is not allowed in a key", character=reason), _type(reason)
                        )
                    )
                    continue
                stack.append((item, [*where, key]))
        elif isinstance(current, list):
            stack.extend((item, [*where, index]) for index, item in enumerate(current))
    return sorted(found, key=lambda entry: [str(part) for part in entry["loc"]])


def _type(reason: str) -> str:
    return "nul_character" if reason.startswith("NUL") else "lone_surrogate"


def hostile_body(body: bytes) -> list[dict[str, Any]]:
    try:
        body.decode("utf-8")  # JSON between systems is UTF-8 (RFC 8259, 8.1); FastAPI would answer a bare 400
    except UnicodeDecodeError as error:
        return [
            issue(["body"], i18n.Message("the body is not UTF-8 text (byte {byte})", byte=error.start), "invalid_utf8")
        ]
    # NUL arrives as a raw 0 byte or an escape, a surrogate as an escape or UTF-8 bytes starting 0xED (which
    # Python's JSON reader lets through): a body with none of these needs no parse here.
    if b"\\u" not in body and b"\x00" not in body and b"\xed" not in body:
        return []
    try:
        document = json.loads(body)
    except ValueError:  # not JSON: the route refuses it as such
        return []
    return _hostile_in_json(document, ["body"])


def hostile_head(scope: Scope) -> list[dict[str, Any]]:
    """Issues of the path, the query string and the headers."""
    found = []
    if reason := hostile_character(scope.get("path", "")):
        found.append(
            issue(["path"], i18n.Message("{character} is not allowed in the path", character=reason), _type(reason))
        )
    query = scope.get("query_string", b"")
    if query:
        # Decoded as the routes decode it (percent-escapes, UTF-8 with replacement).
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if reason := hostile_character(name) or hostile_character(value):
                found.append(
                    issue(
                        ["query", name],
                        i18n.Message("{character} is not allowed in the query", character=reason),
                        _type(reason),
                    )
                )
    for name, value in scope.get("headers", ()):
        if b"\x00" in value:
            header = name.decode("latin-1")
            found.append(
                issue(
                    ["header", header],
                    i18n.Message(
                        "{character} is not allowed in a header", character=i18n.Message("NUL character (U+0000)")
                    ),
                    "nul_character",
                )
            )
    return found


class RequestGuard:
    """Refuses oversized bodies (413) and NUL characters or lone surrogates (422) before any route runs."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> i18n.Message:
        return i18n.Message(
            "request body too large: this service accepts at most {limit} bytes", limit=self.max_body_bytes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if issues := hostile_head(scope):
            await send_error(send, 422, issues)
            return
        headers = {name: value for name, value in scope.get("headers", ())}
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await send_error(send, 400, i18n.Message("Content-Length is not a number"))
                return
            if length > self.max_body_bytes:
                await send_error(send, 413, self._too_large())  # nothing of the body was read
                return
        elif b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        try:
            body, last = await self._read(receive)
        except BodyTooLarge:
            await send_error(send, 413, self._too_large())
            return
        content_type = headers.get(b"content-type")
        if body and _is_json(content_type.decode("latin-1") if content_type else None):
            if issues := hostile_body(body):
                await send_error(send, 422, issues)
                return
        await self.app(scope, self._replay(body, last, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, AsgiMessage]:
        """The whole body, counted chunk by chunk; ``BodyTooLarge`` as soon as it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: the route sees it as it would
                return b"".join(chunks), message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), {"type": "http.request", "body": b"", "more_body": False}

    @staticmethod
    def _replay(body: bytes, last: AsgiMessage, receive: Receive) -> Receive:
        sent = False

        async def replay() -> AsgiMessage:
            nonlocal sent
            if not sent:
                sent = True
                if last["type"] != "http.request":
                    return last
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
