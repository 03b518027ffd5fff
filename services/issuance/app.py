"""Composition root of issuance: the consulate's service."""

from __future__ import annotations

from fastapi import FastAPI

from shared.clock import SYSTEM, Clock
from shared.contracts.registry import ISSUANCE
from shared.db import Database
from shared.messaging import Bus, messaging_metadata
from shared.service import create_app

from .api import router
from .models import Base
from .settings import IssuanceSettings
from .sticker import Printer
from .usecases import Consulate


def build(settings: IssuanceSettings | None = None, *, clock: Clock = SYSTEM) -> FastAPI:
    settings = settings or IssuanceSettings()
    db = Database(settings.issuance_database_url, Base.metadata, messaging_metadata)
    bus = Bus(settings, db, service=ISSUANCE.service, clock=clock)
    consulate = Consulate(reads=db.sessions, visa_prefix=settings.issuance_visa_prefix, clock=clock)
    bus.consume(ISSUANCE, consulate.handlers())
    app = create_app(
        title="Visa issuance (consulate)", service=ISSUANCE.service, db=db, bus=bus, settings=settings, clock=clock
    )
    app.state.consulate = consulate
    app.state.printer = Printer(settings, clock)
    app.include_router(router)
    return app
