"""Composition root of intake: the sponsors' front door."""

from __future__ import annotations

from fastapi import FastAPI

from shared.clock import SYSTEM, Clock
from shared.contracts.registry import INTAKE
from shared.db import Database
from shared.messaging import Bus, messaging_metadata
from shared.service import create_app
from shared.treaties.wiring import treaty_cache

from .api import router
from .models import Base
from .settings import IntakeSettings
from .usecases import Intake


def build(settings: IntakeSettings | None = None, *, clock: Clock = SYSTEM) -> FastAPI:
    settings = settings or IntakeSettings()
    db = Database(settings.intake_database_url, Base.metadata, messaging_metadata)
    bus = Bus(settings, db, service=INTAKE.service, clock=clock)
    treaties = treaty_cache(settings)
    intake = Intake(units=bus.unit, reads=db.sessions, treaties=treaties, clock=clock)
    bus.consume(INTAKE, intake.handlers())
    app = create_app(
        title="Visa intake (sponsors)",
        service=INTAKE.service,
        db=db,
        bus=bus,
        settings=settings,
        on_stop=treaties.aclose,
        clock=clock,
    )
    app.state.intake = intake
    app.state.treaties = treaties
    app.include_router(router)
    return app
