"""The Directorate of Privileges' legal rules, as pure functions: no I/O, no clock (``today`` is given).

Sources: docs/domain/statuses.md (the consulate's page,
http://www.consulado.pe/es/roma/tramite/Paginas/Visadiplom%C3%A1tica.aspx) and docs/domain/waivers.md.
Each rule returns the violations it finds and ``assess`` composes them. A violation is a reason to
deny ("a failed legal rule is a denial with its reason"), not an intake error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from shared.contracts import ImmigrationStatus as Status
from shared.contracts import PassportType, Person, RequestSubmitted, SponsorKind
from shared.contracts.people import MAX_VALIDITY_YEARS, Plausibility, add_days, add_years, existing_country_code
from shared.mrz import transliterate
from shared.treaties.coverage import Coverage, Covered, Stay, judge, purpose_of
from shared.treaties.model import TreatyEntry

RESIDENT = frozenset({Status.DIPLOMATIC_RESIDENT, Status.CONSULAR_RESIDENT, Status.OFFICIAL_RESIDENT})
# Default length of a short-stay visa. Configuration-worthy: the treaties range from 30 to 90 days.
SHORT_STAY_DAYS = 90
# Intake judges plausibility by its clock on the day of submission; this much slack absorbs another
# clock or time zone, so that nothing intake admitted is ever found implausible here.
PLAUSIBILITY_SLACK_DAYS = 2

# docs/domain/statuses.md: consular and diplomatic status "por encargo y a solicitud de su Gobierno";
# official status "a solicitud de su Gobierno o de una Organización u Organismo Internacional". ENIEX are
# named only among the Directorate's functions: their staff likely fall under a status not modelled yet.
ENTITLED_SPONSORS: dict[Status, frozenset[SponsorKind]] = {
    Status.DIPLOMATIC_RESIDENT: frozenset({SponsorKind.GOVERNMENT}),
    Status.CONSULAR_RESIDENT: frozenset({SponsorKind.GOVERNMENT}),
    Status.OFFICIAL_RESIDENT: frozenset({SponsorKind.GOVERNMENT, SponsorKind.INTERNATIONAL_ORGANIZATION}),
    Status.SHORT_STAY: frozenset(SponsorKind),
}
_SPONSOR = {
    SponsorKind.GOVERNMENT: "a foreign government",
    SponsorKind.INTERNATIONAL_ORGANIZATION: "an international organization",
    SponsorKind.ENIEX: "an ENIEX (foreign technical-cooperation entity)",
}


class WaiverLookup(Protocol):
    """What the rules need from the treaty list (shared.treaties.model.TreatyList fits)."""

    def candidates(self, nationality: str, issuing_state: str, on: dt.date) -> tuple[TreatyEntry, ...]: ...


@dataclass(frozen=True)
class Violation:
    rule: str  # stable code, e.g. "sponsor-not-entitled"
    message: str  # an English sentence for the officer and the sponsor

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass(frozen=True)
class PersonAssessment:
    person_id: str
    violations: tuple[Violation, ...]
    # ``(valid_from, valid_until)`` of the visa the rules allow this person; None when they allow none.
    validity: tuple[dt.date, dt.date] | None = None
    # What the waiver treaties say of this person's short stay (None: not a short stay, or no list given).
    coverage: Coverage | None = None

    @property
    def eligible(self) -> bool:
        return not self.violations

    @property
    def waiver(self) -> Covered | None:
        """The treaty that makes a visa unnecessary: this person is answered NOT_REQUIRED, never denied."""
        return self.coverage if self.eligible and isinstance(self.coverage, Covered) else None


@dataclass(frozen=True)
class Assessment:
    people: tuple[PersonAssessment, ...]  # principal first, then family in request order

    @property
    def anyone_eligible(self) -> bool:
        return any(p.eligible for p in self.people)

    @property
    def anyone_needs_a_visa(self) -> bool:
        """Someone eligible whom no waiver covers: only then is there a visa for the policy or an officer to grant."""
        return any(p.eligible and p.waiver is None for p in self.people)

    def for_person(self, person_id: str) -> PersonAssessment:
        for p in self.people:
            if p.person_id == person_id:
                return p
        raise KeyError(person_id)


def _who(p: Person) -> str:
    return f"{p.given_names} {p.surnames} ({p.person_id})".strip()


def _passport(p: Person) -> str:  # "an ordinary passport", "a laissez-passer"
    kind = p.passport.type.lower().replace("_", "-")
    kind = kind if p.passport.type == PassportType.LAISSEZ_PASSER else f"{kind} passport"
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


# Request-level rules: their violations apply to every person of the request.


def sponsor_entitled(request: RequestSubmitted) -> list[Violation]:
    status, kind = request.immigration_status, request.sponsor.kind
    if kind in ENTITLED_SPONSORS[status]:
        return []
    allowed = " or ".join(_SPONSOR[k] for k in SponsorKind if k in ENTITLED_SPONSORS[status])
    return [
        Violation(
            "sponsor-not-entitled",
            f"{status.replace('_', ' ').capitalize()} status is granted only "
            f"at the request of {allowed}; the sponsor {request.sponsor.name} is {_SPONSOR[kind]}.",
        )
    ]


def documentation(request: RequestSubmitted, *, today: dt.date) -> list[Violation]:
    # Every status is granted "previa consideración de la documentación oficial que acredite el
    # desempeño de dichas funciones": in practice a numbered, dated note verbale naming the function.
    note, problems = request.note_verbale, []
    if note is None or not (note.number or "").strip():
        problems.append("the note verbale has no number")
    elif note.date > today:
        problems.append(f"note verbale {note.number} is dated {note.date}, after today ({today})")
    if not (request.function or "").strip():
        problems.append("the function to be performed is not stated")
    return [Violation("documentation-missing", f"Official documentation is incomplete: {p}.") for p in problems]


def posting_period(request: RequestSubmitted) -> list[Violation]:
    # A resident status lasts as long as the posting; a short stay has no posting.
    end, arrival = request.posting_end, request.intended_arrival
    if request.immigration_status not in RESIDENT or (end is not None and end > arrival):
        return []
    return [
        Violation(
            "posting-period-invalid",
            f"A resident status needs a posting end date after the "
            f"intended arrival ({arrival}); the request gives {end or 'none'}.",
        )
    ]


def _country(code: str) -> str | None:
    try:
        existing_country_code(code)
    except ValueError as error:
        return str(error)
    return None


def _name(name: str) -> str | None:
    try:
        if name.strip():
            transliterate(name)
    except ValueError as error:
        return f"cannot be written in a machine readable zone ({error})"
    return None


def implausible_fields(request: RequestSubmitted) -> list[tuple[str, str]]:
    """``(field, problem)`` for each field no real request holds (docs/plausibility.md).

    Intake refuses them with a 422; an event carrying one anyway (an older intake, another producer)
    is judged by the same bounds, seen from the day it was submitted, so the verdict never changes
    with the day the case is decided.
    """
    bounds = Plausibility(request.submitted_at.date(), slack_days=PLAUSIBILITY_SLACK_DAYS)
    arrival = request.intended_arrival
    checks: list[tuple[str, str | None]] = [
        ("note_verbale.date", bounds.note_verbale_date(request.note_verbale.date)),
        ("intended_arrival", bounds.intended_arrival(arrival)),
    ]
    if request.posting_end is not None:
        checks.append(("posting_end", bounds.posting_end(request.posting_end, arrival)))
    if (departure := request.intended_departure) is not None:
        before = "is before the intended arrival" if departure < arrival else None
        checks.append(("intended_departure", before or bounds.posting_end(departure, arrival)))
    for index, person in enumerate(request.people):
        where = "principal" if index == 0 else f"family[{index - 1}]"
        checks += [
            (f"{where}.surnames", _name(person.surnames)),
            (f"{where}.given_names", _name(person.given_names)),
            (f"{where}.date_of_birth", bounds.date_of_birth(person.date_of_birth)),
            (f"{where}.nationality", _country(person.nationality)),
            (f"{where}.passport.issuing_state", _country(person.passport.issuing_state)),
            (f"{where}.passport.expires_on", bounds.passport_expiry(person.passport.expires_on)),
        ]
    return [(field, problem) for field, problem in checks if problem]


def plausibility(request: RequestSubmitted) -> list[Violation]:
    # Not a legal rule but a precondition of every other: a request no sponsor could really have sent
    # (a posting in the year 9999, a diplomat born in year 1) is denied with its fields named, rather
    # than decided on, or left to fail in date arithmetic. docs/plausibility.md.
    found = implausible_fields(request)
    if not found:
        return []
    fields = "; ".join(f"{field} {problem}" for field, problem in found)
    return [Violation("implausible-request", f"The request holds implausible data: {fields}.")]


# Per-person rules.


def foreign_national(person: Person) -> list[Violation]:
    # docs/domain/statuses.md: every status is granted to "personas extranjeras"; a Peruvian (a spouse, say)
    # enters Peru as a national and can hold no Peruvian visa.
    if person.nationality != "PER":
        return []
    return [
        Violation(
            "peruvian-national",
            f"{_who(person)} is a Peruvian national: the Directorate's statuses are granted to foreigners "
            "only, and a Peruvian enters Peru as a national.",
        )
    ]


def diplomatic_passport(request: RequestSubmitted, person: Person) -> list[Violation]:
    # docs/domain/statuses.md: the principal "sea titular de pasaporte diplomático"; the family nucleus
    # only if they "sean titulares de pasaportes diplomáticos". So only the family members without one fail.
    if request.immigration_status != Status.DIPLOMATIC_RESIDENT or person.passport.type == PassportType.DIPLOMATIC:
        return []
    who = "the official" if person.role == "PRINCIPAL" else "each family member"
    return [
        Violation(
            "diplomatic-passport-required",
            f"Diplomatic resident status requires {who} to hold a "
            f"diplomatic passport; {_who(person)} holds {_passport(person)}.",
        )
    ]


def passport_valid(request: RequestSubmitted, person: Person) -> list[Violation]:
    expires, arrival = person.passport.expires_on, request.intended_arrival
    if expires > arrival:
        return []
    return [
        Violation(
            "passport-expired",
            f"Passport {person.passport.number} of {_who(person)} expires on "
            f"{expires}, not after the intended arrival on {arrival}.",
        )
    ]


def waiver_of(request: RequestSubmitted, person: Person, waivers: WaiverLookup | None) -> Coverage | None:
    """What the treaty list says of this person's short stay; None for a resident status or without a list.

    docs/domain/waivers.md: a treaty covering the stay (passport type, length, passport validity, purpose)
    makes a visa unnecessary. That is no violation: the person is answered NOT_REQUIRED (``cases.conclusion``).
    Waivers cover short stays only: posted staff still need a resident status.
    """
    if waivers is None or request.immigration_status != Status.SHORT_STAY:
        return None
    passport = person.passport
    stay = Stay(
        nationality=person.nationality,
        issuing_state=passport.issuing_state,
        passport_type=passport.type,
        passport_expires_on=passport.expires_on,
        arrival=request.intended_arrival,
        departure=request.intended_departure,
        purpose=purpose_of(request.sponsor.kind),
    )
    return judge(waivers.candidates(person.nationality, passport.issuing_state, request.intended_arrival), stay)


def short_stay(request: RequestSubmitted, person: Person, waivers: WaiverLookup | None) -> list[Violation]:
    if request.immigration_status != Status.SHORT_STAY:
        return []
    # docs/domain/statuses.md: "Procedimiento para solicitar la visa en pasaportes diplomáticos, especiales,
    # oficiales o de servicio" (laissez-passer too, as in DS 042-2024-RE, docs/domain/waivers.md); ordinary
    # passports go through ordinary visas, unless a treaty makes a visa unnecessary (the EU's covers them).
    if person.passport.type == PassportType.ORDINARY and not isinstance(waiver_of(request, person, waivers), Covered):
        return [
            Violation(
                "ordinary-passport",
                f"{_who(person)} holds an ordinary passport; this procedure "
                "covers diplomatic, special, official and service passports and laissez-passer.",
            )
        ]
    return []


def assess(request: RequestSubmitted, *, today: dt.date, waivers: WaiverLookup | None = None) -> Assessment:
    shared = (
        *plausibility(request),
        *sponsor_entitled(request),
        *documentation(request, today=today),
        *posting_period(request),
    )

    def own(p: Person) -> tuple[Violation, ...]:
        return (
            *shared,
            *foreign_national(p),
            *diplomatic_passport(request, p),
            *passport_valid(request, p),
            *short_stay(request, p, waivers),
        )

    def judged(person: Person, violations: tuple[Violation, ...]) -> PersonAssessment:
        coverage = waiver_of(request, person, waivers)
        if isinstance(coverage, Covered) and all(v.rule == "principal-ineligible" for v in violations):
            violations = ()  # a waiver is the holder's own: it does not derive from the principal's status
        window = None if violations else validity(request, person, today=today)
        return PersonAssessment(person.person_id, violations, window, coverage)

    principal = judged(request.principal, own(request.principal))
    family = []
    for member in request.family:
        found = own(member)
        if not principal.eligible:  # the family's status derives from the principal's
            reasons = ", ".join(dict.fromkeys(v.rule for v in principal.violations))
            found += (
                Violation(
                    "principal-ineligible",
                    f"The status of {_who(member)} derives from the principal, "
                    f"{_who(request.principal)}, who is not eligible ({reasons}).",
                ),
            )
        family.append(judged(member, found))
    return Assessment((principal, *family))


def validity(request: RequestSubmitted, person: Person, *, today: dt.date) -> tuple[dt.date, dt.date]:
    """``(valid_from, valid_until)`` of a visa for ``person``.

    Kept simple: valid from ``today`` (the decision date); a window opening shortly before arrival
    would be a refinement. It never outlives the passport; a resident visa ends with the posting
    (lacking a posting end, with the passport), a short-stay one SHORT_STAY_DAYS after arrival.
    For an ineligible person the window may be empty (valid_until before valid_from).

    Whatever the dates, nothing overflows: the end is capped at MAX_VALIDITY_YEARS after ``today``
    (the latest posting end a plausible request can give, docs/plausibility.md) and the arithmetic
    is held within ``date.min``…``date.max``.
    """
    expires = person.passport.expires_on
    if request.immigration_status in RESIDENT:
        end = request.posting_end or expires
    else:
        end = add_days(request.intended_arrival, SHORT_STAY_DAYS)
    return today, min(end, expires, add_years(today, MAX_VALIDITY_YEARS))
