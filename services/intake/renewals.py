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
from shared.i18n import N_, Message, Refusal

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


class NotRenewable(Refusal, ValueError):
    """The renewal cannot be asked for; the message says why, naming the visa."""

    def __init__(self, why: Message) -> None:
        super().__init__(why.msgid, **why.params)


def why_not_renewable(applicant: Holder, *, renewing: Collection[str], today: dt.date) -> Message | None:
    """Why this person's visa cannot be renewed today, or None when it can."""
    number = applicant.visa_number
    if number is None or applicant.status in (Status.SUBMITTED, Status.UNDER_REVIEW, Status.AUTHORIZED):
        return Message(N_("{person_id} holds no issued visa to renew"), person_id=applicant.person_id)
    if applicant.status == Status.CANCELLED:
        return Message(
            N_("visa {number} was cancelled: a cancelled visa is not renewed, submit a new request"), number=number
        )
    if applicant.status == Status.SUPERSEDED:
        return Message(N_("visa {number} was already renewed: renew the visa that superseded it"), number=number)
    if applicant.visa_valid_until is not None and applicant.visa_valid_until < today:
        return Message(
            N_("visa {number} expired on {date}: an expired visa is not renewed, submit a new request"),
            number=number,
            date=applicant.visa_valid_until,
        )
    if number in renewing:
        return Message(N_("visa {number} is already being renewed"), number=number)
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
        raise NotRenewable(Message(N_("a short-stay visa is not renewed: submit a new request for a new stay")))
    ordered = sorted(applicants, key=lambda applicant: applicant.position)
    if person_ids is None:
        chosen = [a for a in ordered if why_not_renewable(a, renewing=renewing, today=today) is None]
        if not chosen or chosen[0].role != "PRINCIPAL":
            principal = ordered[0]
            reason = why_not_renewable(principal, renewing=renewing, today=today)
            raise NotRenewable(
                Message(
                    N_("the principal's visa cannot be renewed ({reason}), nor can the family's without it"),
                    reason=reason,
                )
            )
        return chosen
    named = set(person_ids)
    chosen = [a for a in ordered if a.person_id in named]
    for applicant in chosen:
        if (reason := why_not_renewable(applicant, renewing=renewing, today=today)) is not None:
            raise NotRenewable(reason)
    if not chosen or chosen[0].role != "PRINCIPAL":
        raise NotRenewable(
            Message(N_("a family member's visa is renewed with the principal's: name the principal too"))
        )
    return chosen


# A notice of the end of functions concerns people who hold an authorization or a visa.
_ENDABLE = frozenset({Status.AUTHORIZED, Status.ISSUED})


def ended_by_notice(applicants: Iterable[Holder], person_ids: Collection[str]) -> list[str]:
    """The people a notice of the end of functions (for ``person_ids``; everyone when empty) can still concern:
    those holding an authorization or a visa. Empty: the notice would have no effect, and is refused."""
    return [a.person_id for a in applicants if (not person_ids or a.person_id in person_ids) and a.status in _ENDABLE]
