"""What every service's HTTP side shares: lifespan, health and readiness, logging, serving."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response, status

from .db import Database
from .messaging import Bus

log = logging.getLogger("visa")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def create_app(
    *,
    title: str,
    db: Database,
    bus: Bus,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.create_all()
        await bus.start()
        if on_start:
            await on_start()
        log.info("%s started", title)
        try:
            yield
        finally:
            # Uvicorn turns SIGTERM into this shutdown: in-flight handlers finish, nothing is acked twice.
            if on_stop:
                await on_stop()
            await bus.stop()
            await db.dispose()
            log.info("%s stopped", title)

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.db = db
    app.state.bus = bus

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz(response: Response) -> dict[str, str]:
        checks = {"database": "ok", "broker": "ok"}
        try:
            await db.ping()
        except Exception as error:  # readiness reports, it does not raise
            checks["database"] = f"unreachable: {type(error).__name__}"
        if not await bus.ready():
            checks["broker"] = "unreachable"
        if any(value != "ok" for value in checks.values()):
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return checks

    return app
