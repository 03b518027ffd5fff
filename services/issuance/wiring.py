"""How a route reaches the consulate's use cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .usecases import Consulate


def _consulate(request: Request) -> Consulate:
    return request.app.state.consulate


ConsulateDep = Annotated[Consulate, Depends(_consulate)]
