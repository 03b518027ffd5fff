"""The auditor's verdict on a window of the event log, fed one record at a time, in log order.

Each record is checked for its proof of origin (``shared/signing``) and against the committed schemas
(``schemas.py``); one that fails either is reported and not applied, so a forged grant legitimizes
nothing. The admitted events are replayed into a small account of the history (who was granted what,
which visas were issued and cancelled, each request's status by intake's own rules) against which the
invariants are checked; ``finish`` checks those only the whole window can tell, and returns the ``Report``.

Invariants (the ``invariant`` code of each violation): the signature codes of ``SignatureRejected``
(``unsigned``, ``unknown-key``, ``bad-signature``, ``not-owner``, ``key-not-valid``), ``schema``,
``duplicate-id``, ``cause-missing``, ``issued-without-grant``, ``issued-after-denial``,
``issued-after-revocation``, ``revocation-not-executed``, ``cancelled-twice``, ``cancelled-unknown-visa``,
``visa-number-twice``, ``two-live-visas``, ``superseded-unknown-visa``, ``superseded-not-standing`` (a visa superseded
when it was already cancelled or superseded), ``superseded-by-unknown-visa`` (the renewal's visa is not earlier in
the log). A ``FunctionsEnded`` (a sponsor's notice) is counted; its effect is the revocation that follows, checked
as any other. An ``AuthorizationNotRequired`` (a waiver treaty covers these people)
licenses no visa: one issued to a person it names is ``issued-without-grant``.

A window that does not start at the log's beginning (``complete=False``) may refer to what came before
it: a cause, the decision behind a visa, or the visa a cancellation names, missing from the window, are
counted in ``Report.before_window`` instead of being violations.

Memory grows with the history, never with the size of payloads:

* per distinct event id: the id and a 16-byte digest of its RFC 8785 form (redeliveries, conflicting
  duplicates, causes), roughly 200 bytes in CPython;
* per request: its id, and, when its submission is in the window, each person's status and visa number;
* per authorization: its request, the sets of granted, denied and not-required people, each revocation (event id,
  offset, person ids, visa numbers) and the numbers of the visas issued under it;
* per visa: its number, request, authorization, person, and the offsets and ids of its issue and
  cancellation (or supersession);
* per violation: one small dict (a badly broken log makes this the largest part).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.intake.progress import Status, advance, request_status
from shared.contracts.events import (
    AuthorizationDenied,
    AuthorizationGranted,
    AuthorizationNotRequired,
    AuthorizationRevoked,
    Decision,
    FunctionsEnded,
    RequestSubmitted,
    ReviewStarted,
    VisaCancelled,
    VisaIssued,
    VisaSuperseded,
    revocation_concerns,
)
from shared.signing import KeyRing, SignatureRejected

from .schemas import SchemaCheck

DIGEST_BYTES = 16  # enough to tell two contents apart; an event id's whole memory is worth keeping small


def digest(event: Any) -> bytes:
    """A short fingerprint of the event's content, the same for every byte-wise different copy of it."""
    try:
        canonical = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)  # deterministic; it need not be RFC 8785
    except (orjson.JSONEncodeError, TypeError):  # a huge integer: still content, just not orjson's
        canonical = json.dumps(event, sort_keys=True, ensure_ascii=True).encode()
    return hashlib.blake2b(canonical, digest_size=DIGEST_BYTES).digest()


@dataclass
class Report:
    """What the window holds, what breaks an invariant, and the log's account of visas and requests."""

    complete: bool
    events: int = 0  # distinct records, redeliveries collapsed
    by_type: Counter[str] = field(default_factory=Counter)
    redeliveries: int = 0
    before_window: int = 0
    requests: int = 0
    visas_issued: int = 0
    visas_cancelled: int = 0
    visas_superseded: int = 0  # replaced by a renewal's visa
    visas_live: int = 0
    grants: int = 0
    denials: int = 0
    not_required: int = 0  # AuthorizationNotRequired events: people a waiver covers, no visa
    revocations: int = 0
    violations: list[dict[str, Any]] = field(default_factory=list)
    violations_by_invariant: Counter[str] = field(default_factory=Counter)
    first_offset: int | None = None
    last_offset: int | None = None
    # The log's account, to reconcile with what the services hold (see reconcile.py).
    visas: dict[str, dict[str, Any]] = field(default_factory=dict)
    request_statuses: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self, *, accounts: bool = False) -> dict[str, Any]:
        """The report as JSON; the per-visa and per-request accounts only when ``accounts`` (they are large)."""
        summary = {
            "ok": self.ok,
            "complete": self.complete,
            "first_offset": self.first_offset,
            "last_offset": self.last_offset,
            "events": self.events,
            "by_type": dict(sorted(self.by_type.items())),
            "redeliveries": self.redeliveries,
            "before_window": self.before_window,
            "requests": self.requests,
            "grants": self.grants,
            "denials": self.denials,
            "not_required": self.not_required,
            "revocations": self.revocations,
            "visas_issued": self.visas_issued,
            "visas_cancelled": self.visas_cancelled,
            "visas_superseded": self.visas_superseded,
            "visas_live": self.visas_live,
            "violations_by_invariant": dict(sorted(self.violations_by_invariant.items())),
            "violations": self.violations,
        }
        if accounts:
            summary |= {"visas": self.visas, "request_statuses": self.request_statuses}
        return summary


@dataclass(slots=True)
class _Revocation:
    event_id: str
    offset: int
    request_id: str
    person_ids: tuple[str, ...]
    visa_numbers: tuple[str, ...]

    def concerns(self, person_id: str, visa_number: str | None) -> bool:
        return revocation_concerns(self.person_ids, self.visa_numbers, person_id, visa_number)


@dataclass(slots=True)
class _Authorization:
    decided: bool = False  # a validly signed grant or denial of it is in the window
    denied_outright: bool = False  # an AuthorizationDenied carries this id
    granted: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    not_required: set[str] = field(default_factory=set)  # people a waiver covers (the case's id is this id)
    revocations: list[_Revocation] = field(default_factory=list)
    visas: list[str] = field(default_factory=list)  # numbers issued under it, in log order


@dataclass(slots=True)
class _Visa:
    request_id: str
    authorization_id: str
    person_id: str
    offset: int  # of its VisaIssued
    event_id: str
    revoked_before: bool = False  # a revocation concerning it preceded its issue
    cancelled_offset: int | None = None
    cancelled_by: str | None = None  # the revocation id its VisaCancelled cites
    superseded_offset: int | None = None  # of the VisaSuperseded that ended it


@dataclass(slots=True)
class _Request:
    people: dict[str, Status]
    visa_of: dict[str, str] = field(default_factory=dict)  # a revocation may name visas rather than people


class History:
    """Feed every record of the window in order, then ``finish``."""

    def __init__(self, ring: KeyRing, schemas: SchemaCheck, complete: bool) -> None:
        self._ring = ring
        self._schemas = schemas
        self._complete = complete
        self._report = Report(complete=complete)
        self._digests: dict[str, bytes] = {}
        self._unapplied: set[str] = set()  # ids whose only version seen was rejected: a valid one may follow
        self._request_ids: set[str] = set()
        self._requests: dict[str, _Request] = {}  # those submitted in the window: intake's view of them
        self._authorizations: dict[str, _Authorization] = {}
        self._visas: dict[str, _Visa] = {}
        self._apply_by_type = {
            RequestSubmitted.event_type: self._submitted,
            ReviewStarted.event_type: self._review_started,
            AuthorizationGranted.event_type: self._decided,
            AuthorizationDenied.event_type: self._decided,
            AuthorizationNotRequired.event_type: self._not_required,
            AuthorizationRevoked.event_type: self._revoked,
            VisaIssued.event_type: self._issued,
            VisaCancelled.event_type: self._cancelled,
            VisaSuperseded.event_type: self._superseded,
            FunctionsEnded.event_type: self._functions_ended,
        }

    # -- feeding ---------------------------------------------------------------------------------------

    def feed(self, offset: int, event: dict[str, Any]) -> None:
        report = self._report
        if report.first_offset is None:
            report.first_offset = offset
        report.last_offset = offset
        event_id = event.get("id") if isinstance(event, dict) else None
        key = event_id if isinstance(event_id, str) else None  # without an id, schema says so; no dedup
        fingerprint = digest(event)
        conflicting = False
        if key is not None and key in self._digests:
            if self._digests[key] == fingerprint:
                report.redeliveries += 1  # at-least-once delivery: the same event again, applied once
                return
            conflicting = True
            self._violate(offset, event, "duplicate-id", f"event id already seen with other content ({key})")
        report.events += 1
        event_type = event.get("type") if isinstance(event, dict) else None
        report.by_type[event_type if isinstance(event_type, str) else "(none)"] += 1
        if not self._admissible(offset, event):
            if key is not None and not conflicting:
                self._digests[key] = fingerprint
                self._unapplied.add(key)
            return
        if conflicting and key not in self._unapplied:
            return  # the first version was applied and stands; this one was reported
        self._apply(offset, event)
        if key is not None:
            # A forged first copy must not take the id from the genuine event that follows it.
            self._digests[key] = fingerprint
            self._unapplied.discard(key)

    def _admissible(self, offset: int, event: Any) -> bool:
        """Signed by a key owning its type, and valid against the contract: only then is it applied."""
        admissible = True
        if isinstance(event, dict):
            try:
                self._ring.verify(event)
            except SignatureRejected as rejected:
                self._violate(offset, event, rejected.code, rejected.detail)
                admissible = False
        errors = self._schemas.check(event)
        if errors:
            self._violate(offset, event, "schema", "; ".join(errors))
            admissible = False
        return admissible

    def _apply(self, offset: int, event: dict[str, Any]) -> None:
        data = event["data"]
        request_id = data["request_id"]
        self._request_ids.add(request_id)
        cause = event.get("causationid")
        if cause is not None and cause not in self._digests:
            if self._complete:
                self._violate(offset, event, "cause-missing", f"causationid {cause} is not earlier in the log")
            else:
                self._report.before_window += 1
        self._apply_by_type[event["type"]](offset, event, data)

    def _authorization(self, authorization_id: str) -> _Authorization:
        return self._authorizations.setdefault(authorization_id, _Authorization())

    def _move(self, request_id: str, person_id: str | None, reported: Status) -> None:
        """Intake's projection: a person (``None``: everyone) only moves forward."""
        request = self._requests.get(request_id)
        if request is None:
            return  # submitted before the window: intake's status of it cannot be derived from here
        for pid, status in request.people.items():
            if person_id is None or pid == person_id:
                request.people[pid] = advance(status, reported)

    # -- one method per event type ----------------------------------------------------------------------

    def _submitted(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        if data["request_id"] in self._requests:
            return  # a status never moves back to SUBMITTED
        family = [person["person_id"] for person in data.get("family", ())]
        # Dependants joining an authorization: the principal is the earlier request's, decided there.
        people = family if data.get("joins") is not None else [data["principal"]["person_id"], *family]
        self._requests[data["request_id"]] = _Request({pid: Status.SUBMITTED for pid in people})

    def _review_started(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        self._move(data["request_id"], None, Status.UNDER_REVIEW)

    def _decided(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        authorization = self._authorization(data["authorization_id"])
        authorization.decided = True
        if event["type"] == AuthorizationDenied.event_type:
            authorization.denied_outright = True
            self._report.denials += 1
        else:
            self._report.grants += 1
        for decision in data["decisions"]:
            granted = decision["decision"] == Decision.GRANTED
            (authorization.granted if granted else authorization.denied).add(decision["person_id"])
            self._move(data["request_id"], decision["person_id"], Status.AUTHORIZED if granted else Status.DENIED)

    def _not_required(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        # The case's id is the authorization id its grant or denial of the other people (if any) carries.
        people = [person["person_id"] for person in data["people"]]
        self._authorization(data["case_id"]).not_required.update(people)
        self._report.not_required += 1
        for person_id in people:
            self._move(data["request_id"], person_id, Status.NOT_REQUIRED)

    def _revoked(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        revocation = _Revocation(
            event["id"],
            offset,
            data["request_id"],
            tuple(data.get("person_ids", ())),
            tuple(data.get("visa_numbers", ())),
        )
        self._authorization(data["authorization_id"]).revocations.append(revocation)
        self._report.revocations += 1
        request = self._requests.get(data["request_id"])
        if request is None:
            return
        # As intake does: people not yet issued lose their authorization; issued ones wait for VisaCancelled.
        for pid, status in request.people.items():
            if revocation.concerns(pid, request.visa_of.get(pid)) and status not in (
                Status.DENIED,
                Status.NOT_REQUIRED,
                Status.ISSUED,
                Status.CANCELLED,
            ):
                request.people[pid] = advance(status, Status.CANCELLED)

    def _issued(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        number, authorization_id, person_id = data["visa_number"], data["authorization_id"], data["person_id"]
        earlier = self._visas.get(number)
        if earlier is not None:
            self._violate(offset, event, "visa-number-twice", f"visa {number} was issued at offset {earlier.offset}")
            return  # the number names the first visa
        authorization = self._authorizations.get(authorization_id)
        if authorization is not None and person_id in authorization.not_required:
            detail = f"case {authorization_id} answered that {person_id} needs no visa (a waiver treaty)"
            self._violate(offset, event, "issued-without-grant", detail)
        elif authorization is None or not authorization.decided:
            if self._complete:
                detail = f"no validly signed decision on authorization {authorization_id} earlier in the log"
                self._violate(offset, event, "issued-without-grant", detail)
            else:
                self._report.before_window += 1
        elif authorization.denied_outright or person_id in authorization.denied:
            self._violate(offset, event, "issued-after-denial", f"authorization {authorization_id} denied {person_id}")
        elif person_id not in authorization.granted:
            detail = f"authorization {authorization_id} grants nothing to {person_id}"
            self._violate(offset, event, "issued-without-grant", detail)
        authorization = self._authorization(authorization_id)
        live = [other for other in authorization.visas if self._is_live_of(other, person_id)]
        if live:
            detail = f"{person_id} already holds visa {live[0]} of authorization {authorization_id}"
            self._violate(offset, event, "two-live-visas", detail)
        visa = _Visa(data["request_id"], authorization_id, person_id, offset, event["id"])
        # Judged at finish: issuance may have issued before the revocation reached it, and then cancel.
        visa.revoked_before = any(revocation.concerns(person_id, number) for revocation in authorization.revocations)
        self._visas[number] = visa
        authorization.visas.append(number)
        request = self._requests.get(data["request_id"])
        if request is not None and person_id in request.people:
            request.visa_of[person_id] = number
        self._move(data["request_id"], person_id, Status.ISSUED)

    def _is_live_of(self, number: str, person_id: str) -> bool:
        visa = self._visas[number]
        return visa.person_id == person_id and visa.cancelled_offset is None and visa.superseded_offset is None

    def _functions_ended(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        """A sponsor's notice: its effect is the ``AuthorizationRevoked`` it causes, judged as any revocation."""

    def _superseded(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        number, renewal = data["visa_number"], data["superseded_by"]
        visa = self._visas.get(number)
        if visa is None:
            if self._complete:
                self._violate(offset, event, "superseded-unknown-visa", f"visa {number} was never issued")
            else:
                self._report.before_window += 1
            return
        if visa.cancelled_offset is not None or visa.superseded_offset is not None:
            ended = visa.cancelled_offset if visa.cancelled_offset is not None else visa.superseded_offset
            detail = f"visa {number} no longer stood: it ended at offset {ended}"
            self._violate(offset, event, "superseded-not-standing", detail)
            return
        if renewal not in self._visas:
            detail = f"visa {number} is superseded by {renewal}, which is not issued earlier in the log"
            self._violate(offset, event, "superseded-by-unknown-visa", detail)
        visa.superseded_offset = offset
        self._move(data["request_id"], data["person_id"], Status.SUPERSEDED)

    def _cancelled(self, offset: int, event: dict[str, Any], data: dict[str, Any]) -> None:
        self._move(data["request_id"], data["person_id"], Status.CANCELLED)
        number = data["visa_number"]
        visa = self._visas.get(number)
        if visa is None:
            if self._complete:
                self._violate(offset, event, "cancelled-unknown-visa", f"visa {number} was never issued")
            else:
                self._report.before_window += 1
            return
        if visa.cancelled_offset is not None:
            detail = f"visa {number} was already cancelled at offset {visa.cancelled_offset}"
            self._violate(offset, event, "cancelled-twice", detail)
            return
        visa.cancelled_offset = offset
        visa.cancelled_by = data["revocation_id"]

    # -- the verdict ------------------------------------------------------------------------------------

    def finish(self) -> Report:
        report = self._report
        for authorization in self._authorizations.values():
            self._check_revocations_executed(authorization)
        for number, visa in self._visas.items():
            if visa.revoked_before and visa.cancelled_offset is None:
                detail = f"visa {number} issued after its authorization was revoked, and never cancelled"
                self._record(
                    visa.offset,
                    visa.event_id,
                    VisaIssued.event_type,
                    visa.request_id,
                    detail=detail,
                    invariant="issued-after-revocation",
                )
        # Stable: feed order within an offset; what has no offset (a missing manifest) comes last.
        report.violations.sort(key=lambda violation: (violation["offset"] is None, violation["offset"] or 0))
        report.requests = len(self._request_ids)
        report.visas = {
            number: {
                "request_id": visa.request_id,
                "authorization_id": visa.authorization_id,
                "person_id": visa.person_id,
                "cancelled": visa.cancelled_offset is not None,
                "superseded": visa.superseded_offset is not None,
            }
            for number, visa in self._visas.items()
        }
        report.visas_issued = len(self._visas)
        report.visas_cancelled = sum(visa.cancelled_offset is not None for visa in self._visas.values())
        report.visas_superseded = sum(
            visa.superseded_offset is not None and visa.cancelled_offset is None for visa in self._visas.values()
        )
        report.visas_live = report.visas_issued - report.visas_cancelled - report.visas_superseded
        report.request_statuses = {
            request_id: {
                "status": request_status(request.people.values()).value,
                "people": {pid: status.value for pid, status in request.people.items()},
            }
            for request_id, request in self._requests.items()
        }
        return report

    def _check_revocations_executed(self, authorization: _Authorization) -> None:
        """Each visa a revocation concerns is cancelled, citing it or an earlier revocation of its authorization."""
        rank = {revocation.event_id: index for index, revocation in enumerate(authorization.revocations)}
        for index, revocation in enumerate(authorization.revocations):
            for number in authorization.visas:
                visa = self._visas[number]
                if not revocation.concerns(visa.person_id, number):
                    continue
                if visa.cancelled_offset is None:
                    detail = f"visa {number} of {visa.person_id} is never cancelled"
                elif rank.get(visa.cancelled_by or "", -1) > index:
                    detail = f"visa {number} of {visa.person_id} is cancelled only by a later revocation"
                else:
                    continue
                self._record(
                    revocation.offset,
                    revocation.event_id,
                    AuthorizationRevoked.event_type,
                    revocation.request_id,
                    invariant="revocation-not-executed",
                    detail=detail,
                )

    # -- violations -------------------------------------------------------------------------------------

    def flag(self, violation: dict[str, Any]) -> None:
        """A violation found outside the events themselves, e.g. a break of the archive's hash chain."""
        self._record(
            violation.get("offset"),
            violation.get("event_id"),
            violation.get("type"),
            violation.get("request_id"),
            invariant=violation["invariant"],
            detail=violation["detail"],
        )

    def _violate(self, offset: int, event: Any, invariant: str, detail: str) -> None:
        event = event if isinstance(event, dict) else {}
        data = event.get("data")
        request_id = data.get("request_id") if isinstance(data, dict) else None
        self._record(
            offset,
            event.get("id"),
            event.get("type"),
            request_id or event.get("subject"),
            invariant=invariant,
            detail=detail,
        )

    def _record(
        self, offset: int | None, event_id: Any, event_type: Any, request_id: Any, *, invariant: str, detail: str
    ) -> None:
        self._report.violations.append(
            {
                "offset": offset,
                "event_id": event_id,
                "type": event_type,
                "request_id": request_id,
                "invariant": invariant,
                "detail": detail,
            }
        )
        self._report.violations_by_invariant[invariant] += 1
