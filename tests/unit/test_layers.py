"""The layers hold: the domain does no I/O, use cases know no transport, accounts are not HTTP, the services
stand alone, ``shared`` depends on no service, and no module imports itself through others.

The contracts are import-linter's, in pyproject.toml; each is also shown to break when a module breaks it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


CYCLES = """
import json, grimp
graph = grimp.build_graph("services", "shared", cache_dir=None)
cycles = set()
for module in graph.modules:
    for imported in graph.find_modules_directly_imported_by(module):
        if graph.find_shortest_chain(importer=imported, imported=module):
            cycles.add(tuple(sorted((module, imported))))
print(json.dumps(sorted(cycles)))
"""


def import_cycles(root: Path) -> set[tuple[str, str]]:
    """Pairs of modules that import each other, directly or through others (grimp's graph of ``root``)."""
    result = subprocess.run(
        [sys.executable, "-c", CYCLES],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {tuple(pair) for pair in json.loads(result.stdout)}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The packages and their contracts, in a folder of the test's own, to break without harm."""
    for package in ("services", "shared"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("services/authorization/rules.py", "import sqlalchemy", "The domain is pure"),
        ("services/issuance/visas.py", "import redis", "The domain is pure"),
        ("shared/mrz.py", "import faststream", "The domain is pure"),
        ("services/intake/usecases.py", "import fastapi", "The use cases know no transport"),
        ("services/intake/models.py", "import fastapi", "Accounts and records are not HTTP"),
        ("services/authorization/api.py", "from sqlalchemy import select", "Routes reach the domain only"),
        ("services/intake/api.py", "from shared.messaging import UnitOfWork", "Routes reach the domain only"),
        ("shared/accounts.py", "from shared.http import auth", "Accounts and records are not HTTP"),
        ("services/issuance/usecases.py", "import services.authorization.rules", "Each service stands alone"),
        ("shared/db.py", "import services.intake.models", "shared/ serves the services"),
    ],
)
def test_a_module_that_breaks_a_layer_breaks_its_contract(copy: Path, module: str, line: str, contract: str):
    path = copy / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if "BROKEN" in row or row.startswith(contract)]
    assert any(contract in row for row in broken), result.stdout


def test_no_module_imports_itself_through_others():
    assert import_cycles(ROOT) == set()


def test_a_cycle_is_found(copy: Path):
    schemas = copy / "shared/contracts/schemas.py"
    schemas.write_text(schemas.read_text() + "\nfrom . import asyncapi  # noqa\n")
    assert ("shared.contracts.asyncapi", "shared.contracts.schemas") in import_cycles(copy)
