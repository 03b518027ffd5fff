"""The one clock every service reads: injectable, so that a test or a replay can fix "now".

A service is built with a ``Clock`` (``SystemClock`` by default); its use cases receive it, and the
HTTP layer and the event consumers make it ``current()`` while they handle a request or an event, for
the code that cannot be handed one (request validation, an event's timestamp).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    def today(self) -> dt.date:
        """The current date where the service runs."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return dt.date.today()


@dataclass
class FixedClock:
    """A clock that says what it is told: for tests, replays and benchmarks."""

    instant: dt.datetime

    def __post_init__(self) -> None:
        if self.instant.tzinfo is None:
            raise ValueError("a FixedClock needs an aware datetime")

    def now(self) -> dt.datetime:
        return self.instant

    def today(self) -> dt.date:
        return self.instant.date()

    def advance(self, delta: dt.timedelta) -> None:
        self.instant += delta


SYSTEM = SystemClock()
_current: ContextVar[Clock] = ContextVar("visa_clock", default=SYSTEM)


def current() -> Clock:
    """The clock of the request or event being handled; the system clock elsewhere."""
    return _current.get()


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` current for the code inside the block (and the tasks it starts)."""
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)
