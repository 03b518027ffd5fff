"""``visa broker``: provisioning RabbitMQ from ``deploy/rabbitmq/definitions.json``."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared import posts
from shared.messaging import provisioning
from shared.settings import VAR_DIR, CommonSettings

broker = typer.Typer(help="The broker's users, permissions, queues and event log.", no_args_is_help=True)
console = Console(soft_wrap=True)
CREDENTIALS = VAR_DIR / "broker" / "credentials.json"


def read_credentials(path: Path = CREDENTIALS) -> dict[str, str]:
    """Each broker user's AMQP URL, as ``visa broker setup`` wrote them; empty before it ran."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def broker_url(user: str, path: Path = CREDENTIALS) -> str:
    """The URL an operator's or auditor's command connects with: ``AMQP_URL`` when set (a deployment),
    else ``user``'s development credentials from ``visa broker setup``."""
    return os.environ.get("AMQP_URL") or read_credentials(path).get(user) or CommonSettings().amqp_url


def setup(
    *, credentials: Path = CREDENTIALS, definitions: Path = provisioning.DEFINITIONS, vhost: str | None = None
) -> dict[str, str]:
    settings = CommonSettings()
    known = read_credentials(credentials)
    # The same passwords on a second run: URLs already handed out keep working.
    passwords = {
        user: _password(known.get(user)) or secrets.token_urlsafe(24)
        for user in (*provisioning.SERVICE_USERS, "operator")
    }
    vhost = vhost or provisioning.DEFINITIONS_VHOST
    urls = provisioning.provision(
        settings.amqp_url,
        passwords=passwords,
        vhost=vhost,
        definitions=definitions,
        namespace=settings.visa_namespace,
        delivery_limit=settings.visa_delivery_limit,
        event_log_max_age=settings.visa_event_log_max_age,
        event_log_max_bytes=settings.visa_event_log_max_bytes,
        # One issuance queue per configured consular post (VISA_POSTS): a post added to the list gets its own.
        posts=posts.load(settings.visa_posts).codes,
    )
    asyncio.run(provisioning.wait_until_ready(urls["intake"], "intake.request-status"))
    credentials.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(urls, handle, indent=2)
    return urls


def _password(url: str | None) -> str | None:
    from yarl import URL

    return URL(url).password if url else None


def users_missing(credentials: Path = CREDENTIALS) -> bool:
    """Whether the services' broker users are not there (or not as the credentials file says)."""
    url = read_credentials(credentials).get("intake")
    if url is None:
        return True

    async def probe() -> None:
        import aio_pika

        connection = await aio_pika.connect(url, timeout=10)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception:
        return True
    return False


@broker.command("setup")
def setup_command(
    definitions: Annotated[Path, typer.Option(help="The broker definitions.")] = provisioning.DEFINITIONS,
    credentials: Annotated[Path, typer.Option(help="Where each user's AMQP URL is written (mode 0600).")] = CREDENTIALS,
    vhost: Annotated[str | None, typer.Option(help="Vhost to provision; default the definitions' own.")] = None,
) -> None:
    """Create the vhost, one user per service and the auditor, their permissions, the exchanges, queues (one
    issuance queue per consular post of VISA_POSTS) and the event log, from the definitions (an administrator's right: runs `rabbitmqctl import_definitions`,
    or RABBITMQCTL). Passwords are generated once and kept in the credentials file."""
    try:
        urls = setup(credentials=credentials, definitions=definitions, vhost=vhost)
    except (RuntimeError, FileNotFoundError, posts.PostsError) as error:
        console.print(f"[red]broker setup failed:[/] {error}", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"users {', '.join(urls)} provisioned; their AMQP URLs are in {credentials}", highlight=False)
