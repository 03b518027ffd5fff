"""``visa db``: each service's database schema, one Alembic history per service (``shared/migrations.py``)."""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from services import catalog
from shared.contracts.registry import SERVICES

db = typer.Typer(
    help="Each service's database schema: upgrade it, see its revision, write a new revision.", no_args_is_help=True
)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


# The services, as the registry of the topology names them.
Service = StrEnum("Service", {service: service for service in SERVICES})


def database_url(service: str) -> str:
    """The service's database, as its settings name it (``<SERVICE>_DATABASE_URL``)."""
    return catalog.database_url(service)


def _steps() -> None:
    """Show Alembic's steps (``Running upgrade 0001 -> 0002, …``) on stderr."""
    steps = logging.getLogger("alembic.runtime.migration")
    if not steps.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(lambda record: record.getMessage().startswith("Running "))  # not its context lines
        steps.addHandler(handler)
    steps.setLevel(logging.INFO)


def _migrations():
    """``shared.migrations``, imported by the commands that use it: Alembic is not every `visa` command's."""
    from shared import migrations

    return migrations


def safe_url(url: str) -> str:
    return _migrations().safe_url(url)


def _explain(service: str, url: str, error: Exception) -> None:
    """Say on stderr why the command could not do its work."""
    if isinstance(error, _migrations().SchemaError):
        errors.print(f"[red]{service}:[/] {escape(str(error))}", highlight=False)
    else:  # the database unreachable, a permission refused: its type and message, never a password
        errors.print(
            f"[red]{service}:[/] {escape(f'{safe_url(url)}: {type(error).__name__}: {error}')}", highlight=False
        )


@db.command("upgrade")
def upgrade(
    service: Service,
    revision: Annotated[
        str, typer.Option(help="The revision to reach (e.g. 0002); default: the code's head.")
    ] = "head",
) -> None:
    """Upgrade the service's database schema (a database made before migrations is adopted first)."""
    url = database_url(service.value)
    _steps()
    try:
        before = _migrations().current(service.value, url)
        after = _migrations().upgrade(service.value, url, revision)
    except Exception as error:
        _explain(service.value, url, error)
        raise typer.Exit(1) from None
    change = f"{before or 'no revision'} → {after}" if before != after else f"at {after} already"
    console.print(f"{service.value} ({safe_url(url)}): {change}", highlight=False)


@db.command("downgrade")
def downgrade(
    service: Service,
    revision: Annotated[str, typer.Option(help="The revision to go back to, e.g. 0001; base: no tables at all.")],
) -> None:
    """Downgrade the service's database schema to an older revision, with the code that knows the current one."""
    url = database_url(service.value)
    _steps()
    try:
        before = _migrations().current(service.value, url)
        after = _migrations().downgrade(service.value, url, revision)
    except Exception as error:
        _explain(service.value, url, error)
        raise typer.Exit(1) from None
    console.print(f"{service.value} ({safe_url(url)}): {before or 'no revision'} → {after or 'base'}", highlight=False)


@db.command("current")
def current(service: Service) -> None:
    """Print the revision of the service's database schema, and whether it is the code's head."""
    url = database_url(service.value)
    try:
        found = _migrations().current(service.value, url)
    except Exception as error:
        _explain(service.value, url, error)
        raise typer.Exit(1) from None
    head = _migrations().head(service.value)
    if found == head:
        state = "(head)"
    elif found is None:
        state = f"(no revision: the code's head is {head}; run `visa db upgrade {service.value}`)"
    else:
        state = f"(the code's head is {head}; run `visa db upgrade {service.value}`)"
    console.print(f"{service.value} ({safe_url(url)}): {found or 'none'} {state}", highlight=False)


@db.command("revision")
def revision(
    service: Service,
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision does, in a few words.")],
    empty: Annotated[bool, typer.Option(help="An empty revision to write by hand (data migrations).")] = False,
    url: Annotated[
        str | None,
        typer.Option(help="Compare the models with this database (at head) instead of a scratch SQLite one."),
    ] = None,
) -> None:
    """Write the service's next revision: by default what its models differ by from the head's schema."""
    path = _migrations().revision(service.value, message, autogenerate=not empty, url=url)
    console.print(f"{path}: review it, then `make format`", highlight=False)


def refuse_if_behind(service: str) -> None:
    """Exit (status 3), saying why on stderr, unless the service's database is at the code's head: before the
    service starts (its lifespan checks again, but uvicorn would bury the message in a traceback)."""
    url = database_url(service)
    try:
        asyncio.run(_migrations().check(url, service))
    except Exception as error:
        _explain(service, url, error)
        raise typer.Exit(3) from None


def upgrade_development_databases() -> None:
    """``visa run``: upgrade each service's database when it is a SQLite file (a developer's machine); a
    PostgreSQL one is the operator's (`visa db upgrade`), and a service refuses to start behind it."""
    for service in Service:
        url = database_url(service.value)
        if not url.startswith("sqlite"):
            continue
        try:
            before = _migrations().current(service.value, url)
            after = _migrations().upgrade(service.value, url)
        except Exception as error:
            _explain(service.value, url, error)
            raise typer.Exit(2) from None
        if before != after:
            console.print(f"{service.value}'s database upgraded: {before or 'no revision'} → {after}", highlight=False)
