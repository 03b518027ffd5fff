"""How a request's status follows the events about it, whatever order they arrive in.

Events about one request travel on different routing keys and may overtake each other, so a
person's status only ever moves forward; the request's status is derived from its people's.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "SUBMITTED"
    UNDER_REVIEW = "UNDER_REVIEW"
    AUTHORIZED = "AUTHORIZED"
    DENIED = "DENIED"
    ISSUED = "ISSUED"
    CANCELLED = "CANCELLED"


_RANK = {
    Status.SUBMITTED: 0,
    Status.UNDER_REVIEW: 1,
    Status.AUTHORIZED: 2,
    Status.DENIED: 2,
    Status.ISSUED: 3,
    Status.CANCELLED: 4,
}


def advance(current: Status, reported: Status) -> Status:
    """The person's status once ``reported`` arrives: never backwards, a decision never flips."""
    return reported if _RANK[reported] > _RANK[current] else current


def request_status(people: Iterable[Status]) -> Status:
    """Denied when everyone is; otherwise the least advanced of the people still in the running."""
    statuses = list(people)
    running = [status for status in statuses if status is not Status.DENIED]
    if not running:
        return Status.DENIED
    return min(running, key=_RANK.__getitem__)
