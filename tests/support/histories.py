"""Signed event histories built from the real contract models, as the services would have published them.

``Story`` writes one log: each step wraps a contract model in its CloudEvents envelope (with the cause),
signs it with its producer's key as the bus does (over the JSON it is published as), and appends it.
``consistent_history()`` is the reference story an audit must find clean; tests break it one way each.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.issuance.visas import machine_readable_zone, visa_number
from shared.contracts import (
    AuthorizationDenied,
    AuthorizationGranted,
    AuthorizationNotRequired,
    AuthorizationRevoked,
    Decision,
    Envelope,
    EventData,
    FunctionsEnded,
    ImmigrationStatus,
    NoteVerbale,
    Passport,
    PassportType,
    Person,
    PersonDecision,
    PersonNotRequired,
    Relationship,
    RequestSubmitted,
    ReviewStarted,
    Sex,
    Sponsor,
    SponsorKind,
    VisaCancelled,
    VisaIssued,
    VisaSuperseded,
    Waiver,
)
from shared.contracts.registry import PRODUCERS, producer_of, source_of
from shared.signing import KeyRing, SigningKey

KEYS_VALID_FROM = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
DECIDED_AT = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
VALID_FROM, VALID_UNTIL = dt.date(2026, 11, 20), dt.date(2029, 11, 19)

Event = dict[str, Any]


@dataclass(frozen=True)
class Signers:
    """One signing key per producing service, and the ring that trusts exactly those keys."""

    keys: dict[str, SigningKey]
    ring: KeyRing

    @classmethod
    def generate(cls, valid_from: dt.datetime = KEYS_VALID_FROM) -> Signers:
        keys, ring = {}, KeyRing()
        for service in PRODUCERS:
            keys[service], entry = SigningKey.generate(service, valid_from)
            ring = ring.with_entry(entry)
        return cls(keys, ring)

    def sign(self, envelope: Envelope, service: str | None = None) -> Event:
        """As the bus signs: over the JSON the envelope is published as; by its type's owner unless told."""
        return self.resign(json.loads(envelope.to_json()), service)

    def resign(self, event: Event, service: str | None = None) -> Event:
        """``event`` (changed or not) signed anew, by its type's owner unless ``service`` is named."""
        return self.keys[service or producer_of(event["type"]) or ""].sign(copy.deepcopy(event))


def person(person_id: str, *, role: str = "PRINCIPAL", given_names: str = "ANNA MARIA", passport: str = "D1234567"):
    return Person(
        person_id=person_id,
        role=role,
        relationship=None if role == "PRINCIPAL" else Relationship.SPOUSE,
        surnames="ERIKSSON",
        given_names=given_names,
        sex=Sex.FEMALE if role == "PRINCIPAL" else Sex.MALE,
        date_of_birth=dt.date(1974, 8, 12) if role == "PRINCIPAL" else dt.date(1972, 3, 2),
        nationality="SWE",
        passport=Passport(
            number=passport, type=PassportType.DIPLOMATIC, issuing_state="SWE", expires_on=dt.date(2032, 5, 1)
        ),
    )


@dataclass
class Story:
    """A log being written, event by event; ``records()`` numbers it from ``first_offset``."""

    signers: Signers = field(default_factory=Signers.generate)
    events: list[Event] = field(default_factory=list)
    first_offset: int = 0
    steps: dict[str, Event] = field(default_factory=dict)  # events by name, for tests to pick and break
    _visa_seq: int = 0

    def append(self, event: Event) -> Event:
        self.events.append(event)
        return event

    def emit(self, data: EventData, cause: Event | None = None, *, service: str | None = None) -> Event:
        producer = service or producer_of(data.event_type) or ""
        causation = Envelope.model_validate(cause) if cause is not None else None
        envelope = Envelope.wrap(data, source=source_of(producer), causation=causation)
        return self.append(self.signers.sign(envelope, service))

    def records(self) -> list[tuple[int, Event]]:
        return [(self.first_offset + index, event) for index, event in enumerate(self.events)]

    # -- the steps of a request's life ------------------------------------------------------------------

    def submit(self, request_id: str, *, family: int = 1) -> Event:
        people = [person(f"{request_id}-p0")] + [
            person(f"{request_id}-p{n}", role="FAMILY", given_names="LARS", passport=f"D765432{n}")
            for n in range(1, family + 1)
        ]
        data = RequestSubmitted(
            request_id=request_id,
            sponsor=Sponsor(id="sponsor-swe", kind=SponsorKind.GOVERNMENT, name="Embassy of Sweden", country="SWE"),
            immigration_status=ImmigrationStatus.DIPLOMATIC_RESIDENT,
            note_verbale=NoteVerbale(number="NV-123/2026", date=dt.date(2026, 11, 13)),
            function="First Secretary",
            intended_arrival=dt.date(2027, 1, 15),
            posting_end=dt.date(2030, 1, 14),
            principal=people[0],
            family=tuple(people[1:]),
            submitted_at=DECIDED_AT - dt.timedelta(days=1),
        )
        return self.emit(data)

    def review(self, submitted: Event) -> Event:
        request_id = submitted["data"]["request_id"]
        return self.emit(ReviewStarted(request_id=request_id, case_id=f"case-{request_id}"), submitted)

    def decide(
        self,
        submitted: Event,
        authorization_id: str,
        *,
        denied: Iterable[str] = (),
        cause: Event | None = None,
        without: Iterable[str] = (),
    ) -> Event:
        """A grant to everyone not in ``denied`` (person ids); an AuthorizationDenied when nobody is left. The
        people ``without`` (those a waiver covers, see ``waive``) are not in it."""
        denied, without = set(denied), set(without)
        submission = RequestSubmitted.model_validate(submitted["data"])
        decisions = tuple(
            PersonDecision(
                person_id=applicant.person_id,
                decision=Decision.DENIED if applicant.person_id in denied else Decision.GRANTED,
                reasons=("passport-expired",) if applicant.person_id in denied else (),
                person=applicant,
                valid_from=None if applicant.person_id in denied else VALID_FROM,
                valid_until=None if applicant.person_id in denied else VALID_UNTIL,
            )
            for applicant in submission.people
            if applicant.person_id not in without
        )
        model = AuthorizationDenied if all(d.decision is Decision.DENIED for d in decisions) else AuthorizationGranted
        data = model(
            request_id=submission.request_id,
            authorization_id=authorization_id,
            immigration_status=submission.immigration_status,
            decisions=decisions,
            decided_by="officer-1",
            decided_at=DECIDED_AT,
        )
        return self.emit(data, cause or submitted)

    def waive(self, submitted: Event, case_id: str, person_ids: Iterable[str], cause: Event | None = None) -> Event:
        """An AuthorizationNotRequired: a waiver treaty covers these people's short stay."""
        submission = RequestSubmitted.model_validate(submitted["data"])
        wanted = set(person_ids)
        data = AuthorizationNotRequired(
            request_id=submission.request_id,
            case_id=case_id,
            people=tuple(
                PersonNotRequired(
                    person_id=applicant.person_id,
                    person=applicant,
                    waiver=Waiver(
                        country="SWE",
                        instrument="EU-Peru short-stay visa waiver agreement",
                        source="Council Decision (EU) 2016/1744",
                        max_stay_days=90,
                        window_days=180,
                        stay_days=90,
                        stay_assumed=True,
                        conditions=("not for the purpose of carrying out a paid activity",),
                    ),
                )
                for applicant in submission.people
                if applicant.person_id in wanted
            ),
            decided_by="policy",
            decided_at=DECIDED_AT,
        )
        return self.emit(data, cause or submitted)

    def issue(self, decision: Event, person_id: str, *, number: str | None = None) -> Event:
        if number is None:
            self._visa_seq += 1
            number = visa_number("PE", self._visa_seq)
        grant = AuthorizationGranted.model_validate(decision["data"])
        applicant = next(d.person for d in grant.decisions if d.person_id == person_id)
        data = VisaIssued(
            request_id=grant.request_id,
            authorization_id=grant.authorization_id,
            person_id=person_id,
            person=applicant,
            visa_number=number,
            immigration_status=grant.immigration_status,
            valid_from=VALID_FROM,
            valid_until=VALID_UNTIL,
            mrz=machine_readable_zone(number, applicant, grant.immigration_status, VALID_UNTIL),
            issued_at=DECIDED_AT + dt.timedelta(seconds=1),
        )
        return self.emit(data, decision)

    def revoke(self, decision: Event, *, person_ids: Iterable[str] = (), visa_numbers: Iterable[str] = ()) -> Event:
        data = AuthorizationRevoked(
            request_id=decision["data"]["request_id"],
            authorization_id=decision["data"]["authorization_id"],
            person_ids=tuple(person_ids),
            visa_numbers=tuple(visa_numbers),
            reason="end of mission",
            revoked_by="officer-1",
            revoked_at=DECIDED_AT + dt.timedelta(days=30),
        )
        return self.emit(data, decision)

    def cancel(self, revocation: Event, issued: Event) -> Event:
        visa = issued["data"]
        data = VisaCancelled(
            request_id=visa["request_id"],
            authorization_id=visa["authorization_id"],
            person_id=visa["person_id"],
            visa_number=visa["visa_number"],
            reason=revocation["data"]["reason"],
            revocation_id=revocation["id"],
            cancelled_at=DECIDED_AT + dt.timedelta(days=30, seconds=1),
        )
        return self.emit(data, revocation)

    def renew(self, submitted: Event, issued: Iterable[Event], request_id: str) -> Event:
        """A renewal of the request ``submitted`` (``RequestSubmitted.renews``) for the holders of these visas, as
        intake submits it."""
        visas = [event["data"] for event in issued]
        people = [
            Person.model_validate(visa["person"]).model_copy(update={"person_id": f"{request_id}-p{n}"})
            for n, visa in enumerate(visas)
        ]
        data = RequestSubmitted.model_validate(
            {**submitted["data"], "request_id": request_id}
            | {
                "principal": people[0].model_dump(mode="json"),
                "family": [p.model_dump(mode="json") for p in people[1:]],
                "renews": [
                    {"person_id": p.person_id, "visa_number": v["visa_number"], "request_id": v["request_id"]}
                    for p, v in zip(people, visas, strict=True)
                ],
            }
        )
        return self.emit(data)

    def supersede(self, old: Event, new: Event, *, number: str | None = None) -> Event:
        """The consulate supersedes the visa ``old`` issued by ``new`` (a renewal's VisaIssued)."""
        visa = old["data"]
        data = VisaSuperseded(
            request_id=visa["request_id"],
            authorization_id=visa["authorization_id"],
            person_id=visa["person_id"],
            visa_number=number or visa["visa_number"],
            superseded_by=new["data"]["visa_number"],
            renewal_request_id=new["data"]["request_id"],
            superseded_at=DECIDED_AT + dt.timedelta(days=40),
        )
        return self.emit(data, new)

    def end_functions(self, submitted: Event, person_ids: Iterable[str] = ()) -> Event:
        data = FunctionsEnded(
            request_id=submitted["data"]["request_id"],
            person_ids=tuple(person_ids),
            note_verbale=NoteVerbale(number="NV-200/2027", date=dt.date(2027, 6, 1)),
            reason="end of mission",
            notified_at=DECIDED_AT + dt.timedelta(days=29),
        )
        return self.emit(data, submitted)

    def redeliver(self, event: Event) -> Event:
        """The same event again, as at-least-once delivery may log it: same id, same content."""
        return self.append(copy.deepcopy(event))


def consistent_history(story: Story | None = None) -> Story:
    """The reference story, every invariant holding.

    Request ``r1`` (principal and spouse): submitted, under review, granted to both, two visas issued,
    the grant redelivered, the authorization revoked, both visas cancelled. Request ``r2``: submitted,
    denied. ``story.steps`` names each event.
    """
    story = story or Story()
    steps = story.steps
    steps["submitted"] = story.submit("r1")
    steps["review"] = story.review(steps["submitted"])
    steps["granted"] = story.decide(steps["submitted"], "a1", cause=steps["review"])
    steps["issued_principal"] = story.issue(steps["granted"], "r1-p0")
    steps["issued_spouse"] = story.issue(steps["granted"], "r1-p1")
    steps["redelivered"] = story.redeliver(steps["granted"])
    steps["revoked"] = story.revoke(
        steps["granted"],
        person_ids=("r1-p0", "r1-p1"),
        visa_numbers=(steps["issued_principal"]["data"]["visa_number"], steps["issued_spouse"]["data"]["visa_number"]),
    )
    steps["cancelled_principal"] = story.cancel(steps["revoked"], steps["issued_principal"])
    steps["cancelled_spouse"] = story.cancel(steps["revoked"], steps["issued_spouse"])
    steps["submitted_denied"] = story.submit("r2", family=0)
    steps["denied"] = story.decide(steps["submitted_denied"], "a2", denied=("r2-p0",))
    return story
