from enum import StrEnum
from pathlib import Path

from pydantic import Field

from shared.settings import VAR_DIR, CommonSettings


class Policy(StrEnum):
    AUTO = "auto"  # grant at once what the rules allow
    REVIEW = "review"  # leave it for an officer


class AuthorizationSettings(CommonSettings):
    authorization_database_url: str = Field(
        f"sqlite+aiosqlite:///{VAR_DIR}/authorization.db", description="Authorization's database."
    )
    authorization_host: str = Field("127.0.0.1", description="Address of the officers' HTTP API.")
    authorization_port: int = Field(8002, description="Port of the officers' HTTP API.")
    authorization_policy: Policy = Field(
        Policy.REVIEW, description="auto: grant eligible requests at once; review: an officer decides."
    )
    authorization_family_rules: Path | None = Field(
        None,
        description="TOML file of who counts as family (docs/domain/family.md); None: the packaged "
        "services/authorization/rulebook/family.toml.",
    )
    authorization_staff_rules: Path | None = Field(
        None,
        description="TOML file of the statuses each staff category may ask for (docs/domain/staff.md); None: the "
        "packaged services/authorization/rulebook/staff.toml.",
    )
