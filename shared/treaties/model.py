"""The visa-waiver treaty list: versioned reference data, not code.

Treaties change by decree, so the list ships as data (``data/treaties.json``)
and every service compares versions to know which list is newest. Each entry's
instrument and public source: docs/domain/waivers.md.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.contracts import PassportType

# "YYYY-MM-DD.N": the date a list was published and a same-day revision number.
VERSION_PATTERN = r"^\d{4}-\d{2}-\d{2}\.\d+$"

Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]


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
    verified: bool

    @model_validator(mode="after")
    def _window_is_coherent(self) -> TreatyEntry:
        if self.in_force_from and self.in_force_until and self.in_force_until < self.in_force_from:
            raise ValueError(f"{self.country}: in_force_until is before in_force_from")
        return self

    def in_force_on(self, on: dt.date) -> bool:
        if self.in_force_from is not None and on < self.in_force_from:
            return False
        return self.in_force_until is None or on <= self.in_force_until

    def exempts(self, nationality: str, passport_type: PassportType, on: dt.date) -> bool:
        return self.country == nationality and passport_type in self.passport_types and self.in_force_on(on)


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

    def waiver_for(self, nationality: str, passport_type: PassportType, on: dt.date) -> TreatyEntry | None:
        """The entry exempting this passport from a short-stay visa on ``on``, else None.

        A country may hold several entries over time (an agreement replaced by
        another), so the date decides which one applies.
        """
        code = nationality.upper()
        return next((e for e in self.entries if e.exempts(code, passport_type, on)), None)


def load_bundled() -> TreatyList:
    """The list shipped with this release (read through importlib.resources so it works from a wheel)."""
    text = resources.files("shared.treaties").joinpath("data/treaties.json").read_text(encoding="utf-8")
    return TreatyList.model_validate_json(text)
