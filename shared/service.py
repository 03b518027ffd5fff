"""What every service's HTTP side shares: lifespan, health and readiness, logging, the error body and its
handlers, the request guard (body size, NUL and lone surrogates) and rate limits (``shared.http``)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response, status
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.types import ASGIApp, Receive, Scope, Send

from . import clock as clocks
from .db import Database
from .http import RateLimitMiddleware, RateLimits, RequestGuard, error_responses, install_error_handlers
from .http.crash import InternalErrors
from .http.language import LanguageMiddleware
from .messaging import Bus
from .messaging.outbox import backlog
from .observability.tracing import instrument_engine
from .settings import CommonSettings

log = logging.getLogger("visa")


OPERATIONS_ROUTES = ["/metrics", "/healthz", "/readyz"]


def frozen_once_started(app: ASGIApp) -> ASGIApp:
    """``app``, whose objects are set apart from the garbage collector's work once its startup completed.

    A started service holds a few hundred thousand objects it keeps for its whole life (modules, classes, functions,
    schemas, mappings), and CPython's full collections walk them all: 120–230 ms on this project's benchmark machine,
    during which the service answers nothing (docs/performance.md). ``gc.freeze()`` once started moves them to the
    permanent generation, which collections leave alone; what is made later is collected as before. For a process
    that serves one application (``visa serve``): tests that start many apps in one process leave it out."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)

        async def sending(message) -> None:
            if message["type"] == "lifespan.startup.complete":
                gc.collect()  # what startup left as garbage is freed, not kept for ever
                gc.freeze()
            await send(message)

        await app(scope, receive, sending)

    return application


class ClockScope:
    """Makes the service's clock current while a request is handled (request validation reads it)."""

    def __init__(self, app: ASGIApp, clock: clocks.Clock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with clocks.using(self.clock):
            await self.app(scope, receive, send)


def create_app(
    *,
    title: str,
    service: str,
    db: Database,
    bus: Bus,
    settings: CommonSettings,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    clock: clocks.Clock = clocks.SYSTEM,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from .migrations import check  # Alembic, only where a service starts (not for every `visa` command)

        # The schema is the migrations' (`visa db upgrade <service>`): never started on one behind the code.
        await check(db, service)
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
            await observability.shutdown()
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
    app.add_middleware(ClockScope, clock=clock)
    # Outermost: every answer, refusals of the middlewares above included, in the request's language.
    app.add_middleware(LanguageMiddleware)
    app.state.clock = clock

    @app.get("/healthz", tags=["operations"], responses=error_responses(422))
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    observability = bus.observability
    metrics = observability.metrics
    # HTTP metrics (http_requests_total, http_request_duration_seconds) and spans, through kept instrumentation;
    # the operations routes are left out of both.
    Instrumentator(registry=metrics.registry, excluded_handlers=OPERATIONS_ROUTES).instrument(app)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=observability.tracer_provider,
        excluded_urls=",".join(OPERATIONS_ROUTES),
        exclude_spans=["receive", "send"],  # a span per ASGI message tells nothing the request's span does not
    )
    instrument_engine(db.engine, observability)

    async def observe() -> dict[str, str]:
        """Check the database, the broker and the outbox; record what was found in the gauges; return the
        checks, each "ok" or why not."""
        checks = {"database": "ok", "broker": "ok", "outbox": "ok"}
        try:
            async with db.sessions() as session:
                count, oldest = await backlog(session)
        except Exception as error:  # readiness reports, it does not raise
            checks["database"] = f"unreachable: {type(error).__name__}"
            checks["outbox"] = "unknown (database unreachable)"
        else:
            age = max((clock.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
            metrics.outbox_backlog.labels(service).set(count)
            metrics.outbox_age.labels(service).set(age)
            limit = settings.visa_ready_outbox_max_age_seconds
            if age > limit:
                checks["outbox"] = f"oldest unpublished event is {age:.0f} s old (limit {limit:.0f} s)"
        if not await bus.ready():
            checks["broker"] = "unreachable"
        metrics.database_up.labels(service).set(checks["database"] == "ok")
        metrics.broker_up.labels(service).set(checks["broker"] == "ok")
        return checks

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}}
        | error_responses(422),
    )
    async def prometheus_metrics() -> Response:
        """Prometheus text format: this service's events, HTTP requests, outbox, database and broker."""
        await observe()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", tags=["operations"], responses=error_responses(422, 503))
    async def readyz(response: Response) -> dict[str, str]:
        """200 ``{"database": "ok", "broker": "ok", "outbox": "ok"}`` when the database and the broker answer and
        the outbox keeps up (its oldest unpublished event younger than ``VISA_READY_OUTBOX_MAX_AGE_SECONDS``);
        otherwise 503 naming what is not."""
        checks = await observe()
        failing = {name: value for name, value in checks.items() if value != "ok"}
        if failing:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            response.headers["Retry-After"] = str(settings.visa_retry_after_seconds)
            return {"detail": "not ready: " + ", ".join(f"{name} {value}" for name, value in failing.items())}
        return checks

    return app
