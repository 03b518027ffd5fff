"""What every service's HTTP side shares: lifespan, health and readiness, logging, the error body and its
handlers, the request guard (body size, NUL and lone surrogates) and rate limits (``shared.http``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response, status

from .db import Database
from .http import RateLimitMiddleware, RateLimits, RequestGuard, error_responses, install_error_handlers
from .http.crash import InternalErrors
from .messaging import Bus
from .settings import CommonSettings

log = logging.getLogger("visa")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def create_app(
    *,
    title: str,
    db: Database,
    bus: Bus,
    settings: CommonSettings,
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
    app.state.settings = settings
    app.state.rate_limits = RateLimits()
    install_error_handlers(app, retry_after=settings.visa_retry_after_seconds)
    # The last added runs first: rate limits (no body read), then the guard (which reads the body, bounded).
    app.add_middleware(RequestGuard, max_body_bytes=settings.visa_max_body_bytes)
    app.add_middleware(
        RateLimitMiddleware,
        limits=app.state.rate_limits,
        per_key=settings.visa_rate_limit_per_key,
        per_address=settings.visa_rate_limit_per_address,
    )
    app.add_middleware(InternalErrors)  # outermost of ours: whatever fails below answers 500, logged safely

    @app.get("/healthz", tags=["operations"], responses=error_responses(422))
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=error_responses(422, 503))
    async def readyz(response: Response) -> dict[str, str]:
        """200 ``{"database": "ok", "broker": "ok"}`` when both are reachable; otherwise 503 naming what is not."""
        checks = {"database": "ok", "broker": "ok"}
        try:
            await db.ping()
        except Exception as error:  # readiness reports, it does not raise
            checks["database"] = f"unreachable: {type(error).__name__}"
        if not await bus.ready():
            checks["broker"] = "unreachable"
        failing = {name: value for name, value in checks.items() if value != "ok"}
        if failing:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            response.headers["Retry-After"] = str(settings.visa_retry_after_seconds)
            return {"detail": "not ready: " + ", ".join(f"{name} {value}" for name, value in failing.items())}
        return checks

    return app
