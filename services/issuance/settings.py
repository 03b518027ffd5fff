from pydantic import Field

from shared.settings import VAR_DIR, CommonSettings, RateLimit


class IssuanceSettings(CommonSettings):
    issuance_database_url: str = Field(f"sqlite+aiosqlite:///{VAR_DIR}/issuance.db", description="Issuance's database.")
    issuance_host: str = Field("127.0.0.1", description="Address issuance's HTTP API listens on.")
    issuance_port: int = Field(8003, description="Port of issuance's HTTP API.")
    issuance_visa_prefix: str = Field(
        "PE", pattern=r"^[A-Z]{1,3}$", description="First letters of every visa number this post issues."
    )
    issuance_rate_limit_per_verifier: RateLimit = Field(
        "30/minute", description="Visa lookups one verifier may make to one issuance process (429 beyond it)."
    )
