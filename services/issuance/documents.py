"""The visa as a document: the sticker consular staff print, and the public keys its seal is verified with
(docs/domain/visa-document.md)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel

from shared.http import error_responses
from shared.http.auth import authenticated
from shared.seal.store import SealKeysMissing, read_published

from .models import ConsularClerk
from .sticker import NotPrintable, StickerFontMissing
from .usecases import VisaNotFound
from .wiring import ConsulateDep, PrinterDep

log = logging.getLogger("visa.issuance")

router = APIRouter()

ClerkDep = Annotated[ConsularClerk, Depends(authenticated(ConsularClerk))]

PDF = {
    200: {
        "description": "The visa's MRV-A sticker (120 mm × 80 mm), its seal and its MRZ, as a one-page PDF.",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(
    "/visas/{number}/sticker.pdf",
    tags=["visas"],
    response_class=Response,
    responses=PDF | error_responses(401, 404, 409),
)
async def print_visa(number: str, clerk: ClerkDep, consulate: ConsulateDep, printer: PrinterDep) -> Response:
    """The printable visa, for consular staff: a cancelled or superseded visa is not printed (409); a post
    without a seal key or the OCR-B font answers 503, naming what is missing."""
    try:
        visa = await consulate.visa(number)
    except VisaNotFound as error:
        raise HTTPException(404, detail=str(error)) from None
    try:
        sticker = await to_thread.run_sync(printer.sticker, visa)
    except NotPrintable as error:
        raise HTTPException(409, detail=str(error)) from None
    except (SealKeysMissing, StickerFontMissing) as error:
        log.error("visa %s not printed for clerk %s: %s", visa.number, clerk.id, error)
        raise HTTPException(503, detail=str(error)) from None
    log.info("visa %s printed by clerk %s", visa.number, clerk.id)
    return Response(
        sticker.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{visa.number}.pdf"'},
    )


class JsonWebKey(BaseModel):
    kty: str
    crv: str
    x: str
    y: str
    kid: str
    alg: str
    use: str


class SealKeyView(BaseModel):
    kid: str
    post: str
    country: str
    signer: str
    algorithm: str
    valid_from: dt.date
    valid_until: dt.date | None
    public_key_pem: str
    jwk: JsonWebKey


class SealKeysView(BaseModel):
    version: int
    keys: list[SealKeyView]


@router.get("/seal-keys", response_model=SealKeysView, tags=["seal keys"])
async def seal_keys(request: Request) -> SealKeysView:
    """The published seal keys (public data, no key needed): what `visa verify --keys` checks a seal with."""
    try:
        keys = read_published(request.app.state.settings.issuance_seal_public_keys)
    except SealKeysMissing:
        return SealKeysView(version=1, keys=[])
    return SealKeysView.model_validate(keys.to_document())
