"""The domain's facts live in docs/domain/, each with its public source, and the code cites them there.

Every ``docs/…`` path named in the code, the docs, the deployment files or the tests exists; nothing
outside tests/ points at notes kept outside the repository; every file of docs/domain/ carries sources
and is reachable from its index.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "docs" / "domain"

# Directories that are not the project's own text: tools, caches, installed packages, run-time data, mutmut's copy.
SKIPPED_DIRS = {
    ".git",
    ".venv",
    ".tools",
    ".ruff_cache",
    ".pytest_cache",
    "__pycache__",
    "node_modules",
    "var",
    "mutants",
}
CITING_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json"}
CITING_ROOTS = ("services", "shared", "deploy", "docs", "tests")

# A docs/ path as code and prose write it: not the tail of a longer path or of a URL ("…/api/docs/x").
DOCS_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]+")
# Notes that live outside the repository; the repository must never point at them.
OUTSIDE_NOTES = re.compile(r"shared/seed|domain\.md")
URL = re.compile(r"https?://[^\s)>\]]+")
# An official gazette reference: a numbered supreme decree or law, or a dated issue of El Peruano.
GAZETTE = re.compile(
    r"(Decreto Supremo|Decreto Legislativo|Ley)\s+N\.?\s?[º°o]?\s*\d[\d-]*(-RE)?"
    r"|El Peruano,?\s+\d{4}-\d{2}-\d{2}",
)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(#[^)]*)?\)")


def _files(top: Path, suffixes: set[str] | None = None) -> list[Path]:
    found = []
    for path in top.rglob("*"):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS for part in relative.parts) or not path.is_file():
            continue
        if suffixes is None or path.suffix in suffixes:
            found.append(path)
    return sorted(found)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def citing_files() -> list[Path]:
    files = [path for top in CITING_ROOTS for path in _files(ROOT / top, CITING_SUFFIXES)]
    return [*files, ROOT / "README.md"]


def docs_paths(text: str) -> set[str]:
    return {match.rstrip(".") for match in DOCS_PATH.findall(text)}


def missing_docs_paths(files: list[Path], root: Path = ROOT) -> list[str]:
    missing = []
    for path in files:
        for cited in sorted(docs_paths(_text(path))):
            target = root / cited
            exists = target.is_dir() if cited.endswith("/") else target.is_file()
            if not exists:
                missing.append(f"{path.relative_to(root)} names {cited}")
    return missing


def outside_notes_mentions(files: list[Path], root: Path = ROOT) -> list[str]:
    found = []
    for path in files:
        for number, line in enumerate(_text(path).splitlines(), start=1):
            if OUTSIDE_NOTES.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def has_source(text: str) -> bool:
    return bool(URL.search(text) or GAZETTE.search(text))


def unsourced(files: list[Path]) -> list[str]:
    return [path.name for path in files if not has_source(_text(path))]


def unlinked(index: Path, files: list[Path]) -> list[str]:
    linked = {(index.parent / target).resolve() for target, _ in MARKDOWN_LINK.findall(_text(index))}
    return [path.name for path in files if path != index and path.resolve() not in linked]


def domain_files() -> list[Path]:
    return sorted(DOMAIN.glob("*.md"))


def test_the_domain_docs_exist():
    names = {path.name for path in domain_files()}
    assert {"README.md", "statuses.md", "waivers.md", "mrz.md"} <= names


def test_every_docs_path_named_anywhere_exists():
    files = citing_files()
    assert len(files) > 50 and ROOT / "services/authorization/rules.py" in files
    assert "docs/domain/statuses.md" in docs_paths(_text(ROOT / "services/authorization/rules.py"))
    assert missing_docs_paths(files) == []


def test_nothing_outside_tests_points_at_notes_outside_the_repository():
    files = [path for path in _files(ROOT) if path.relative_to(ROOT).parts[0] != "tests"]
    assert ROOT / "services/authorization/rules.py" in files and ROOT / "README.md" in files
    assert not [path for path in domain_files() if OUTSIDE_NOTES.search(path.name)]
    assert outside_notes_mentions(files) == []


def test_every_domain_doc_carries_a_public_source():
    assert unsourced(domain_files()) == []


def test_every_domain_doc_is_linked_from_the_index():
    assert unlinked(DOMAIN / "README.md", domain_files()) == []


# The checks themselves: each must fail when its condition breaks. Made-up paths are spelt through D so
# that this file names no docs/ path that does not exist.
D = "docs" + "/"


def test_a_missing_docs_path_is_found(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "real.md").write_text("x")
    code = tmp_path / "rules.py"
    code.write_text(f"# {D}real.md: a fact, see {D}gone.md.\n")
    assert missing_docs_paths([code], root=tmp_path) == [f"rules.py names {D}gone.md"]
    assert docs_paths("GET https://host/api/docs/x and /v1/docs/y") == set()  # a URL's tail is no path


def test_a_mention_of_the_outside_notes_is_found(tmp_path: Path):
    stale = tmp_path / "rules.py"
    stale.write_text('"""Sources: docs above.\n\nSee shared/seed/page.txt and the notes in domain.md."""\n')
    assert outside_notes_mentions([stale], root=tmp_path) == [
        'rules.py:3: See shared/seed/page.txt and the notes in domain.md."""'
    ]


def test_a_doc_without_a_source_is_found(tmp_path: Path):
    (tmp_path / "bare.md").write_text("# A fact\n\nDiplomats need visas.\n")
    (tmp_path / "linked.md").write_text("A fact ([page](http://www.consulado.pe/es/roma/tramite/Paginas/x.aspx)).\n")
    (tmp_path / "gazette.md").write_text("A fact (Decreto Supremo N.º 042-2024-RE, El Peruano, 2024-09-21).\n")
    assert unsourced(sorted(tmp_path.glob("*.md"))) == ["bare.md"]
    assert GAZETTE.search("agreement, El Peruano, 2018-02-15, p. 67")


def test_a_doc_missing_from_the_index_is_found(tmp_path: Path):
    index = tmp_path / "README.md"
    index.write_text("| [a.md](a.md) | … |\n| [up](../elsewhere.md) |\n")
    (tmp_path / "a.md").write_text("x")
    (tmp_path / "b.md").write_text("x")
    assert unlinked(index, sorted(tmp_path.glob("*.md"))) == ["b.md"]
