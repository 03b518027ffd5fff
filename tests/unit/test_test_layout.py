"""Test helpers live in ``tests/support``: no module under ``tests/`` imports a conftest module or another
test module, and none outside ``tests/support`` imports a helper module of another tests subfolder.

A conftest holds fixtures only (pytest finds them there by itself), and a test module holds tests: what
several modules share is a helper, and a helper that more than one subfolder needs belongs in
``tests/support``. Each import is read with ``ast`` (imports inside functions too) and resolved, relative
or absolute, to the file it names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the repository
TESTS = ROOT / "tests"
SUPPORT = TESTS / "support"


def module_name(path: Path) -> str:
    """The dotted name of the module at ``path`` (a file of the repository): ``tests.unit.test_rules``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str) -> Path | None:
    """The file of the tests module ``name`` (a module or a package), or None when it is not one."""
    parts = name.split(".")
    if parts[0] != "tests":
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def subfolder(path: Path) -> str | None:
    """The tests subfolder ``path`` lies in (``component``, ``support``…); None directly under ``tests/``."""
    parts = path.relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 else None


def imported(path: Path, tree: ast.Module) -> list[tuple[int, str]]:
    """(line, dotted name) of every module ``tree`` (the source of ``path``) imports, relative ones resolved.

    ``from package import name`` names the module ``package.name`` when that is a module of its own,
    and ``package`` otherwise.
    """
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}" if target else alias.name
                is_module = alias.name == "conftest" or module_file(submodule) is not None
                found.append((node.lineno, submodule if is_module else target))
    return sorted(set(found))


def violations(path: Path, source: str) -> list[str]:
    """What is wrong with the imports of ``source``, the text of the module at ``path`` under ``tests/``."""
    where = path.relative_to(ROOT)
    problems = []
    for line, name in imported(path, ast.parse(source, filename=str(path))):
        if "conftest" in name.split("."):
            problems.append(f"{where}:{line}: imports {name}, a conftest module (fixtures only)")
            continue
        target = module_file(name)
        if target is None or target == path:
            continue
        if target.name.startswith("test_"):
            problems.append(f"{where}:{line}: imports {name}, another test module")
        elif (
            target != TESTS / "__init__.py"
            and not target.is_relative_to(SUPPORT)
            and subfolder(target) != subfolder(path)
        ):
            problems.append(
                f"{where}:{line}: imports {name}, a helper of another tests subfolder (helpers belong in tests/support)"
            )
    return problems


def modules() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "node_modules" not in path.parts)


def test_no_module_imports_a_conftest_a_test_module_or_another_subfolders_helper():
    problems = [problem for path in modules() for problem in violations(path, path.read_text())]
    assert not problems, "\n".join(problems)


def test_every_subfolder_is_read():
    read = {subfolder(path) for path in modules()}
    assert {"unit", "component", "integration", "e2e", "faults", "fuzz", "support", "benchmarks", None} <= read


# Each rule both ways: the checker must see each kind of bad import, and let the good ones through.
@pytest.mark.parametrize(
    ("where", "source", "wrong"),
    [
        ("component/test_x.py", "from .conftest import pump\n", "a conftest module"),
        ("component/test_x.py", "from . import conftest\n", "a conftest module"),
        ("integration/test_x.py", "from tests.component.conftest import bearer\n", "a conftest module"),
        ("fuzz/conftest.py", "import tests.component.conftest\n", "a conftest module"),
        ("support/x.py", "from tests.component.conftest import bearer\n", "a conftest module"),
        ("unit/test_x.py", "from tests.unit.test_rules import TODAY\n", "another test module"),
        ("component/test_x.py", "from .test_intake_api import nothing_stored\n", "another test module"),
        ("component/test_x.py", "from . import test_intake_api\n", "another test module"),
        ("unit/test_x.py", "def f():\n    from tests.unit import test_rules\n", "another test module"),
        ("e2e/test_x.py", "from tests.benchmarks.results import write_results\n", "another tests subfolder"),
        ("integration/test_x.py", "from ..benchmarks import results\n", "another tests subfolder"),
    ],
)
def test_a_bad_import_is_named_with_its_file_and_line(where, source, wrong):
    [problem] = violations(TESTS / where, source)
    assert problem.startswith(f"tests/{where}:{source.count(chr(10))}: imports ") and wrong in problem


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("component/test_x.py", "from tests.support.components import pump\n"),
        ("integration/test_x.py", "from tests.support import components\n"),
        ("fuzz/conftest.py", "from tests.support.fuzzing import Fuzzed\nimport pytest\n"),
        ("benchmarks/audit.py", "from tests.benchmarks.results import write_results\n"),
        ("benchmarks/audit.py", "from .results import write_results\n"),
        ("unit/test_x.py", "from services.authorization.rules import assess\nimport shared.contracts\n"),
    ],
)
def test_a_good_import_passes(where, source):
    assert violations(TESTS / where, source) == []
