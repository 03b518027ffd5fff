"""The Directorate's configurable tables, read once into frozen values: who counts as family, and which
statuses each staff category may ask for.

The tables are TOML files with a source on every entry (the packaged ones: ``rulebook/family.toml`` and
``rulebook/staff.toml``; the facts behind them: docs/domain/family.md and docs/domain/staff.md). Settings
``AUTHORIZATION_FAMILY_RULES`` and ``AUTHORIZATION_STAFF_RULES`` point at others. ``parse_family`` and
``parse_staff`` are pure; ``load`` reads the files. A malformed file raises ``RulebookError``, naming the
file and the entry, so that a service refuses to start rather than judge by a table it misread.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from shared.contracts import FamilyCondition, ImmigrationStatus, Relationship, StaffCategory

E = TypeVar("E")

PACKAGED = Path(__file__).with_name("rulebook")
FAMILY_FILE = PACKAGED / "family.toml"
STAFF_FILE = PACKAGED / "staff.toml"


class RulebookError(ValueError):
    """A rulebook file that cannot be read as the tables it must hold."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Extension:
    """A declared condition that raises a relationship's age limit (``age_limit`` None: any age)."""

    condition: FamilyCondition
    age_limit: int | None
    source: str


@dataclass(frozen=True)
class Kinship:
    """Whether, and on what terms, one relationship counts as family."""

    relationship: Relationship
    recognized: bool
    source: str
    verified: bool
    age_limit: int | None = None  # counts while younger than this, on the intended arrival; None: any age
    extensions: tuple[Extension, ...] = ()
    requires: tuple[FamilyCondition, ...] = ()

    def age_limit_for(self, conditions: Iterable[FamilyCondition]) -> int | None:
        """The age limit once the declared ``conditions`` are counted: the highest that applies, None for any age."""
        declared = set(conditions)
        limits = [self.age_limit] + [e.age_limit for e in self.extensions if e.condition in declared]
        return None if None in limits else max(limit for limit in limits if limit is not None)


@dataclass(frozen=True)
class FamilyRules:
    relationships: Mapping[Relationship, Kinship] = field(hash=False)
    by_status: Mapping[ImmigrationStatus, Mapping[Relationship, Kinship]] = field(hash=False, default_factory=dict)

    def kinship(self, status: ImmigrationStatus, relationship: Relationship) -> Kinship:
        return self.by_status.get(status, {}).get(relationship) or self.relationships[relationship]


@dataclass(frozen=True)
class Allowance:
    """One row of the staff table: these categories may ask for these statuses."""

    categories: frozenset[StaffCategory]
    statuses: frozenset[ImmigrationStatus]
    source: str
    verified: bool


@dataclass(frozen=True)
class StaffRules:
    allowances: tuple[Allowance, ...]
    apci_statuses: frozenset[ImmigrationStatus]  # their requests must carry the ENIEX's APCI registration
    apci_source: str = ""

    def allowed(self, category: StaffCategory) -> frozenset[ImmigrationStatus]:
        return frozenset(status for row in self.allowances if category in row.categories for status in row.statuses)


@dataclass(frozen=True)
class Rulebook:
    family: FamilyRules
    staff: StaffRules


# --- reading -------------------------------------------------------------------------------------------------


def _keys(table: Any, where: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise RulebookError(where, "must be a table")
    missing, unknown = required - set(table), set(table) - required - set(optional)
    problems = [f"missing {', '.join(sorted(missing))}"] if missing else []
    problems += [f"unknown key(s) {', '.join(sorted(unknown))}"] if unknown else []
    if problems:
        raise RulebookError(where, "; ".join(problems))
    return table


def _enum(kind: type[E], value: Any, where: str) -> E:
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(kind)  # type: ignore[arg-type]
        raise RulebookError(where, f"{value!r} is not one of {names}") from None


def _enums(kind: type[E], values: Any, where: str) -> tuple[E, ...]:
    if not isinstance(values, list):
        raise RulebookError(where, "must be a list")
    return tuple(_enum(kind, value, f"{where}[{index}]") for index, value in enumerate(values))


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise RulebookError(where, f"must be true or false, not {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RulebookError(where, "must be a non-empty string")
    return value


def _age(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 120:
        raise RulebookError(where, f"must be a whole number of years from 1 to 120, not {value!r}")
    return value


def _kinship(relationship: Relationship, table: Any, where: str) -> Kinship:
    table = _keys(table, where, {"recognized", "verified", "source"}, {"age_limit", "requires", "extension"})
    extensions = table.get("extension", [])
    if not isinstance(extensions, list):
        raise RulebookError(f"{where}.extension", "must be an array of tables ([[…extension]])")
    parsed = []
    for index, extension in enumerate(extensions):
        at = f"{where}.extension[{index}]"
        extension = _keys(extension, at, {"condition", "source"}, {"age_limit"})
        parsed.append(
            Extension(
                condition=_enum(FamilyCondition, extension["condition"], f"{at}.condition"),
                age_limit=_age(extension.get("age_limit"), f"{at}.age_limit"),
                source=_text(extension["source"], f"{at}.source"),
            )
        )
    return Kinship(
        relationship=relationship,
        recognized=_bool(table["recognized"], f"{where}.recognized"),
        source=_text(table["source"], f"{where}.source"),
        verified=_bool(table["verified"], f"{where}.verified"),
        age_limit=_age(table.get("age_limit"), f"{where}.age_limit"),
        extensions=tuple(parsed),
        requires=_enums(FamilyCondition, table.get("requires", []), f"{where}.requires"),
    )


def _kinships(tables: Any, where: str, *, complete: bool) -> Mapping[Relationship, Kinship]:
    tables = _keys(tables, where, set(Relationship) if complete else set(), set(Relationship))
    return MappingProxyType(
        {
            _enum(Relationship, name, where): _kinship(Relationship(name), table, f"{where}.{name}")
            for name, table in tables.items()
        }
    )


def parse_family(data: Mapping[str, Any], source: str = "family rules") -> FamilyRules:
    """The family table from a parsed TOML document; every relationship must have its entry."""
    data = _keys(dict(data), source, {"relationship"}, {"status"})
    by_status = {}
    statuses = _keys(data.get("status", {}), f"{source}: status", set(), set(ImmigrationStatus))
    for name, table in statuses.items():
        table = _keys(table, f"{source}: status.{name}", {"relationship"})
        by_status[ImmigrationStatus(name)] = _kinships(
            table["relationship"], f"{source}: status.{name}.relationship", complete=False
        )
    return FamilyRules(
        relationships=_kinships(data["relationship"], f"{source}: relationship", complete=True),
        by_status=MappingProxyType(by_status),
    )


def parse_staff(data: Mapping[str, Any], source: str = "staff rules") -> StaffRules:
    """The staff table from a parsed TOML document; every staff category must appear in some row."""
    data = _keys(dict(data), source, {"allow", "apci_registration"})
    rows = data["allow"]
    if not isinstance(rows, list) or not rows:
        raise RulebookError(f"{source}: allow", "must be a non-empty array of tables ([[allow]])")
    allowances = []
    for index, row in enumerate(rows):
        at = f"{source}: allow[{index}]"
        row = _keys(row, at, {"categories", "statuses", "verified", "source"})
        allowances.append(
            Allowance(
                categories=frozenset(_enums(StaffCategory, row["categories"], f"{at}.categories")),
                statuses=frozenset(_enums(ImmigrationStatus, row["statuses"], f"{at}.statuses")),
                source=_text(row["source"], f"{at}.source"),
                verified=_bool(row["verified"], f"{at}.verified"),
            )
        )
    named = {category for row in allowances for category in row.categories}
    if unnamed := [category.value for category in StaffCategory if category not in named]:
        raise RulebookError(f"{source}: allow", f"no row names the staff categor(y/ies) {', '.join(unnamed)}")
    apci = _keys(data["apci_registration"], f"{source}: apci_registration", {"statuses", "verified", "source"})
    return StaffRules(
        allowances=tuple(allowances),
        apci_statuses=frozenset(_enums(ImmigrationStatus, apci["statuses"], f"{source}: apci_registration.statuses")),
        apci_source=_text(apci["source"], f"{source}: apci_registration.source"),
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise RulebookError(str(path), f"cannot be read ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise RulebookError(str(path), f"is not valid TOML ({error})") from None


def load(family: Path | None = None, staff: Path | None = None) -> Rulebook:
    """The rulebook from these files (None: the packaged one)."""
    family, staff = family or FAMILY_FILE, staff or STAFF_FILE
    return Rulebook(family=parse_family(_read(family), str(family)), staff=parse_staff(_read(staff), str(staff)))


@functools.cache
def packaged() -> Rulebook:
    """The packaged rulebook, read once."""
    return load()
