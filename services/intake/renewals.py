"""Which visas of a request a renewal may renew, and whom a notice of the end of functions concerns. Pure.

A renewal asks MRE for new visas for people whose visas still stand (a new posting end, a new note verbale);
the Directorate decides it like a request, and each new visa supersedes the one it renews
(docs/domain/lifecycle.md, "Renewal"). A visa that no longer stands is not renewed: its holder needs a new
request. A family member's status derives from the principal's (docs/domain/statuses.md), so their visa is
renewed with the principal's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Protocol, TypeVar

from shared.contracts import ImmigrationStatus

from .progress import Status


class Holder(Protocol):
    """One applicant as intake keeps them (``models.Applicant`` fits)."""

    person_id: str
    role: str
    position: int
    status: str
    visa_number: str | None
    visa_valid_until: dt.date | None


H = TypeVar("H", bound=Holder)


class NotRenewable(ValueError):
    """The renewal cannot be asked for; the message says why, naming the visa."""


def why_not_renewable(applicant: Holder, *, renewing: Collection[str], today: dt.date) -> str | None:
    """Why this person's visa cannot be renewed today, or None when it can."""
    number = applicant.visa_number
    if number is None or applicant.status in (Status.SUBMITTED, Status.UNDER_REVIEW, Status.AUTHORIZED):
        return f"{applicant.person_id} holds no issued visa to renew"
    if applicant.status == Status.CANCELLED:
        return f"visa {number} was cancelled: a cancelled visa is not renewed, submit a new request"
    if applicant.status == Status.SUPERSEDED:
        return f"visa {number} was already renewed: renew the visa that superseded it"
    if applicant.visa_valid_until is not None and applicant.visa_valid_until < today:
        return f"visa {number} expired on {applicant.visa_valid_until}: an expired visa is not renewed, submit a new request"
    if number in renewing:
        return f"visa {number} is already being renewed"
    return None


def renewable(
    status: ImmigrationStatus,
    applicants: Sequence[H],
    person_ids: Iterable[str] | None,
    *,
    renewing: Collection[str],
    today: dt.date,
) -> list[H]:
    """The applicants whose visas the renewal renews, principal first, in request order.

    ``person_ids`` None: every visa of the request that still stands (the principal's must). Named people: each
    visa must stand, and the principal must be among them. ``renewing``: numbers of visas already being renewed.
    """
    if status is ImmigrationStatus.SHORT_STAY:
        raise NotRenewable("a short-stay visa is not renewed: submit a new request for a new stay")
    ordered = sorted(applicants, key=lambda applicant: applicant.position)
    if person_ids is None:
        chosen = [a for a in ordered if why_not_renewable(a, renewing=renewing, today=today) is None]
        if not chosen or chosen[0].role != "PRINCIPAL":
            principal = ordered[0]
            reason = why_not_renewable(principal, renewing=renewing, today=today)
            raise NotRenewable(f"the principal's visa cannot be renewed ({reason}), nor can the family's without it")
        return chosen
    named = set(person_ids)
    chosen = [a for a in ordered if a.person_id in named]
    for applicant in chosen:
        if (reason := why_not_renewable(applicant, renewing=renewing, today=today)) is not None:
            raise NotRenewable(reason)
    if not chosen or chosen[0].role != "PRINCIPAL":
        raise NotRenewable("a family member's visa is renewed with the principal's: name the principal too")
    return chosen


# A notice of the end of functions concerns people who hold an authorization or a visa.
_ENDABLE = frozenset({Status.AUTHORIZED, Status.ISSUED})


def ended_by_notice(applicants: Iterable[Holder], person_ids: Collection[str]) -> list[str]:
    """The people a notice of the end of functions (for ``person_ids``; everyone when empty) can still concern:
    those holding an authorization or a visa. Empty: the notice would have no effect, and is refused."""
    return [a.person_id for a in applicants if (not person_ids or a.person_id in person_ids) and a.status in _ENDABLE]
