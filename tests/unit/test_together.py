"""Deliveries handled together (shared/messaging/together.py): who waits for which group, and what each is told."""

from __future__ import annotations

import asyncio

import pytest

from shared.messaging.together import ALONE, HANDLED, Together


class Groups:
    """A ``handle_group`` that notes each group, holds the first one until ``hold`` is set, and fails on request."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []
        self.started = asyncio.Event()
        self.hold = asyncio.Event()
        self.hold.set()
        self.failing: set[str] = set()

    async def __call__(self, group) -> None:
        self.seen.append(list(group))
        self.started.set()
        if len(self.seen) == 1:
            await self.hold.wait()
        if failing := self.failing & set(group):
            raise RuntimeError(f"failed on {sorted(failing)}")


async def test_a_delivery_that_comes_alone_is_handled_alone():
    groups = Groups()
    together = Together(groups, name="test")

    assert await together.submit("a") == HANDLED
    assert await together.submit("b") == HANDLED  # the queue went quiet in between: a group of its own

    assert groups.seen == [["a"], ["b"]]


async def test_deliveries_that_arrive_while_a_group_is_handled_form_the_next_group():
    groups = Groups()
    groups.hold.clear()
    together = Together(groups, name="test")

    first = asyncio.create_task(together.submit("a"))
    await groups.started.wait()  # "a" is being handled, its transaction open
    later = [asyncio.create_task(together.submit(name)) for name in ("b", "c", "d")]
    await asyncio.sleep(0)  # each later delivery reaches ``submit``
    assert not any(task.done() for task in [first, *later])  # nobody is answered before their group committed
    groups.hold.set()

    assert await asyncio.gather(first, *later) == [HANDLED] * 4
    assert groups.seen == [["a"], ["b", "c", "d"]]


async def test_a_group_is_never_larger_than_the_limit():
    groups = Groups()
    groups.hold.clear()
    together = Together(groups, name="test", limit=2)

    first = asyncio.create_task(together.submit("a"))
    await groups.started.wait()
    later = [asyncio.create_task(together.submit(name)) for name in ("b", "c", "d", "e", "f")]
    await asyncio.sleep(0)
    groups.hold.set()

    assert await asyncio.gather(first, *later) == [HANDLED] * 6
    assert groups.seen == [["a"], ["b", "c"], ["d", "e"], ["f"]]


async def test_when_a_group_fails_each_of_its_deliveries_is_handed_back_to_be_handled_alone():
    groups = Groups()
    groups.hold.clear()
    groups.failing = {"c"}
    together = Together(groups, name="test")

    first = asyncio.create_task(together.submit("a"))
    await groups.started.wait()
    later = [asyncio.create_task(together.submit(name)) for name in ("b", "c", "d")]
    await asyncio.sleep(0)
    groups.hold.set()

    assert await asyncio.gather(first, *later) == [HANDLED, ALONE, ALONE, ALONE]
    # The next delivery starts a group of its own: the failure held nobody back.
    assert await together.submit("e") == HANDLED


async def test_a_delivery_alone_in_a_failed_group_is_told_how_it_failed():
    groups = Groups()
    groups.failing = {"a"}
    together = Together(groups, name="test")

    outcome = await together.submit("a")

    assert isinstance(outcome, RuntimeError)
    assert str(outcome) == "failed on ['a']"
    assert groups.seen == [["a"]]  # tried once: the caller's retries take it from there


async def test_deliveries_left_waiting_when_the_runner_is_cancelled_are_not_answered_as_handled():
    groups = Groups()
    groups.hold.clear()
    together = Together(groups, name="test")

    first = asyncio.create_task(together.submit("a"))
    await groups.started.wait()
    second = asyncio.create_task(together.submit("b"))
    await asyncio.sleep(0)
    together._runner.cancel()  # the service stops while "a" is being handled

    for task in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await task  # not acknowledged: the broker redelivers both
    assert together.waiting == []
