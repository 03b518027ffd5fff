"""The rulebook's tables are configuration (docs/domain/family.md, docs/domain/staff.md): the packaged files are
read once, each entry with its source; another file changes what the rules decide; a malformed one is refused
with the file and the entry named."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from services.authorization import rulebook
from services.authorization.rulebook import FAMILY_FILE, STAFF_FILE, RulebookError, load, packaged
from services.authorization.rules import assess
from services.authorization.settings import AuthorizationSettings
from shared.contracts import FamilyCondition, ImmigrationStatus, Relationship, StaffCategory
from tests.support.rules import ARRIVAL, TODAY, relative, request

ROOT = Path(__file__).resolve().parents[2]
SOURCE = re.compile(r"https?://|El Peruano|Decreto Supremo|source found")


def rules_of(r, book, pid="p1") -> set[str]:
    return {v.rule for v in assess(r, today=TODAY, rulebook=book).for_person(pid).violations}


def test_the_packaged_rulebook_is_read_once_with_a_source_on_every_entry():
    book = packaged()
    assert packaged() is book
    kinships = [*book.family.relationships.values()]
    assert {k.relationship for k in kinships} == set(Relationship)
    for kinship in kinships:
        assert SOURCE.search(kinship.source), kinship
        assert all(SOURCE.search(extension.source) for extension in kinship.extensions)
    assert all(SOURCE.search(row.source) for row in book.staff.allowances)
    assert SOURCE.search(book.staff.apci_source)
    # The readings are marked as such (docs/domain/staff.md): Cooperante for ENIEX staff is an inference.
    cooperant = next(row for row in book.staff.allowances if StaffCategory.COOPERANT in row.categories)
    assert not cooperant.verified
    assert book.staff.apci_statuses == {ImmigrationStatus.COOPERANT}


def test_the_default_family_is_the_spouse_and_the_children_within_their_age_bands():
    family = packaged().family
    child = family.kinship(ImmigrationStatus.OFFICIAL_RESIDENT, Relationship.CHILD)
    assert child.recognized and child.age_limit == 21
    assert child.age_limit_for([]) == 21
    assert child.age_limit_for([FamilyCondition.STUDIES]) == 25
    assert child.age_limit_for([FamilyCondition.DISABILITY]) is None
    assert child.age_limit_for([FamilyCondition.STUDIES, FamilyCondition.DISABILITY]) is None
    assert family.kinship(ImmigrationStatus.COOPERANT, Relationship.SPOUSE).age_limit_for([]) is None
    recognized = {r for r in Relationship if family.kinship(ImmigrationStatus.CONSULAR_RESIDENT, r).recognized}
    assert recognized == {Relationship.SPOUSE, Relationship.CHILD}


def test_the_settings_name_the_files_and_default_to_the_packaged_ones(monkeypatch, tmp_path):
    assert AuthorizationSettings().authorization_family_rules is None
    assert AuthorizationSettings().authorization_staff_rules is None
    monkeypatch.setenv("AUTHORIZATION_FAMILY_RULES", str(tmp_path / "family.toml"))
    assert AuthorizationSettings().authorization_family_rules == tmp_path / "family.toml"
    assert load().family == packaged().family and load(None, None).staff == packaged().staff


# --- another table changes the outcome -------------------------------------------------------------------------


def _family_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "family.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_family_file_that_recognizes_partners_and_dependent_parents_changes_the_outcome(tmp_path):
    text = FAMILY_FILE.read_text(encoding="utf-8")
    text = text.replace("[relationship.PARTNER]\nrecognized = false", "[relationship.PARTNER]\nrecognized = true")
    text = text.replace(
        "[relationship.PARENT]\nrecognized = false",
        '[relationship.PARENT]\nrecognized = true\nrequires = ["DEPENDENCY"]',
    )
    book = load(family=_family_file(tmp_path, text))
    partner = request(family=[relative(relationship=Relationship.PARTNER)])
    assert rules_of(partner, packaged()) == {"relationship-not-recognized"}
    assert rules_of(partner, book) == set()
    parent = request(family=[relative(relationship=Relationship.PARENT)])
    assert rules_of(parent, book) == {"family-condition-required"}
    dependent = request(family=[relative(relationship=Relationship.PARENT, conditions=[FamilyCondition.DEPENDENCY])])
    assert rules_of(dependent, book) == set()


def test_a_per_status_entry_replaces_the_default_for_that_status_only(tmp_path):
    text = FAMILY_FILE.read_text(encoding="utf-8") + (
        "\n[status.OFFICIAL_RESIDENT.relationship.CHILD]\n"
        'recognized = true\nage_limit = 18\nverified = false\nsource = "a test\'s own, http://example.org"\n'
    )
    book = load(family=_family_file(tmp_path, text))
    born = dt.date(ARRIVAL.year - 19, 1, 1)  # 19 on the arrival
    for status, found in (
        (ImmigrationStatus.OFFICIAL_RESIDENT, {"family-age-limit"}),
        (ImmigrationStatus.DIPLOMATIC_RESIDENT, set()),
    ):
        r = request(status=status, family=[relative(relationship=Relationship.CHILD, born=born)])
        assert rules_of(r, book) == found, status


def test_a_staff_file_changes_the_outcome(tmp_path):
    text = STAFF_FILE.read_text(encoding="utf-8").replace(
        'categories = ["ADMINISTRATIVE_TECHNICAL_STAFF", "SERVICE_STAFF"]\nstatuses = ["OFFICIAL_RESIDENT"]',
        'categories = ["ADMINISTRATIVE_TECHNICAL_STAFF", "SERVICE_STAFF"]\n'
        'statuses = ["OFFICIAL_RESIDENT", "DIPLOMATIC_RESIDENT"]',
    )
    text = text.replace('[apci_registration]\nstatuses = ["COOPERANT"]', "[apci_registration]\nstatuses = []")
    path = tmp_path / "staff.toml"
    path.write_text(text, encoding="utf-8")
    book = load(staff=path)
    admin = request(staff=StaffCategory.ADMINISTRATIVE_TECHNICAL_STAFF)  # diplomatic resident
    assert rules_of(admin, packaged(), "p0") == {"staff-category-status"}
    assert rules_of(admin, book, "p0") == set()
    unregistered = request(status=ImmigrationStatus.COOPERANT, apci=None)
    assert rules_of(unregistered, packaged(), "p0") == {"apci-registration-missing"}
    assert rules_of(unregistered, book, "p0") == set()


# --- a malformed file is refused, naming the file and the entry ------------------------------------------------

PARENT = FAMILY_FILE.read_text(encoding="utf-8").split("[relationship.PARENT]\n")[1].split("\n\n")[0]
SPOUSE = "[relationship.SPOUSE]\nrecognized = true\nverified = true\n"
COUSIN = '[relationship.COUSIN]\nrecognized = true\nverified = true\nsource = "x"\n'

# (old, new) replacements spoiling the packaged file, and the error expected
MALFORMED_FAMILY = {
    "not TOML": ([("[relationship.SPOUSE]", "[relationship.SPOUSE")], r"is not valid TOML"),
    "a relationship missing": ([(f"[relationship.PARENT]\n{PARENT}", "")], r"relationship: missing PARENT"),
    "an unknown relationship": ([(SPOUSE, COUSIN + SPOUSE)], r"relationship: unknown key\(s\) COUSIN"),
    "an age in words": ([("age_limit = 21", 'age_limit = "21"')], r"relationship\.CHILD\.age_limit: must be a whole"),
    "an age of 0": ([("age_limit = 21", "age_limit = 0")], r"relationship\.CHILD\.age_limit: must be a whole"),
    "an unknown condition": (
        [('condition = "STUDIES"', 'condition = "SPORTS"')],
        r"extension\[0\]\.condition: 'SPORTS'",
    ),
    "no source": ([(SPOUSE + "source", SPOUSE + "# source")], r"relationship\.SPOUSE: missing source"),
    "a misspelt key": (
        [("[relationship.SPOUSE]\nrecognized", "[relationship.SPOUSE]\nrecognised")],
        r"SPOUSE: missing recognized; unknown key\(s\) recognised",
    ),
    "a yes for true": (
        [(SPOUSE, SPOUSE.replace("= true", '= "yes"', 1))],
        r"SPOUSE\.recognized: must be true or false",
    ),
}


@pytest.mark.parametrize(("spoils", "error"), MALFORMED_FAMILY.values(), ids=MALFORMED_FAMILY.keys())
def test_a_malformed_family_file_is_refused_with_the_entry_named(tmp_path, spoils, error):
    text = FAMILY_FILE.read_text(encoding="utf-8")
    for old, new in spoils:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = _family_file(tmp_path, text)
    with pytest.raises(RulebookError, match=error) as raised:
        load(family=path)
    assert str(path) in str(raised.value)


MALFORMED_STAFF = {
    "an unknown status": (
        [('statuses = ["COOPERANT"]\nverified', 'statuses = ["COOPERATION"]\nverified')],
        "'COOPERATION'",
    ),
    "a category in no row": (
        [('categories = ["COOPERANT"]', 'categories = ["SERVICE_STAFF"]'), ('    "COOPERANT",\n]', "]")],
        r"no row names the staff categor\(y/ies\) COOPERANT",
    ),
    "statuses not a list": ([('statuses = ["SHORT_STAY"]', 'statuses = "SHORT_STAY"')], r"statuses: must be a list"),
    "no apci table": ([("\n[apci_registration]\n", "\n[apci]\n")], r"missing apci_registration; unknown key\(s\) apci"),
}


@pytest.mark.parametrize(("spoils", "error"), MALFORMED_STAFF.values(), ids=MALFORMED_STAFF.keys())
def test_a_malformed_staff_file_is_refused_with_the_entry_named(tmp_path, spoils, error):
    text = STAFF_FILE.read_text(encoding="utf-8")
    for old, new in spoils:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "staff.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulebookError, match=error) as raised:
        load(staff=path)
    assert str(path) in str(raised.value)


def test_a_missing_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(RulebookError, match="cannot be read"):
        load(family=tmp_path / "nowhere.toml")
    assert issubclass(RulebookError, ValueError) and rulebook.PACKAGED.is_dir()
