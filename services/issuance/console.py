"""The consular staff's console: the visas of this post (issued, cancelled, superseded), searchable by number,
name or passport, each with its standing and, while it stands, its sticker to print.

The list is the ``Consulate``'s query (``search``); the sticker is printed as the API's sticker route prints it
(``Consulate.visa``, then the post's ``Printer``), for a signed-in clerk.
"""

from __future__ import annotations

import logging
from pathlib import Path

from anyio import to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from shared.console import Console, console_secret
from shared.i18n import N_, translate
from shared.seal.store import SealKeysMissing

from .models import ConsularClerk
from .settings import IssuanceSettings
from .sticker import NotPrintable, StickerFontMissing
from .usecases import Consulate, VisaNotFound
from .visas import Standing

log = logging.getLogger("visa.issuance")

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
NOT_PRINTED = N_("The sticker of visa {number} cannot be printed: {reason}")


def build_console(settings: IssuanceSettings) -> Console:
    return Console(
        service="issuance",
        account=ConsularClerk,
        templates=TEMPLATES_DIR,
        secret=console_secret(settings),
        title=N_("Consular console"),
        role=N_("consular staff of this post"),
    )


def install(app: FastAPI, settings: IssuanceSettings) -> None:
    console = build_console(settings)
    pages = APIRouter(prefix="/console", include_in_schema=False)

    def consulate(request: Request) -> Consulate:
        return request.app.state.consulate

    @pages.get("/", response_class=HTMLResponse)
    async def visas(request: Request, q: str = "", standing: str = "") -> HTMLResponse:
        visitor = await console.signed_in(request)
        found = await consulate(request).search(q[:100])
        chosen = standing if standing in Standing.__members__ else ""
        if chosen:
            found = [each for each in found if each.standing == chosen]
        return console.render(
            request,
            visitor,
            "visas.html",
            visas=found,
            q=q[:100],
            standing=chosen,
            standings=list(Standing),
            printable={Standing.VALID, Standing.NOT_YET_VALID, Standing.EXPIRED},
            post=settings.issuance_post,
        )

    @pages.get("/visas/{number}/sticker.pdf")
    async def sticker(request: Request, number: str) -> Response:
        visitor = await console.signed_in(request)
        try:
            visa = await consulate(request).visa(number)
        except VisaNotFound:
            return console.not_found(request, visitor)
        try:
            printed = await to_thread.run_sync(request.app.state.printer.sticker, visa)
        except (NotPrintable, SealKeysMissing, StickerFontMissing) as error:
            log.error("visa %s not printed for clerk %s: %s", visa.number, visitor.account.id, error)
            return console.render(
                request,
                visitor,
                "message.html",
                status_code=409 if isinstance(error, NotPrintable) else 503,
                message=translate(NOT_PRINTED, visitor.language, number=visa.number, reason=str(error)),
            )
        log.info("visa %s printed by clerk %s", visa.number, visitor.account.id)
        response = Response(
            printed.pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{visa.number}.pdf"'},
        )
        console.finish(request, response, visitor)
        return response

    console.install(app, pages)
