"""Composition root of issuance: the consulate's service."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from shared import posts
from shared.clock import SYSTEM, Clock
from shared.contracts.registry import ISSUANCE
from shared.db import Database
from shared.messaging import Bus, messaging_metadata
from shared.service import create_app

from . import console
from .api import router
from .models import Base
from .settings import IssuanceSettings
from .sticker import Printer
from .usecases import Consulate

log = logging.getLogger("visa.issuance")


def build(settings: IssuanceSettings | None = None, *, clock: Clock = SYSTEM) -> FastAPI:
    settings = settings or IssuanceSettings()
    db = Database(
        settings.issuance_database_url, Base.metadata, messaging_metadata, pool_size=settings.visa_db_pool_size
    )
    bus = Bus(settings, db, service=ISSUANCE.service, clock=clock)
    # Read once, at start: a post missing from the list (or a malformed list) stops the service here.
    prefix = settings.visa_prefix(posts.load(settings.visa_posts))
    if settings.issuance_visa_prefix:
        log.warning("ISSUANCE_VISA_PREFIX is deprecated: the visa prefix of each post is in VISA_POSTS")
    consulate = Consulate(reads=db.sessions, visa_prefix=prefix, post=settings.issuance_post, clock=clock)
    # This post's own queue: only the authorizations for this post reach it (README, "Consular posts").
    bus.consume(ISSUANCE.for_post(settings.issuance_post), consulate.handlers())
    app = create_app(
        title="Visa issuance (consulate)", service=ISSUANCE.service, db=db, bus=bus, settings=settings, clock=clock
    )
    app.state.consulate = consulate
    app.state.printer = Printer(settings, clock)
    app.include_router(router)
    console.install(app, settings)  # the consular staff's pages, /console/
    return app
