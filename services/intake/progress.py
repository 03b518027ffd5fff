"""How a request's status follows the events about it, whatever order they arrive in.

Events about one request travel on different routing keys and may overtake each other, so a
person's status only ever moves forward; the request's status is derived from its people's.

NOT_REQUIRED is a decision like AUTHORIZED and DENIED (same rank, never flipped): a waiver treaty covers the
person's short stay, so no visa is needed, none is issued, and nobody refused one. SUPERSEDED ends a visa as
CANCELLED does, but because a renewal's visa replaced it (docs/domain/lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "SUBMITTED"
    UNDER_REVIEW = "UNDER_REVIEW"
    AUTHORIZED = "AUTHORIZED"
    DENIED = "DENIED"
    NOT_REQUIRED = "NOT_REQUIRED"
    ISSUED = "ISSUED"
    CANCELLED = "CANCELLED"
    SUPERSEDED = "SUPERSEDED"


_RANK = {
    Status.SUBMITTED: 0,
    Status.UNDER_REVIEW: 1,
    Status.AUTHORIZED: 2,
    Status.DENIED: 2,
    Status.NOT_REQUIRED: 2,
    Status.ISSUED: 3,
    Status.CANCELLED: 4,
    Status.SUPERSEDED: 4,
}


def advance(current: Status, reported: Status) -> Status:
    """The person's status once ``reported`` arrives: never backwards, a decision never flips."""
    return reported if _RANK[reported] > _RANK[current] else current


# Final answers that leave a person out of the running for a visa.
SETTLED = frozenset({Status.DENIED, Status.NOT_REQUIRED})


def request_status(people: Iterable[Status]) -> Status:
    """The least advanced of the people still in the running for a visa; once nobody is: NOT_REQUIRED when a
    waiver covers anyone (a request is not denied for a visa it did not need), DENIED when everyone is."""
    statuses = list(people)
    running = [status for status in statuses if status not in SETTLED]
    if not running:
        return Status.NOT_REQUIRED if Status.NOT_REQUIRED in statuses else Status.DENIED
    return min(running, key=_RANK.__getitem__)
