"""The visa-waiver treaty list: versioned reference data, not code.

Treaties change by decree, so the list ships as data (``data/treaties.json``)
and every service compares versions to know which list is newest. Each entry's
instrument and public source: docs/domain/waivers.md. Whether an entry covers one
person's stay (passport, stay, validity, purpose) is judged in ``coverage.py``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.contracts import PassportType
from shared.mrz import iso_code  # ICAO's "D" is Germany: the list keeps ISO 3166-1 alpha-3 codes

# "YYYY-MM-DD.N": the date a list was published and a same-day revision number.
VERSION_PATTERN = r"^\d{4}-\d{2}-\d{2}\.\d+$"

Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]

# The meaning of an entry's fields. A release that reads entries differently (format 2: ``verified`` decides
# whether an entry applies, ``decided_by`` which of the person's codes it matches) keeps its lists under keys
# of its own (``cache.py``), so it never misreads a list cached by another format, nor does that one misread it.
LIST_FORMAT = 2


class Purpose(StrEnum):
    """What a stay is for, as the instruments that restrict it name it (docs/domain/waivers.md)."""

    OFFICIAL_ACTIVITY = "OFFICIAL_ACTIVITY"  # a mission for a government or an international organization
    TOURISM = "TOURISM"
    TRANSIT = "TRANSIT"  # "travel to a third country"
    OTHER = "OTHER"  # anything else, e.g. an ENIEX's technical cooperation


PURPOSE_WORDS = {
    Purpose.OFFICIAL_ACTIVITY: "official activity",
    Purpose.TOURISM: "tourism",
    Purpose.TRANSIT: "transit to a third country",
    Purpose.OTHER: "another activity",
}


def version_order(version: str) -> tuple[dt.date, int]:
    """Sort key for versions; a plain string sort would put ".10" before ".9"."""
    day, _, revision = version.partition(".")
    return dt.date.fromisoformat(day), int(revision)


class TreatyEntry(BaseModel):
    # Unknown keys are ignored rather than rejected so an older service can still
    # read a list published by a newer release that added fields.
    model_config = ConfigDict(frozen=True)

    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    country_name: Annotated[str, StringConstraints(min_length=1)]
    passport_types: tuple[PassportType, ...] = Field(min_length=1)
    # None means the instrument does not state it, not "unlimited".
    max_stay_days: int | None = Field(default=None, ge=1)
    window_days: int | None = Field(default=None, ge=1)
    min_passport_validity_months: int | None = Field(default=None, ge=0)
    instrument: Annotated[str, StringConstraints(min_length=1)]
    # Both bounds are inclusive; None means open-ended (or not known).
    in_force_from: dt.date | None = None
    in_force_until: dt.date | None = None
    source: Annotated[str, StringConstraints(min_length=1)]
    # An entry whose instrument could not be read (a news report, a visa agency's notice) is kept, marked,
    # and not applied: ``note`` says why. A verified entry's ``note`` records the project's conversions.
    verified: bool
    note: str | None = None
    # Whose code the entry matches: the holder's nationality ("Los nacionales de …", "citizens of the
    # Union") or the passport's issuing state ("passports of the Holy See").
    decided_by: Literal["nationality", "issuing_state"] = "nationality"
    # The purposes the instrument covers; None: it restricts none (its ``conditions`` may still exclude some).
    purposes: tuple[Purpose, ...] | None = None
    # Other conditions in the instrument's words, told to the sponsor with the answer.
    conditions: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _window_is_coherent(self) -> TreatyEntry:
        if self.in_force_from and self.in_force_until and self.in_force_until < self.in_force_from:
            raise ValueError(f"{self.country}: in_force_until is before in_force_from")
        if self.window_days is not None and (self.max_stay_days is None or self.window_days < self.max_stay_days):
            raise ValueError(f"{self.country}: a window of {self.window_days} days needs a shorter max_stay_days")
        if not self.verified and not (self.note or "").strip():
            raise ValueError(f"{self.country}: an unverified entry says why in its note")
        return self

    def in_force_on(self, on: dt.date) -> bool:
        if self.in_force_from is not None and on < self.in_force_from:
            return False
        return self.in_force_until is None or on <= self.in_force_until

    def matches(self, nationality: str, issuing_state: str) -> bool:
        """Whether the entry speaks of this person: by nationality or by the passport's issuing state."""
        code = nationality if self.decided_by == "nationality" else issuing_state
        return self.country == iso_code(code)

    def exempts(self, nationality: str, passport_type: PassportType, on: dt.date) -> bool:
        return self.country == iso_code(nationality) and passport_type in self.passport_types and self.in_force_on(on)


class TreatyList(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: Version
    published: dt.date
    entries: tuple[TreatyEntry, ...]

    @field_validator("version")
    @classmethod
    def _version_is_a_real_date(cls, value: str) -> str:
        version_order(value)  # the pattern accepts 2026-13-45; this does not
        return value

    @property
    def order(self) -> tuple[dt.date, int]:
        return version_order(self.version)

    def waiver_for(
        self, nationality: str, passport_type: PassportType, on: dt.date, *, include_unverified: bool = False
    ) -> TreatyEntry | None:
        """The entry exempting this passport from a short-stay visa on ``on``, else None (the question of
        ``GET /v1/visa-waivers``: the code stands for both the nationality and the issuing state).

        A country may hold several entries over time (an agreement replaced by
        another), so the date decides which one applies. Unverified entries apply only when asked.
        """
        return next(
            (
                e
                for e in self.entries
                if (e.verified or include_unverified) and e.exempts(nationality, passport_type, on)
            ),
            None,
        )

    def candidates(
        self, nationality: str, issuing_state: str, on: dt.date, *, include_unverified: bool = False
    ) -> tuple[TreatyEntry, ...]:
        """The entries that speak of this person on ``on``, in the list's order (bilateral agreements before
        the EU's); whether one covers the stay is ``coverage.judge``'s question."""
        return tuple(
            e
            for e in self.entries
            if (e.verified or include_unverified) and e.in_force_on(on) and e.matches(nationality, issuing_state)
        )


def load_bundled() -> TreatyList:
    """The list shipped with this release (read through importlib.resources so it works from a wheel)."""
    text = resources.files("shared.treaties").joinpath("data/treaties.json").read_text(encoding="utf-8")
    return TreatyList.model_validate_json(text)
