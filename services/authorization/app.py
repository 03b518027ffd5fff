"""Composition root of authorization: MRE's Directorate of Privileges."""

from __future__ import annotations

from fastapi import FastAPI

from shared.clock import SYSTEM, Clock
from shared.contracts.registry import AUTHORIZATION
from shared.db import Database
from shared.messaging import Bus, messaging_metadata
from shared.posts import PostsFile
from shared.service import create_app
from shared.treaties.wiring import treaty_cache

from . import console, rulebook
from .api import router
from .models import Base
from .settings import AuthorizationSettings
from .usecases import Directorate


def build(settings: AuthorizationSettings | None = None, *, clock: Clock = SYSTEM) -> FastAPI:
    settings = settings or AuthorizationSettings()
    db = Database(
        settings.authorization_database_url, Base.metadata, messaging_metadata, pool_size=settings.visa_db_pool_size
    )
    bus = Bus(settings, db, service=AUTHORIZATION.service, clock=clock)
    treaties = treaty_cache(settings)
    # Read once, at start: a malformed table stops the service here (rulebook.RulebookError), not at a request.
    book = rulebook.load(settings.authorization_family_rules, settings.authorization_staff_rules)
    directorate = Directorate(
        units=bus.unit,
        reads=db.sessions,
        policy=settings.authorization_policy,
        treaties=treaties,
        clock=clock,
        rulebook=book,
        # The consular posts: read at start (a malformed list stops the service), and again when the file changes.
        posts=PostsFile(settings.visa_posts).current,
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
    console.install(app, settings)  # the officers' pages, /console/
    return app
