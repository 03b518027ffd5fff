"""Does a waiver treaty cover one person's short stay? Pure: the entry, the stay, the verdict and its reasons.

A treaty entry (``model.py``) says which passports it exempts, for how long, with how much passport validity
left, for which purposes, and whether the holder's nationality or the passport's issuing state decides; a
``Stay`` is what a request says of one person's trip. ``judge`` answers ``Covered`` (the entry, the stay it
covers, every condition the sponsor must know) or ``NotCovered`` (each condition the stay fails, per entry).
The facts and their sources: docs/domain/waivers.md.

The length of a stay counts the day of arrival and the day of departure (1 March to 30 March is 30 days),
as the instruments count "días contados a partir de la fecha de ingreso". A request without an intended
departure is judged as a stay of the treaty's maximum, and the answer says it was assumed: a longer stay
needs a visa.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts import PassportType, SponsorKind
from shared.contracts.people import add_days

from .model import PURPOSE_WORDS, Purpose, TreatyEntry, TreatyList


def purpose_of(sponsor: SponsorKind) -> Purpose:
    """A short stay requested through this procedure is for the sponsor's function (the note verbale names
    it): an official activity for a government or an international organization. An ENIEX (a foreign
    technical-cooperation entity) is neither: its staff's activity is not an official one (project's reading,
    docs/domain/waivers.md)."""
    return Purpose.OTHER if sponsor is SponsorKind.ENIEX else Purpose.OFFICIAL_ACTIVITY


@dataclass(frozen=True)
class Stay:
    """One person's short stay, as the request describes it."""

    nationality: str
    issuing_state: str
    passport_type: PassportType
    passport_expires_on: dt.date
    arrival: dt.date
    departure: dt.date | None  # None: the request does not say
    purpose: Purpose

    @property
    def days(self) -> int | None:
        """Days in Peru, arrival and departure included; None when no departure is given."""
        if self.departure is None:
            return None
        return (self.departure - self.arrival).days + 1


class Gap(StrEnum):
    """Why an entry does not cover a stay."""

    NO_TREATY = "no-treaty"  # no verified entry in force speaks of this person
    PASSPORT_TYPE = "passport-type"
    STAY_TOO_LONG = "stay-too-long"
    PASSPORT_VALIDITY = "passport-validity"
    PURPOSE = "purpose"


@dataclass(frozen=True)
class Shortfall:
    gap: Gap
    message: str  # an English sentence for the officer and the sponsor

    def __str__(self) -> str:
        return f"{self.gap}: {self.message}"


@dataclass(frozen=True)
class Covered:
    """No visa is needed: ``entry`` covers the stay, on these ``conditions``."""

    entry: TreatyEntry
    stay_days: int | None  # the stay judged; the maximum when assumed; None when neither is known
    stay_assumed: bool  # no intended departure: the treaty's maximum stay was assumed
    conditions: tuple[str, ...]

    covered = True


@dataclass(frozen=True)
class NotCovered:
    """A visa is needed: no entry, or each entry's shortfalls (in the list's order)."""

    shortfalls: tuple[tuple[TreatyEntry | None, tuple[Shortfall, ...]], ...]

    covered = False

    @property
    def gaps(self) -> frozenset[Gap]:
        return frozenset(s.gap for _, found in self.shortfalls for s in found)


Coverage = Covered | NotCovered


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later; the month's last day when it has none (31 August + 6 = 28 February)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if year > dt.MAXYEAR:
        return dt.date.max
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _passports(entry: TreatyEntry) -> str:
    kinds = [kind.lower().replace("_", "-") for kind in entry.passport_types]
    return ", ".join(kinds[:-1]) + (" or " if len(kinds) > 1 else "") + kinds[-1]


def _stay_rule(entry: TreatyEntry) -> str:
    if entry.max_stay_days is None:
        return "the instrument states no maximum stay"
    if entry.window_days is None:
        return f"at most {entry.max_stay_days} days from the date of entry"
    return f"at most {entry.max_stay_days} days in any {entry.window_days}-day period: earlier stays in it count"


def shortfalls(entry: TreatyEntry, stay: Stay) -> tuple[Shortfall, ...]:
    """Every condition of ``entry`` the stay fails; empty when the entry covers it."""
    found = []
    if stay.passport_type not in entry.passport_types:
        kind = stay.passport_type.lower().replace("_", "-")
        found.append(
            Shortfall(Gap.PASSPORT_TYPE, f"{entry.instrument} exempts {_passports(entry)} passports, not {kind} ones.")
        )
    days = stay.days
    if entry.max_stay_days is not None and days is not None and days > entry.max_stay_days:
        found.append(
            Shortfall(
                Gap.STAY_TOO_LONG,
                f"the stay of {days} days ({stay.arrival} to {stay.departure}) is longer than the "
                f"{entry.max_stay_days} days {entry.instrument} allows.",
            )
        )
    if entry.min_passport_validity_months is not None:
        needed = add_months(stay.arrival, entry.min_passport_validity_months)
        if stay.passport_expires_on < needed:
            found.append(
                Shortfall(
                    Gap.PASSPORT_VALIDITY,
                    f"{entry.instrument} requires a passport valid {entry.min_passport_validity_months} months "
                    f"from entry (until {needed}); it expires on {stay.passport_expires_on}.",
                )
            )
    if stay.departure is not None and stay.passport_expires_on < stay.departure:
        found.append(
            Shortfall(
                Gap.PASSPORT_VALIDITY,
                f"the passport expires on {stay.passport_expires_on}, before the departure on {stay.departure}.",
            )
        )
    if entry.purposes is not None and stay.purpose not in entry.purposes:
        covered = ", ".join(PURPOSE_WORDS[p] for p in entry.purposes)
        found.append(
            Shortfall(
                Gap.PURPOSE,
                f"{entry.instrument} covers {covered}, not {PURPOSE_WORDS[stay.purpose]}.",
            )
        )
    return tuple(found)


def conditions(entry: TreatyEntry, stay: Stay) -> tuple[str, ...]:
    """What the sponsor must know of a covered stay: length, assumptions, validity, purposes, the rest."""
    said = [_stay_rule(entry)]
    if stay.departure is None and entry.max_stay_days is not None:
        said.append(
            f"no intended departure was given: the stay is assumed to end by "
            f"{add_days(stay.arrival, entry.max_stay_days - 1)}; a longer stay needs a visa"
        )
    if entry.min_passport_validity_months is not None:
        said.append(f"the passport must be valid {entry.min_passport_validity_months} months from the date of entry")
    last_day = stay.departure or (
        add_days(stay.arrival, entry.max_stay_days - 1) if entry.max_stay_days is not None else None
    )
    if stay.departure is None and last_day is not None and stay.passport_expires_on < last_day:
        said.append(f"the passport expires on {stay.passport_expires_on}: the stay must end by then")
    if entry.purposes is not None:
        said.append("for " + ", ".join(PURPOSE_WORDS[p] for p in entry.purposes) + " only")
    said += entry.conditions
    return tuple(said)


def judge(entries: tuple[TreatyEntry, ...], stay: Stay) -> Coverage:
    """The first entry (in the list's order) that covers ``stay``, else why none does."""
    if not entries:
        return NotCovered(((None, (Shortfall(Gap.NO_TREATY, _no_treaty(stay)),)),))
    judged = []
    for entry in entries:
        found = shortfalls(entry, stay)
        if not found:
            assumed = stay.departure is None and entry.max_stay_days is not None
            return Covered(entry, entry.max_stay_days if assumed else stay.days, assumed, conditions(entry, stay))
        judged.append((entry, found))
    return NotCovered(tuple(judged))


def _no_treaty(stay: Stay) -> str:
    if stay.nationality == stay.issuing_state:
        return f"no waiver treaty in force covers {stay.nationality} nationals."
    return f"no waiver treaty in force covers {stay.nationality} nationals or passports of {stay.issuing_state}."


def waiver(treaties: TreatyList, stay: Stay, *, include_unverified: bool = False) -> Coverage:
    """``judge`` over the list's entries that speak of this person on the day of arrival."""
    entries = treaties.candidates(
        stay.nationality, stay.issuing_state, stay.arrival, include_unverified=include_unverified
    )
    return judge(entries, stay)
