"""The language of each answer: negotiated from ``Accept-Language`` (``shared.i18n.negotiate``), current for
the whole request, named in ``Content-Language`` (and ``Vary: Accept-Language``) on every answer."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.i18n import LANGUAGES, negotiate, translations, using_language


def accepted_language(scope: Scope) -> str:
    """The language to answer ``scope``'s request in."""
    values = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"accept-language"]
    return negotiate(", ".join(values) if values else None)


class LanguageMiddleware:
    """Makes the request's language current while it is handled: every refusal below it is worded in it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        for language in LANGUAGES:  # read and compiled once, now: a broken catalog stops the service at start
            translations(language)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with using_language(accepted_language(scope)) as language:

            async def send_with_language(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() != b"content-language"
                    ]
                    headers += [(b"content-language", language.encode()), (b"vary", b"Accept-Language")]
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_language)
