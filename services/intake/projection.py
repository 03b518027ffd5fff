"""Intake keeps each request's status current from the downstream events."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from shared.contracts import (
    AuthorizationDenied,
    AuthorizationGranted,
    AuthorizationRevoked,
    Decision,
    ReviewStarted,
    VisaCancelled,
    VisaIssued,
)
from shared.messaging import UnitOfWork

from .models import Applicant, VisaRequest
from .progress import Status, advance, request_status

log = logging.getLogger("visa.intake")


async def _request(uow: UnitOfWork, request_id: str) -> VisaRequest | None:
    # The row lock serializes every event about one request: each sees what the previous one wrote.
    request = await uow.session.get(VisaRequest, request_id, with_for_update=True)
    if request is None:
        # Not ours (another intake's), or a foreign producer: nothing to keep current.
        log.warning("event about unknown request %s ignored", request_id)
    return request


def _refresh(request: VisaRequest) -> None:
    status = request_status(Status(applicant.status) for applicant in request.applicants)
    if status != request.status:
        log.info("request %s is %s", request.id, status)
    request.status = status
    request.updated_at = dt.datetime.now(dt.UTC)


def _move(applicant: Applicant, reported: Status) -> bool:
    before = applicant.status
    applicant.status = advance(Status(applicant.status), reported)
    return applicant.status != before


async def _report(uow: UnitOfWork, request_id: str, changes: Iterable[tuple[str | None, Status]]) -> VisaRequest | None:
    """Apply (person_id, status) reports; a ``None`` person means everyone in the request."""
    request = await _request(uow, request_id)
    if request is None:
        return None
    for person_id, status in changes:
        for applicant in request.applicants:
            if person_id is None or applicant.person_id == person_id:
                _move(applicant, status)
    _refresh(request)
    return request


async def on_review_started(uow: UnitOfWork, event: ReviewStarted) -> None:
    await _report(uow, event.request_id, [(None, Status.UNDER_REVIEW)])


async def on_decided(uow: UnitOfWork, event: AuthorizationGranted | AuthorizationDenied) -> None:
    request = await _request(uow, event.request_id)
    if request is None:
        return
    decisions = {decision.person_id: decision for decision in event.decisions}
    for applicant in request.applicants:
        decision = decisions.get(applicant.person_id)
        if decision is None:
            continue
        granted = decision.decision is Decision.GRANTED
        _move(applicant, Status.AUTHORIZED if granted else Status.DENIED)
        if applicant.decision is None:
            applicant.decision = decision.decision.value
            applicant.reasons = [*decision.reasons, *applicant.reasons]
    _refresh(request)


async def on_revoked(uow: UnitOfWork, event: AuthorizationRevoked) -> None:
    # People not yet issued lose their authorization now, even if the grant has not reached us yet;
    # issued visas stay ISSUED until the consulate reports them cancelled (VisaCancelled).
    request = await _request(uow, event.request_id)
    if request is None:
        return
    for applicant in request.applicants:
        if event.concerns(applicant.person_id, applicant.visa_number) and applicant.status not in (
            Status.DENIED,
            Status.ISSUED,
            Status.CANCELLED,
        ):
            _move(applicant, Status.CANCELLED)
            applicant.reasons = [*applicant.reasons, f"authorization revoked: {event.reason}"]
    _refresh(request)


async def on_issued(uow: UnitOfWork, event: VisaIssued) -> None:
    request = await _request(uow, event.request_id)
    if request is None:
        return
    for applicant in request.applicants:
        if applicant.person_id == event.person_id:
            _move(applicant, Status.ISSUED)
            applicant.visa_number = event.visa_number
            applicant.visa_valid_from = event.valid_from
            applicant.visa_valid_until = event.valid_until
            applicant.visa_mrz = list(event.mrz)
    _refresh(request)


async def on_cancelled(uow: UnitOfWork, event: VisaCancelled) -> None:
    request = await _report(uow, event.request_id, [(event.person_id, Status.CANCELLED)])
    if request is not None:
        for applicant in request.applicants:
            if applicant.person_id == event.person_id:
                applicant.reasons = [*applicant.reasons, f"visa cancelled: {event.reason}"]


HANDLERS = {
    ReviewStarted: on_review_started,
    AuthorizationGranted: on_decided,
    AuthorizationDenied: on_decided,
    AuthorizationRevoked: on_revoked,
    VisaIssued: on_issued,
    VisaCancelled: on_cancelled,
}
