"""Composition root of authorization: MRE's Directorate of Privileges."""

from __future__ import annotations

from fastapi import FastAPI

from shared.contracts import RequestSubmitted, VisaIssued
from shared.db import Database
from shared.messaging import AUTHORIZATION_CASES, Bus, messaging_metadata
from shared.service import create_app
from shared.treaties.wiring import treaty_cache

from .api import router
from .handlers import Directorate
from .models import Base
from .settings import AuthorizationSettings


def build(settings: AuthorizationSettings | None = None) -> FastAPI:
    settings = settings or AuthorizationSettings()
    db = Database(settings.authorization_database_url, Base.metadata, messaging_metadata)
    bus = Bus(settings, db, service="authorization")
    treaties = treaty_cache(settings)
    directorate = Directorate(settings.authorization_policy, treaties)
    bus.subscribe(
        AUTHORIZATION_CASES, {RequestSubmitted: directorate.on_submitted, VisaIssued: directorate.on_visa_issued}
    )
    app = create_app(
        title="Visa authorization (MRE, Directorate of Privileges)",
        db=db,
        bus=bus,
        settings=settings,
        on_stop=treaties.aclose,
    )
    app.state.directorate = directorate
    app.include_router(router)
    return app
