"""The committed AsyncAPI document is valid for the official AsyncAPI tooling, not only for our own models.

``tests/asyncapi/validate.mjs`` parses it with ``@asyncapi/parser`` (pinned by ``tests/asyncapi/package-lock.json``)
by its file path, so the relative ``$ref``s to ``schemas/*.json`` resolve the way any AsyncAPI tool resolves them.
Node and that package are test dependencies: when they are missing this test fails, it never skips.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from shared.contracts.schemas import ASYNCAPI, SCHEMA_DIR

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tests" / "asyncapi"
INSTALL = (
    "run `npm ci --prefix tests/asyncapi --no-audit --no-fund` "
    "(`make test` runs it when needed; `make install` alone installs only the Python side)"
)


def test_the_official_asyncapi_parser_reports_no_error():
    node = shutil.which("node")
    assert node, f"node is not installed: install Node.js 18+ (e.g. apt-get install nodejs npm), then {INSTALL}"
    assert (VALIDATOR / "node_modules" / "@asyncapi" / "parser").is_dir(), f"@asyncapi/parser is missing: {INSTALL}"

    document = SCHEMA_DIR.parent / ASYNCAPI
    result = subprocess.run(
        [node, str(VALIDATOR / "validate.mjs"), str(document)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("error\t")]
    assert result.returncode == 0 and not errors, f"@asyncapi/parser rejects {document.name}:\n{report}"
    assert f"{document}: 0 error," in result.stdout, f"the validator printed no summary:\n{report}"
