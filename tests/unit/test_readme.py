"""The README is the newcomer's contract: its commands and its settings table must stay true."""

from __future__ import annotations

import re
from pathlib import Path

from services.authorization.settings import AuthorizationSettings
from services.intake.settings import IntakeSettings
from services.issuance.settings import IssuanceSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_opens_with_the_run_and_test_commands():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make run", "make test"]


def test_every_setting_is_in_the_settings_table_with_its_default():
    table = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([A-Z_]+)` \| [a-z]+ \| (.*?) \|", README, flags=re.MULTILINE)
    }
    for settings in (IntakeSettings, AuthorizationSettings, IssuanceSettings):
        for name, field in settings.model_fields.items():
            assert name.upper() in table, f"{name.upper()} missing from the README's settings table"
            default = str(field.default.value if hasattr(field.default, "value") else field.default)
            assert default in table[name.upper()] or (default == "" and "empty" in table[name.upper()])
