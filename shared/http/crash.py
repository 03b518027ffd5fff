"""An unexpected exception answers 500 and is logged without its message.

An exception's text may carry personal data — SQL parameters, a name a validator quoted — and a server's
default would log it whole with the traceback. Here the log gets the route, the exception's type and the
frames (where it failed), never the message; the client gets ``{"detail": "internal error"}``.
"""

from __future__ import annotations

import logging
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.i18n import gettext

from .errors import INTERNAL_ERROR, send_error

log = logging.getLogger("visa.http")


class InternalErrors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            route = getattr(scope.get("route"), "path", "an unmatched path")
            frames = "".join(traceback.format_tb(error.__traceback__))
            log.error(
                "%s %s failed with %s (its message is withheld: it may hold personal data)\n%s",
                scope["method"],
                route,
                type(error).__name__,
                frames.rstrip(),
            )
            if not started:
                await send_error(send, 500, gettext(INTERNAL_ERROR))
