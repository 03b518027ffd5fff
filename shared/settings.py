"""Settings every service reads from the environment (or a ``.env`` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from limits import parse as parse_rate_limit
from pydantic import AfterValidator, Field, SecretStr, field_validator
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


def _rate_limit(value: str) -> str:
    try:
        parse_rate_limit(value)
    except ValueError as error:
        raise ValueError(f"not a rate limit such as '60/minute' or '1000 per hour': {error}") from None
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]
"""A rate limit in the ``limits`` library's notation: ``60/minute``, ``10 per second``, ``1000/hour``."""


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    amqp_url: str = Field("amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ connection URL.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL of the treaty-list cache.")
    visa_namespace: str = Field(
        "", description="Prefix of every exchange and queue name: isolates test runs sharing a broker."
    )
    visa_prefetch: int = Field(16, ge=1, le=1000, description="Unacknowledged deliveries per consumer.")
    visa_db_pool_size: int = Field(
        20,
        ge=1,
        le=1000,
        description=(
            "PostgreSQL connections a service process keeps open for reuse (up to 10 more are opened and closed "
            "under a peak): at least the requests it serves at once, or each request beyond opens a connection."
        ),
    )
    visa_delivery_limit: int = Field(
        5,
        ge=1,
        description=(
            "Redeliveries of a failing message before it is dead-lettered (the quorum queue's x-delivery-limit: "
            "it counts returns after the first delivery, so a message is handled at most limit + 1 times)."
        ),
    )
    visa_outbox_poll_seconds: float = Field(
        1.0, gt=0, description="How often the outbox relay looks for events left by another process."
    )
    visa_outbox_retention_days: float = Field(
        7.0,
        gt=0,
        description="Published outbox rows staged longer ago than this are deleted (shared/messaging/retention.py); "
        "an unpublished row is kept whatever its age.",
    )
    visa_inbox_retention_days: float = Field(
        30.0,
        ge=1,  # the refusal keeps an hour of margin for clocks: a shorter retention would refuse fresh events
        description="Inbox entries older than this are deleted; an event older than this, less an hour, is refused "
        "to the dead-letter queue (it may have been handled, its entry gone). Raise it before replaying older "
        "dead letters. At least one day.",
    )
    visa_retention_interval_seconds: float = Field(
        600.0, gt=0, description="How often each service process prunes its outbox and inbox."
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
    visa_posts: Path | None = Field(
        None,
        description="TOML file of the consular posts (code, name, visa prefix, the default post); None: the packaged "
        "shared/posts.toml.",
    )
    visa_max_body_bytes: int = Field(
        1_048_576, ge=1, description="Largest request body accepted (413 beyond it, refused before it is read)."
    )
    visa_ready_outbox_max_age_seconds: float = Field(
        60.0,
        gt=0,
        description="/readyz fails while the oldest event not yet confirmed by the broker is older than this.",
    )
    visa_retry_after_seconds: int = Field(
        2, ge=1, description="Retry-After of a 503 answered while the service's database is unreachable."
    )
    visa_rate_limit_per_key: RateLimit = Field(
        "60/minute", description="Requests one API key may make to one service process (429 beyond it)."
    )
    visa_rate_limit_per_address: RateLimit = Field(
        "120/minute", description="Requests one client address may make to one service process (429 beyond it)."
    )
    visa_console_secret: SecretStr | None = Field(
        None,
        description="Secret the browser consoles sign their session cookies with; None: a development secret made "
        "once in var/console-secret.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value
