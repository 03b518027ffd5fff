from enum import StrEnum

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
