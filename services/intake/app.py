"""Composition root of intake: the sponsors' front door."""

from __future__ import annotations

from fastapi import FastAPI

from shared.clock import SYSTEM, Clock
from shared.contracts.registry import INTAKE
from shared.db import Database
from shared.messaging import Bus, messaging_metadata
from shared.posts import PostsFile
from shared.service import create_app
from shared.treaties.wiring import treaty_cache

from . import console
from .api import router
from .models import Base
from .settings import IntakeSettings
from .usecases import Intake


def build(settings: IntakeSettings | None = None, *, clock: Clock = SYSTEM) -> FastAPI:
    settings = settings or IntakeSettings()
    db = Database(settings.intake_database_url, Base.metadata, messaging_metadata, pool_size=settings.visa_db_pool_size)
    bus = Bus(settings, db, service=INTAKE.service, clock=clock)
    treaties = treaty_cache(settings)
    # The consular posts: read at start (a malformed list stops the service), and again when the file changes.
    posts = PostsFile(settings.visa_posts)
    intake = Intake(
        units=bus.unit, adding=bus.adding, reads=db.sessions, treaties=treaties, clock=clock, posts=posts.current
    )
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
    console.install(app, settings)  # the sponsors' pages, /console/
    return app
