"""Each service's settings and application factory, by the name the registry gives it, imported only when asked
for (one service's command need not load the others)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic_settings import BaseSettings


def service(name: str) -> tuple[type[BaseSettings], Callable]:
    """``name``'s settings class and ``build`` function."""
    if name == "intake":
        from services.intake.app import build
        from services.intake.settings import IntakeSettings as Settings
    elif name == "authorization":
        from services.authorization.app import build
        from services.authorization.settings import AuthorizationSettings as Settings
    elif name == "issuance":
        from services.issuance.app import build
        from services.issuance.settings import IssuanceSettings as Settings
    else:
        raise ValueError(f"no service {name!r}")
    return Settings, build


def database_url(name: str) -> str:
    """The service's database, as its settings name it (``<SERVICE>_DATABASE_URL``)."""
    settings_class, _ = service(name)
    return getattr(settings_class(), f"{name}_database_url")
