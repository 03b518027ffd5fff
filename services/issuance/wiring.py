"""How a route reaches the consulate's use cases, and its printer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .sticker import Printer
from .usecases import Consulate


async def _consulate(request: Request) -> Consulate:
    return request.app.state.consulate


ConsulateDep = Annotated[Consulate, Depends(_consulate)]


async def _printer(request: Request) -> Printer:
    return request.app.state.printer


PrinterDep = Annotated[Printer, Depends(_printer)]
