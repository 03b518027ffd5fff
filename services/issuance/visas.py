"""Pure rules of a visa's life at the consulate: which visas a grant yields and a revocation cancels, their
number, their MRZ, their standing on a given day. A renewal's visa supersedes the visa it renews
(docs/domain/lifecycle.md, "Renewal")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from shared import mrz
from shared.contracts import Decision, ImmigrationStatus, Person, PersonDecision
from shared.contracts.events import revocation_concerns

# The MRZ's second letter is at each State's discretion (Doc 9303 Part 7, docs/domain/mrz.md): one per status.
TYPE_LETTERS = {
    ImmigrationStatus.DIPLOMATIC_RESIDENT: "D",
    ImmigrationStatus.CONSULAR_RESIDENT: "C",
    ImmigrationStatus.OFFICIAL_RESIDENT: "O",
    ImmigrationStatus.SHORT_STAY: "<",
    ImmigrationStatus.COOPERANT: "K",
}


class Standing(StrEnum):
    VALID = "VALID"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    SUPERSEDED = "SUPERSEDED"


def visa_number(prefix: str, seq: int) -> str:
    """Nine characters, as the MRZ's document number field holds: the post's prefix and a sequence."""
    digits = 9 - len(prefix)
    if seq >= 10**digits:
        raise OverflowError(f"visa numbers with prefix {prefix!r} are exhausted")
    return f"{prefix}{seq:0{digits}d}"


def machine_readable_zone(
    number: str, person: Person, status: ImmigrationStatus, valid_until: dt.date
) -> tuple[str, str]:
    return mrz.mrv_a(
        document_number=number,
        type_letter=TYPE_LETTERS[status],
        issuing_state="PER",
        surnames=person.surnames,
        given_names=person.given_names,
        nationality=person.nationality,
        date_of_birth=person.date_of_birth,
        sex=person.sex.value,
        valid_until=valid_until,
    )


def standing(
    *, valid_from: dt.date, valid_until: dt.date, cancelled: bool, on: dt.date, superseded: bool = False
) -> Standing:
    if cancelled:
        return Standing.CANCELLED
    if superseded:
        return Standing.SUPERSEDED
    if on > valid_until:
        return Standing.EXPIRED
    if on < valid_from:
        return Standing.NOT_YET_VALID
    return Standing.VALID


class MissingValidity(ValueError):
    """A grant without the validity of a person's visa: no retry can mend it."""


class Numbered(Protocol):
    person_id: str
    number: str | None


V = TypeVar("V", bound=Numbered)


class Revocations(Protocol):
    """What a revocation names (``AuthorizationRevoked`` and its stored record both fit)."""

    person_ids: Sequence[str]
    visa_numbers: Sequence[str]


@dataclass(frozen=True)
class VisaTerms:
    """One visa to issue: whom for, and from when to when."""

    person: Person
    valid_from: dt.date
    valid_until: dt.date
    renews: str | None = None  # the number of the visa this one supersedes

    @property
    def person_id(self) -> str:
        return self.person.person_id


def revokes(revocation: Revocations, person_id: str, visa_number: str | None = None) -> bool:
    return revocation_concerns(revocation.person_ids, revocation.visa_numbers, person_id, visa_number)


def visas_to_issue(
    decisions: Iterable[PersonDecision], revocations: Iterable[Revocations], ended: Collection[str] = ()
) -> tuple[list[VisaTerms], list[str]]:
    """The visas a grant yields given the revocations already known, and the people withheld.

    Only granted people get a visa; it never outlives the passport. A revocation that arrived before its
    grant (events about one authorization may cross) withholds the people it covers. A renewal whose visa no
    longer stands (``ended``: numbers cancelled or superseded meanwhile) is withheld too: renewing a cancelled
    visa would revive it, and renewing one twice would leave two visas standing.
    """
    revocations = list(revocations)
    issue, withheld = [], []
    for decision in decisions:
        if decision.decision is not Decision.GRANTED:
            continue
        if decision.valid_from is None or decision.valid_until is None:
            raise MissingValidity(f"grant for {decision.person_id} carries no validity")
        revoked = any(revokes(revocation, decision.person_id) for revocation in revocations)
        if revoked or (decision.renews is not None and decision.renews in ended):
            withheld.append(decision.person_id)
            continue
        person = decision.person
        valid_until = min(decision.valid_until, person.passport.expires_on)
        issue.append(VisaTerms(person, decision.valid_from, valid_until, decision.renews))
    return issue, withheld


def visas_to_cancel(revocation: Revocations, standing_visas: Iterable[V]) -> list[V]:
    """Which of the visas still standing under an authorization a revocation cancels (``person_id``,
    ``number`` of each)."""
    return [visa for visa in standing_visas if revokes(revocation, visa.person_id, visa.number)]
