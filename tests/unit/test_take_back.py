"""A unit of work takes back the events a handler emitted once it learns it has nothing to do: until their outbox rows
are inserted, at the unit's end."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.contracts import ReviewStarted
from shared.messaging import UnitOfWork
from shared.messaging.bus import Additions
from shared.signing import SigningKey


def unit() -> UnitOfWork:
    key, _ = SigningKey.generate("authorization", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    return Additions(None, "urn:pe:rree:visa:authorization", key)  # type: ignore[arg-type]


async def test_the_events_emitted_after_a_mark_are_taken_back():
    uow = unit()
    await uow.emit(ReviewStarted(request_id="r-1", case_id="c-1"))
    mark = len(uow.emitted)
    await uow.emit(ReviewStarted(request_id="r-2", case_id="c-2"))
    await uow.emit(ReviewStarted(request_id="r-3", case_id="c-3"))

    uow.take_back(mark)

    assert [event.subject for event in uow.emitted] == ["r-1"]
    assert [staged.event_id for staged in uow.staged] == [row["event_id"] for row in uow.rows] == [uow.emitted[0].id]


async def test_events_already_staged_cannot_be_taken_back():
    uow = unit()
    await uow.emit(ReviewStarted(request_id="r-1", case_id="c-1"))
    uow.rows = []  # as ``stage`` leaves them once inserted
    with pytest.raises(RuntimeError, match="already staged"):
        uow.take_back(0)
    assert len(uow.emitted) == 1
