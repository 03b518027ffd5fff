"""The Directorate of Privileges' legal rules, as pure functions: no I/O, no clock (``today`` is given).

Sources: docs/domain/statuses.md (the consulate's page,
http://www.consulado.pe/es/roma/tramite/Paginas/Visadiplom%C3%A1tica.aspx), docs/domain/family.md,
docs/domain/staff.md and docs/domain/waivers.md. Who counts as family and which staff category may ask for
which status are tables (``rulebook``), not code.
Each rule returns the violations it finds and ``assess`` composes them. A violation is a reason to
deny ("a failed legal rule is a denial with its reason"), not an intake error.

Every violation's words come from ``MESSAGES``: one template per message id (the rule code, or
``code/variant`` where one rule words several findings), with ``{named}`` parameters only, so that a
catalog can give the same message in another language. The labels the parameters are made of
(``STATUS_NAMES``, ``SPONSOR_KINDS``…) are module-level tables for the same reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from shared.contracts import FamilyCondition, PassportType, Person, Relationship, RequestSubmitted, SponsorKind
from shared.contracts import ImmigrationStatus as Status
from shared.contracts import StaffCategory as Staff
from shared.contracts.people import MAX_VALIDITY_YEARS, Plausibility, add_days, add_years, existing_country_code
from shared.contracts.reasons import TEMPLATES
from shared.i18n import N_
from shared.mrz import transliterate
from shared.treaties.coverage import Coverage, Covered, Stay, judge, purpose_of
from shared.treaties.model import TreatyEntry

from .rulebook import FamilyRules, Rulebook, StaffRules, packaged

# docs/domain/staff.md: Cooperante is a resident status (MRE's identity cards list it among them).
RESIDENT = frozenset({Status.DIPLOMATIC_RESIDENT, Status.CONSULAR_RESIDENT, Status.OFFICIAL_RESIDENT, Status.COOPERANT})
# Default length of a short-stay visa. Configuration-worthy: the treaties range from 30 to 90 days.
SHORT_STAY_DAYS = 90
# Intake judges plausibility by its clock on the day of submission; this much slack absorbs another
# clock or time zone, so that nothing intake admitted is ever found implausible here.
PLAUSIBILITY_SLACK_DAYS = 2

# docs/domain/statuses.md: consular and diplomatic status "por encargo y a solicitud de su Gobierno";
# official status "a solicitud de su Gobierno o de una Organización u Organismo Internacional". ENIEX staff
# ask for Cooperante (docs/domain/staff.md: an unverified inference).
ENTITLED_SPONSORS: dict[Status, frozenset[SponsorKind]] = {
    Status.DIPLOMATIC_RESIDENT: frozenset({SponsorKind.GOVERNMENT}),
    Status.CONSULAR_RESIDENT: frozenset({SponsorKind.GOVERNMENT}),
    Status.OFFICIAL_RESIDENT: frozenset({SponsorKind.GOVERNMENT, SponsorKind.INTERNATIONAL_ORGANIZATION}),
    Status.SHORT_STAY: frozenset(SponsorKind),
    Status.COOPERANT: frozenset({SponsorKind.ENIEX}),
}

# --- the words: one template per message id, and the labels its parameters are made of ----------------------

MESSAGES = TEMPLATES  # the words: shared/contracts/reasons.py, one template per message id
STATUS_NAMES: Mapping[Status, str] = MappingProxyType(
    {
        Status.DIPLOMATIC_RESIDENT: N_("Diplomatic resident"),
        Status.CONSULAR_RESIDENT: N_("Consular resident"),
        Status.OFFICIAL_RESIDENT: N_("Official resident"),
        Status.SHORT_STAY: N_("Short stay"),
        Status.COOPERANT: N_("Cooperant"),
    }
)
SPONSOR_KINDS: Mapping[SponsorKind, str] = MappingProxyType(
    {
        SponsorKind.GOVERNMENT: N_("a foreign government"),
        SponsorKind.INTERNATIONAL_ORGANIZATION: N_("an international organization"),
        SponsorKind.ENIEX: N_("an ENIEX (foreign technical-cooperation entity)"),
    }
)
STAFF_CATEGORIES: Mapping[Staff, str] = MappingProxyType(
    {
        Staff.DIPLOMATIC_AGENT: N_("a diplomatic agent"),
        Staff.ADMINISTRATIVE_TECHNICAL_STAFF: N_("a member of the administrative and technical staff"),
        Staff.SERVICE_STAFF: N_("a member of the service staff"),
        Staff.CONSULAR_OFFICER_OR_EMPLOYEE: N_("a consular officer or employee"),
        Staff.INTERNATIONAL_ORGANIZATION_OFFICIAL: N_("an international organization official"),
        Staff.COOPERANT: N_("a cooperant (staff of an ENIEX)"),
    }
)
RELATIONSHIPS: Mapping[Relationship, str] = MappingProxyType(
    {
        Relationship.SPOUSE: N_("a spouse"),
        Relationship.PARTNER: N_("a partner"),
        Relationship.CHILD: N_("a child"),
        Relationship.PARENT: N_("a parent"),
        Relationship.OTHER_DEPENDANT: N_("another dependant"),
    }
)
CONDITIONS: Mapping[FamilyCondition, str] = MappingProxyType(
    {
        FamilyCondition.STUDIES: N_("post-secondary studies"),
        FamilyCondition.DISABILITY: N_("a disability"),
        FamilyCondition.DEPENDENCY: N_("dependency on the principal"),
    }
)
PASSPORTS: Mapping[PassportType, str] = MappingProxyType(
    {
        PassportType.DIPLOMATIC: N_("a diplomatic passport"),
        PassportType.OFFICIAL: N_("an official passport"),
        PassportType.SERVICE: N_("a service passport"),
        PassportType.SPECIAL: N_("a special passport"),
        PassportType.ORDINARY: N_("an ordinary passport"),
        PassportType.LAISSEZ_PASSER: N_("a laissez-passer"),
    }
)
# How a list inside a message is joined ("a foreign government or an international organization").
OR, AND, LIST = " or ", " and ", ", "


class WaiverLookup(Protocol):
    """What the rules need from the treaty list (shared.treaties.model.TreatyList fits)."""

    def candidates(self, nationality: str, issuing_state: str, on: dt.date) -> tuple[TreatyEntry, ...]: ...


@dataclass(frozen=True)
class Violation:
    """A broken rule: its stable code (e.g. ``"sponsor-not-entitled"``) and the parameters of its message.

    ``variant`` picks one of the rule's templates where it words several findings (``MESSAGES`` key
    ``rule/variant``); ``message`` is the template formatted, an English sentence for the officer and the sponsor.
    """

    rule: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    variant: str | None = None

    def __post_init__(self) -> None:
        params = MappingProxyType({name: str(value) for name, value in self.params.items()})
        object.__setattr__(self, "params", params)
        self.template  # noqa: B018 -- an unknown message id fails here, where the violation is made

    @property
    def message_id(self) -> str:
        return f"{self.rule}/{self.variant}" if self.variant else self.rule

    @property
    def template(self) -> str:
        return MESSAGES[self.message_id]

    @property
    def message(self) -> str:
        return self.template.format_map(self.params)

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def _violation(rule: str, variant: str | None = None, **params: object) -> Violation:
    return Violation(rule, {name: str(value) for name, value in params.items()}, variant)


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


def _listed(labels: Mapping, items, joiner: str) -> str:
    return joiner.join(labels[item] for item in items)


# Request-level rules: their violations apply to every person of the request.


def sponsor_entitled(request: RequestSubmitted) -> list[Violation]:
    status, kind = request.immigration_status, request.sponsor.kind
    if kind in ENTITLED_SPONSORS[status]:
        return []
    allowed = _listed(SPONSOR_KINDS, [k for k in SponsorKind if k in ENTITLED_SPONSORS[status]], OR)
    return [
        _violation(
            "sponsor-not-entitled",
            status=STATUS_NAMES[status],
            allowed=allowed,
            sponsor=request.sponsor.name,
            kind=SPONSOR_KINDS[kind],
        )
    ]


def staff_category(request: RequestSubmitted, staff: StaffRules) -> list[Violation]:
    # docs/domain/staff.md: the principal's staff category decides which statuses may be asked for (a table in
    # the rulebook). An event without a category (from an intake older than the field) is not judged by it.
    category, status = request.staff_category, request.immigration_status
    if category is None or status in (allowed := staff.allowed(category)):
        return []
    if not allowed:
        return [
            _violation(
                "staff-category-status", "none", category=STAFF_CATEGORIES[category], status=STATUS_NAMES[status]
            )
        ]
    names = _listed(STATUS_NAMES, [s for s in Status if s in allowed], OR)
    return [
        _violation(
            "staff-category-status", category=STAFF_CATEGORIES[category], allowed=names, status=STATUS_NAMES[status]
        )
    ]


def apci_registration(request: RequestSubmitted, staff: StaffRules, *, today: dt.date) -> list[Violation]:
    # docs/domain/staff.md: APCI keeps the register of ENIEX; a Cooperante request rests on the sponsor's entry.
    status, registration = request.immigration_status, request.apci_registration
    if status not in staff.apci_statuses:
        return []
    if registration is None or not registration.number.strip():
        return [_violation("apci-registration-missing", status=STATUS_NAMES[status])]
    if registration.date > today:
        return [
            _violation(
                "apci-registration-missing",
                "date",
                status=STATUS_NAMES[status],
                number=registration.number,
                date=registration.date,
                today=today,
            )
        ]
    return []


def documentation(request: RequestSubmitted, *, today: dt.date) -> list[Violation]:
    # Every status is granted "previa consideración de la documentación oficial que acredite el
    # desempeño de dichas funciones": in practice a numbered, dated note verbale naming the function.
    note, found = request.note_verbale, []
    if note is None or not (note.number or "").strip():
        found.append(_violation("documentation-missing", "note-number"))
    elif note.date > today:
        found.append(_violation("documentation-missing", "note-date", number=note.number, date=note.date, today=today))
    if not (request.function or "").strip():
        found.append(_violation("documentation-missing", "function"))
    return found


def posting_period(request: RequestSubmitted) -> list[Violation]:
    # A resident status lasts as long as the posting; a short stay has no posting.
    end, arrival = request.posting_end, request.intended_arrival
    if request.immigration_status not in RESIDENT or (end is not None and end > arrival):
        return []
    if end is None:
        return [_violation("posting-period-invalid", "none", arrival=arrival)]
    return [_violation("posting-period-invalid", arrival=arrival, end=end)]


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
    # The problems are plausibility's own words (docs/plausibility.md), as intake's 422 gives them.
    fields = "; ".join(f"{name} {problem}" for name, problem in found)
    return [_violation("implausible-request", fields=fields)]


# Per-person rules.


def foreign_national(person: Person) -> list[Violation]:
    # docs/domain/statuses.md: every status is granted to "personas extranjeras"; a Peruvian (a spouse, say)
    # enters Peru as a national and can hold no Peruvian visa.
    if person.nationality != "PER":
        return []
    return [_violation("peruvian-national", who=_who(person))]


def family_nucleus(request: RequestSubmitted, person: Person, family: FamilyRules) -> list[Violation]:
    # docs/domain/family.md: who counts as family is a table (rulebook/family.toml): each relationship recognized
    # or not, with an age limit a declared condition may raise, judged on the intended arrival.
    if person.role != "FAMILY":
        return []
    who, relationship = _who(person), person.relationship
    if relationship is None:
        return [_violation("relationship-not-recognized", "none", who=who)]
    kinship = family.kinship(request.immigration_status, relationship)
    label = RELATIONSHIPS[relationship]
    if not kinship.recognized:
        return [_violation("relationship-not-recognized", who=who, relationship=label)]
    if missing := [c for c in kinship.requires if c not in person.conditions]:
        conditions = _listed(CONDITIONS, missing, AND)
        return [_violation("family-condition-required", who=who, relationship=label, conditions=conditions)]
    limit, arrival = kinship.age_limit_for(person.conditions), request.intended_arrival
    if limit is None or arrival < add_years(person.date_of_birth, limit):
        return []
    age = dict(who=who, born=person.date_of_birth, age=_age(person.date_of_birth, arrival), arrival=arrival)
    counted = [c for c in FamilyCondition if c in person.conditions]
    if counted:
        conditions = _listed(CONDITIONS, counted, AND)
        return [
            _violation("family-age-limit", "conditions", relationship=label, limit=limit, conditions=conditions, **age)
        ]
    return [_violation("family-age-limit", relationship=label, limit=limit, **age)]


def _age(born: dt.date, on: dt.date) -> int:
    """Whole years from ``born`` to ``on``; a birthday on 29 February falls on the 28th (``add_years``)."""
    years = on.year - born.year
    return years - 1 if on < add_years(born, years) else years


def diplomatic_passport(request: RequestSubmitted, person: Person) -> list[Violation]:
    # docs/domain/statuses.md: the principal "sea titular de pasaporte diplomático"; the family nucleus
    # only if they "sean titulares de pasaportes diplomáticos". So only the family members without one fail.
    if request.immigration_status != Status.DIPLOMATIC_RESIDENT or person.passport.type == PassportType.DIPLOMATIC:
        return []
    variant = None if person.role == "PRINCIPAL" else "family"
    return [
        _violation("diplomatic-passport-required", variant, who=_who(person), passport=PASSPORTS[person.passport.type])
    ]


def passport_valid(request: RequestSubmitted, person: Person) -> list[Violation]:
    expires, arrival = person.passport.expires_on, request.intended_arrival
    if expires > arrival:
        return []
    return [
        _violation(
            "passport-expired", number=person.passport.number, who=_who(person), expires=expires, arrival=arrival
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
        return [_violation("ordinary-passport", who=_who(person))]
    return []


def assess(
    request: RequestSubmitted,
    *,
    today: dt.date,
    waivers: WaiverLookup | None = None,
    rulebook: Rulebook | None = None,
    principal_authorized: bool = True,
) -> Assessment:
    """Judge every person of ``request`` by the rules; ``rulebook`` (None: the packaged one) holds the tables.

    Dependants joining an authorization (``request.joins``) are judged with the principal as that request named
    them; ``principal_authorized`` says whether the principal's authorization there is still in force: if not, the
    dependants cannot join it (``principal-not-authorized``; docs/domain/family.md, "Arriving later")."""
    rulebook = rulebook or packaged()
    shared = (
        *plausibility(request),
        *sponsor_entitled(request),
        *staff_category(request, rulebook.staff),
        *apci_registration(request, rulebook.staff, today=today),
        *documentation(request, today=today),
        *posting_period(request),
    )

    def own(p: Person) -> tuple[Violation, ...]:
        return (
            *shared,
            *foreign_national(p),
            *family_nucleus(request, p, rulebook.family),
            *diplomatic_passport(request, p),
            *passport_valid(request, p),
            *short_stay(request, p, waivers),
        )

    def judged(person: Person, violations: tuple[Violation, ...]) -> PersonAssessment:
        coverage = waiver_of(request, person, waivers)
        if isinstance(coverage, Covered) and all(v.rule == "principal-ineligible" for v in violations):
            violations = ()  # a waiver is the holder's own: it does not derive from the principal's status
        window = None if violations else validity(request, person, today=today, rulebook=rulebook)
        return PersonAssessment(person.person_id, violations, window, coverage)

    principal = judged(request.principal, own(request.principal))
    family = []
    for member in request.family:
        found = own(member)
        if request.joins is not None and not principal_authorized:
            found += (
                _violation(
                    "principal-not-authorized",
                    who=_who(member),
                    principal=_who(request.principal),
                    request=request.joins,
                ),
            )
        if not principal.eligible:  # the family's status derives from the principal's
            reasons = ", ".join(dict.fromkeys(v.rule for v in principal.violations))
            found += (
                _violation(
                    "principal-ineligible", who=_who(member), principal=_who(request.principal), reasons=reasons
                ),
            )
        family.append(judged(member, found))
    return Assessment((principal, *family))


def validity(
    request: RequestSubmitted, person: Person, *, today: dt.date, rulebook: Rulebook | None = None
) -> tuple[dt.date, dt.date]:
    """``(valid_from, valid_until)`` of a visa for ``person``.

    Kept simple: valid from ``today`` (the decision date); a window opening shortly before arrival
    would be a refinement. It never outlives the passport; a resident visa ends with the posting
    (lacking a posting end, with the passport), a short-stay one SHORT_STAY_DAYS after arrival.
    For an ineligible person the window may be empty (valid_until before valid_from).

    A family member who counts as family only under an age limit (a child under 21, under 25 in studies:
    docs/domain/family.md) has a visa that ends the day before the birthday that ends it.

    Whatever the dates, nothing overflows: the end is capped at MAX_VALIDITY_YEARS after ``today``
    (the latest posting end a plausible request can give, docs/plausibility.md) and the arithmetic
    is held within ``date.min``…``date.max``.
    """
    expires = person.passport.expires_on
    if request.immigration_status in RESIDENT:
        end = request.posting_end or expires
    else:
        end = add_days(request.intended_arrival, SHORT_STAY_DAYS)
    end = min(end, expires, add_years(today, MAX_VALIDITY_YEARS))
    if person.role == "FAMILY" and person.relationship is not None:
        kinship = (rulebook or packaged()).family.kinship(request.immigration_status, person.relationship)
        if (limit := kinship.age_limit_for(person.conditions)) is not None:
            end = min(end, add_days(add_years(person.date_of_birth, limit), -1))
    return today, end
