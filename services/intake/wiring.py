"""How a route reaches intake's use cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .usecases import Intake


async def _intake(request: Request) -> Intake:
    return request.app.state.intake


IntakeDep = Annotated[Intake, Depends(_intake)]
