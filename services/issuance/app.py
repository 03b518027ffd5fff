"""Composition root of issuance: the consulate's service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.contracts import AuthorizationGranted, AuthorizationRevoked
from shared.db import Database
from shared.messaging import ISSUANCE_AUTHORIZATIONS, Bus, messaging_metadata
from shared.service import create_app

from .api import router
from .handlers import Issuance
from .models import Base
from .settings import IssuanceSettings


def build(settings: IssuanceSettings | None = None) -> FastAPI:
    settings = settings or IssuanceSettings()
    db = Database(settings.issuance_database_url, Base.metadata, messaging_metadata)
    bus = Bus(settings, db, service="issuance")
    issuance = Issuance(settings.issuance_visa_prefix)
    # Only authorization events: the consulate issues nothing MRE has not authorized.
    bus.subscribe(
        ISSUANCE_AUTHORIZATIONS,
        {AuthorizationGranted: issuance.on_granted, AuthorizationRevoked: issuance.on_revoked},
    )
    app = create_app(title="Visa issuance (consulate)", db=db, bus=bus, settings=settings)
    app.include_router(router)
    return app
