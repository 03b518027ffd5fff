"""Settings every service reads from the environment (or a ``.env`` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


def async_database_url(url: str) -> str:
    """Accept the URLs operators write (``postgresql://``, ``sqlite:///``) and pick the async driver."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    amqp_url: str = Field("amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ connection URL.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL of the treaty-list cache.")
    visa_namespace: str = Field(
        "", description="Prefix of every exchange and queue name: isolates test runs sharing a broker."
    )
    visa_prefetch: int = Field(16, ge=1, le=1000, description="Unacknowledged deliveries per consumer.")
    visa_delivery_limit: int = Field(5, ge=1, description="Deliveries of one message before it is dead-lettered.")
    visa_outbox_poll_seconds: float = Field(
        1.0, gt=0, description="How often the outbox relay looks for events left by another process."
    )
    visa_graceful_timeout: float = Field(15.0, gt=0, description="Seconds in-flight handlers get on shutdown.")
    log_level: str = Field("INFO", description="Log level of the service.")
    visa_event_log_max_age: str | None = Field(
        None, description="Retention of the event log stream (RabbitMQ x-max-age, e.g. 10Y); default: keep all."
    )
    visa_event_log_max_bytes: int | None = Field(
        None, ge=1, description="Retention of the event log stream in bytes (x-max-length-bytes); default: keep all."
    )
    visa_keyring: Path = Field(
        VAR_DIR / "keys" / "keyring.json", description="The public key ring every consumer verifies events with."
    )
    visa_signing_keys: Path = Field(
        VAR_DIR / "keys" / "private", description="Directory of this service's private signing keys (<kid>.pem)."
    )

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value
