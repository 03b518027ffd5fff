"""``visa``: the operator's command line."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from rich.console import Console

from services import catalog
from services.audit.cli import audit
from services.broker_cli import broker, broker_url, read_credentials, setup, users_missing
from services.db_cli import db, refuse_if_behind, upgrade_development_databases
from services.documents_cli import ensure_development_seal_key, print_visa, seal_keys, verify_seal
from services.keys_cli import ensure_development_keys, keys
from shared.accounts import register
from shared.contracts import SponsorKind
from shared.contracts.people import country_code
from shared.contracts.registry import SERVICES
from shared.observability import configure_logging

app = typer.Typer(help="Diplomatic and official visas for Peru: operate the services.", no_args_is_help=True)
sponsors = typer.Typer(help="Sponsors: governments, international organizations and ENIEX.", no_args_is_help=True)
officers = typer.Typer(help="Officers of MRE's Directorate of Privileges.", no_args_is_help=True)
contract = typer.Typer(help="The event contract integrators code against.", no_args_is_help=True)
app.add_typer(sponsors, name="sponsors")
verifiers = typer.Typer(help="Verifiers: border posts and systems that check visas.", no_args_is_help=True)
app.add_typer(officers, name="officers")
app.add_typer(verifiers, name="verifiers")
dead_letters = typer.Typer(
    help="Messages a consumer gave up on: inspect them, replay them once fixed.", no_args_is_help=True
)
app.add_typer(contract, name="contract")
app.add_typer(dead_letters, name="dead-letters")
app.add_typer(keys, name="keys")
app.add_typer(broker, name="broker")
app.add_typer(audit, name="audit")
app.add_typer(db, name="db")
app.add_typer(seal_keys, name="seal-keys")
app.command("print")(print_visa)
app.command("verify")(verify_seal)
console = Console(soft_wrap=True)


# The services, as the registry of the topology names them.
Service = StrEnum("Service", {service: service for service in SERVICES})


def _service(service: Service):
    """The service's settings and application factory, imported only when needed."""
    settings_class, build = catalog.service(service.value)
    return settings_class(), build


def _address(service: Service, settings) -> tuple[str, int]:
    return getattr(settings, f"{service.value}_host"), getattr(settings, f"{service.value}_port")


def _broker_reachable(url: str) -> str | None:
    """None when RabbitMQ answers at ``url``; otherwise why not, in one line."""
    import aio_pika
    from yarl import URL

    async def probe() -> None:
        connection = await aio_pika.connect(url, timeout=10)
        await connection.close()

    logging.getLogger("aiormq").setLevel(logging.CRITICAL)  # its traceback would bury the one line below
    try:
        asyncio.run(probe())
    except Exception as error:
        return f"cannot reach RabbitMQ at {URL(url).with_password(None)}: {error}"
    finally:
        logging.getLogger("aiormq").setLevel(logging.NOTSET)
    return None


@app.command()
def serve(service: Service) -> None:
    """Run one service in this process, until SIGTERM or Ctrl-C."""
    settings, build = _service(service)
    configure_logging(settings.log_level, service.value)
    if problem := _broker_reachable(settings.amqp_url):
        console.print(f"[red]{service.value}: {problem}[/] (set AMQP_URL)", highlight=False)
        raise typer.Exit(3)
    refuse_if_behind(service.value)  # the database's schema at the code's head, or a clear refusal
    host, port = _address(service, settings)
    from shared.service import frozen_once_started  # the web stack, only for the command that serves

    console.print(f"[bold]{service.value}[/] listening on http://{host}:{port}", highlight=False)
    uvicorn.run(
        frozen_once_started(build(settings)),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's records go through configure_logging's handler: JSON off a terminal
        access_log=False,
        timeout_graceful_shutdown=int(settings.visa_graceful_timeout),
    )


@app.command()
def run() -> None:
    """Run the three services, each as its own process and its own broker user; Ctrl-C stops them all.

    On a new machine it first makes development signing keys and a seal key, and provisions the broker (`visa
    broker setup`); each time, it upgrades the services' databases when they are SQLite files (`visa db upgrade`).
    """
    for kid in ensure_development_keys():
        console.print(f"development signing key {kid} created", highlight=False)
    if seal_kid := ensure_development_seal_key():
        console.print(f"development seal key {seal_kid} created", highlight=False)
    if users_missing():
        console.print("provisioning the broker (visa broker setup)…", highlight=False)
        try:
            setup()
        except (RuntimeError, FileNotFoundError) as error:
            console.print(
                f"[red]broker setup failed:[/] {error}\nrun `visa broker setup` as the broker's administrator"
            )
            raise typer.Exit(2) from None
    upgrade_development_databases()  # SQLite only: PostgreSQL's are the operator's (`visa db upgrade`)
    # `visa serve <service>` from the same installation, whichever way this command was started.
    visa = Path(sys.executable).with_name("visa")
    command = [str(visa)] if visa.exists() else [sys.executable, "-m", "services.cli"]
    processes: dict[Service, subprocess.Popen] = {}
    for service in Service:
        # A session of its own: Ctrl-C reaches only this supervisor, which then asks each service once
        # (SIGTERM) to finish its in-flight work; a second signal would make uvicorn exit at once.
        # Each service as its own broker user (AMQP_URL named only the broker, for the setup).
        env = os.environ | {"AMQP_URL": read_credentials()[service.value]}
        processes[service] = subprocess.Popen([*command, "serve", service.value], start_new_session=True, env=env)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for service in Service:
        settings, _ = _service(service)
        host, port = _address(service, settings)
        url = f"http://{host}:{port}"
        while not stopping and processes[service].poll() is None:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    console.print(f"[green]ready[/] {service.value:<14} {url}  (API docs: {url}/docs)", highlight=False)
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    while not stopping and all(process.poll() is None for process in processes.values()):
        time.sleep(0.2)
    crashed = [service for service, process in processes.items() if process.poll() is not None]
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        process.wait()
    for service in crashed:
        console.print(f"[red]{service.value} exited with {processes[service].returncode}[/]", highlight=False)
    console.print("stopped")
    if crashed:
        raise typer.Exit(1)


def _registered(registration: Coroutine[Any, Any, tuple[str, str]]) -> tuple[str, str]:
    """Run an account's registration; a database whose schema is behind is named, with the command to run."""
    from shared.migrations import SchemaError

    try:
        return asyncio.run(registration)
    except SchemaError as error:
        console.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(3) from None


@sponsors.command("add")
def add_sponsor(
    kind: Annotated[SponsorKind, typer.Option(help="Who formally asks for the visas.")],
    name: Annotated[str, typer.Option(help="The sponsor's name, e.g. 'Embassy of Sweden'.")],
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-3 code of a government.")] = None,
) -> None:
    """Register a sponsor in intake's database and print its API key, once, as the last line."""
    from services.intake.models import SponsorRecord
    from services.intake.settings import IntakeSettings

    if country is not None:
        try:
            country = country_code(country)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--country") from None
    sponsor_id, key = _registered(
        register(
            IntakeSettings().intake_database_url,
            SponsorRecord,
            service="intake",
            prefix="sk",
            name=name,
            kind=kind.value,
            country=country,
        )
    )
    console.print(f"sponsor {sponsor_id} ({kind.value}) registered; its API key is shown only once:", highlight=False)
    print(key)


@officers.command("add")
def add_officer(name: Annotated[str, typer.Option(help="The officer's full name.")]) -> None:
    """Register an MRE officer in authorization's database and print the API key, once, as the last line."""
    from services.authorization.models import Officer
    from services.authorization.settings import AuthorizationSettings

    officer_id, key = _registered(
        register(
            AuthorizationSettings().authorization_database_url, Officer, service="authorization", prefix="ok", name=name
        )
    )
    console.print(f"officer {officer_id} registered; the API key is shown only once:", highlight=False)
    print(key)


@verifiers.command("add")
def add_verifier(
    name: Annotated[str, typer.Option(help="The border post or system, e.g. 'Jorge Chávez airport'.")],
) -> None:
    """Register a verifier in issuance's database and print the API key, once, as the last line."""
    from services.issuance.models import Verifier
    from services.issuance.settings import IssuanceSettings

    verifier_id, key = _registered(
        register(IssuanceSettings().issuance_database_url, Verifier, service="issuance", prefix="vk", name=name)
    )
    console.print(f"verifier {verifier_id} registered; the API key is shown only once:", highlight=False)
    print(key)


clerks = typer.Typer(help="Consular staff: print the visas their post issued.", no_args_is_help=True)
app.add_typer(clerks, name="clerks")


@clerks.command("add")
def add_clerk(name: Annotated[str, typer.Option(help="The clerk's full name.")]) -> None:
    """Register a consular clerk in issuance's database and print the API key, once, as the last line."""
    from services.issuance.models import ConsularClerk
    from services.issuance.settings import IssuanceSettings

    clerk_id, key = _registered(
        register(IssuanceSettings().issuance_database_url, ConsularClerk, service="issuance", prefix="ck", name=name)
    )
    console.print(f"consular clerk {clerk_id} registered; the API key is shown only once:", highlight=False)
    print(key)


auditors = typer.Typer(help="Auditors: read-only access to intake's and issuance's records.", no_args_is_help=True)
app.add_typer(auditors, name="auditors")


@auditors.command("add")
def add_auditor(
    name: Annotated[str, typer.Option(help="The auditor or audit system, e.g. 'Contraloría General'.")],
) -> None:
    """Register an auditor in intake's and issuance's databases and print its one API key, once, as the last line."""
    from services.intake.models import Auditor as IntakeAuditor
    from services.intake.settings import IntakeSettings
    from services.issuance.models import Auditor as IssuanceAuditor
    from services.issuance.settings import IssuanceSettings

    async def register_in_both() -> tuple[str, str]:
        auditor_id, key = await register(
            IntakeSettings().intake_database_url, IntakeAuditor, service="intake", prefix="ak", name=name
        )
        # One identity for the audit tool, whichever service it reads. Should this second step fail, the
        # intake account is inert: its key is never shown; run the command again.
        await register(
            IssuanceSettings().issuance_database_url,
            IssuanceAuditor,
            service="issuance",
            prefix="ak",
            name=name,
            key=key,
            holder_id=auditor_id,
        )
        return auditor_id, key

    auditor_id, key = _registered(register_in_both())
    console.print(
        f"auditor {auditor_id} registered at intake and issuance; the API key is shown only once:", highlight=False
    )
    print(key)


def _consumer_queue(service: Service, post: str | None = None):
    from shared.contracts.registry import ISSUANCE, role
    from shared.messaging import Topology

    settings, _ = _service(service)
    consumer = role(service.value).consumes
    if service.value == ISSUANCE.service:
        # Each consular post's issuance has its queue: the one named, else ISSUANCE_POST's.
        consumer = ISSUANCE.for_post(post or settings.issuance_post).consumes
    return (
        broker_url("operator"),
        Topology(settings.visa_namespace, settings.visa_delivery_limit),
        consumer,
    )


PostOption = Annotated[
    str | None,
    typer.Option(help="issuance: the consular post whose queue (default ISSUANCE_POST); ignored for the others."),
]


@dead_letters.command("list")
def list_dead_letters(
    service: Service, limit: Annotated[int, typer.Option(min=1)] = 20, post: PostOption = None
) -> None:
    """Show the dead letters of a service's queue, leaving them where they are."""
    from rich.table import Table

    from shared.messaging.dead_letters import inspect

    url, topology, consumer = _consumer_queue(service, post)
    letters = asyncio.run(inspect(url, topology, consumer, limit))
    table = Table("message id", "type", "reason", "deaths", "body")
    for letter in letters:
        body = letter.body[:80].decode(errors="replace")
        table.add_row(letter.message_id or "", letter.type or "", letter.reason, str(letter.deaths), body)
    console.print(table)
    console.print(f"{len(letters)} shown from {topology.dead_letter_queue(consumer).name}", highlight=False)


@dead_letters.command("replay")
def replay_dead_letters(
    service: Service, limit: Annotated[int, typer.Option(min=1)] = 1000, post: PostOption = None
) -> None:
    """Send a service's dead letters back to its queue (after the cause is fixed); consumers are idempotent."""
    from shared.messaging.dead_letters import replay
    from shared.signing.store import read_ring

    url, topology, consumer = _consumer_queue(service, post)
    settings, _ = _service(service)
    result = asyncio.run(replay(url, topology, consumer, limit, read_ring(settings.visa_keyring)))
    for letter in result.refused:
        console.print(f"[yellow]kept[/] {letter.message_id}: {letter.reason}", highlight=False)
    console.print(f"{result.moved} message(s) moved back to {topology.queue(consumer).name}", highlight=False)


@contract.command("export")
def export_contract(
    directory: Annotated[Path | None, typer.Option(help="Where to write; default: shared/contracts/schemas.")] = None,
) -> None:
    """Write the JSON Schema of every event's data, and of the CloudEvents envelope."""
    from shared.contracts.export import export
    from shared.contracts.schemas import SCHEMA_DIR

    for path in export(directory or SCHEMA_DIR):
        console.print(str(path), highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
