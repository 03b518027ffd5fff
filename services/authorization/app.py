"""Composition root of authorization: MRE's Directorate of Privileges."""

from __future__ import annotations

from fastapi import FastAPI

from shared.clock import SYSTEM, Clock
from shared.contracts.registry import AUTHORIZATION
from shared.db import Database
from shared.messaging import Bus, messaging_metadata
from shared.service import create_app
from shared.treaties.wiring import treaty_cache

from .api import router
from .models import Base
from .settings import AuthorizationSettings
from .usecases import Directorate


def build(settings: AuthorizationSettings | None = None, *, clock: Clock = SYSTEM) -> FastAPI:
    settings = settings or AuthorizationSettings()
    db = Database(settings.authorization_database_url, Base.metadata, messaging_metadata)
    bus = Bus(settings, db, service=AUTHORIZATION.service, clock=clock)
    treaties = treaty_cache(settings)
    directorate = Directorate(
        units=bus.unit, reads=db.sessions, policy=settings.authorization_policy, treaties=treaties, clock=clock
    )
    bus.consume(AUTHORIZATION, directorate.handlers())
    app = create_app(
        title="Visa authorization (MRE, Directorate of Privileges)",
        service=AUTHORIZATION.service,
        db=db,
        bus=bus,
        settings=settings,
        on_stop=treaties.aclose,
        clock=clock,
    )
    app.state.directorate = directorate
    app.include_router(router)
    return app
