"""Pure rules of a visa's life at the consulate: its number, its MRZ, its standing on a given day."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from shared import mrz
from shared.contracts import ImmigrationStatus, Person

# The MRZ's second letter is at each State's discretion (Doc 9303 Part 7): one per status.
TYPE_LETTERS = {
    ImmigrationStatus.DIPLOMATIC_RESIDENT: "D",
    ImmigrationStatus.CONSULAR_RESIDENT: "C",
    ImmigrationStatus.OFFICIAL_RESIDENT: "O",
    ImmigrationStatus.SHORT_STAY: "<",
}


class Standing(StrEnum):
    VALID = "VALID"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


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


def standing(*, valid_from: dt.date, valid_until: dt.date, cancelled: bool, on: dt.date) -> Standing:
    if cancelled:
        return Standing.CANCELLED
    if on > valid_until:
        return Standing.EXPIRED
    if on < valid_from:
        return Standing.NOT_YET_VALID
    return Standing.VALID
