"""A served process sets its startup's objects apart from the garbage collector (shared/service.py)."""

from __future__ import annotations

import gc

from shared.service import frozen_once_started


async def test_the_objects_of_a_started_service_are_frozen_once_its_startup_completed():
    frozen_before_startup: list[int] = []

    async def app(scope, receive, send) -> None:  # an ASGI application's lifespan, as uvicorn drives it
        assert (await receive())["type"] == "lifespan.startup"
        frozen_before_startup.append(gc.get_freeze_count())
        await send({"type": "lifespan.startup.complete"})

    async def receive():
        return {"type": "lifespan.startup"}

    sent: list[dict] = []

    async def send(message) -> None:
        sent.append(message)

    gc.unfreeze()
    try:
        await frozen_once_started(app)({"type": "lifespan"}, receive, send)
        assert frozen_before_startup == [0]
        assert gc.get_freeze_count() > 0  # set apart once started
        assert sent == [{"type": "lifespan.startup.complete"}]  # and uvicorn told, as before
    finally:
        gc.unfreeze()  # this test process serves no application


async def test_requests_go_through_untouched():
    seen: list[str] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["type"])

    async def nothing(*_args):
        return None

    gc.unfreeze()
    await frozen_once_started(app)({"type": "http"}, nothing, nothing)
    assert seen == ["http"] and gc.get_freeze_count() == 0
