"""Composition root of intake: the sponsors' front door."""

from __future__ import annotations

from fastapi import FastAPI

from shared.db import Database
from shared.messaging import INTAKE_STATUS, Bus, messaging_metadata
from shared.service import create_app
from shared.treaties.wiring import treaty_cache

from .api import router
from .models import Base
from .projection import HANDLERS
from .settings import IntakeSettings


def build(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    db = Database(settings.intake_database_url, Base.metadata, messaging_metadata)
    bus = Bus(settings, db, service="intake")
    bus.subscribe(INTAKE_STATUS, HANDLERS)
    treaties = treaty_cache(settings)
    app = create_app(title="Visa intake (sponsors)", db=db, bus=bus, settings=settings, on_stop=treaties.aclose)
    app.state.treaties = treaties
    app.include_router(router)
    return app
