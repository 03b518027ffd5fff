from pydantic import Field

from shared.settings import VAR_DIR, CommonSettings


class IntakeSettings(CommonSettings):
    intake_database_url: str = Field(f"sqlite+aiosqlite:///{VAR_DIR}/intake.db", description="Intake's database.")
    intake_host: str = Field("127.0.0.1", description="Address intake's HTTP API listens on.")
    intake_port: int = Field(8001, description="Port of intake's HTTP API.")
