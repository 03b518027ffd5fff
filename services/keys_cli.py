"""``visa keys``: the signing keys of the producing services and the public key ring."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared import clock
from shared.contracts.registry import PRODUCERS
from shared.settings import CommonSettings
from shared.signing.store import KeyFiles, KeysMissing

keys = typer.Typer(help="Signing keys: generate, rotate, retire, list.", no_args_is_help=True)
console = Console(soft_wrap=True)


def key_files() -> KeyFiles:
    settings = CommonSettings()
    return KeyFiles(settings.visa_keyring, settings.visa_signing_keys)


def ensure_development_keys() -> list[str]:
    """A key for every producing service that has none usable here: what `visa run` does on a new machine."""
    files, made = key_files(), []
    for service in PRODUCERS:
        try:
            files.signing_key(service)
        except KeysMissing:
            made.append(files.generate(service).kid)
    return made


@keys.command("generate")
def generate(service: Annotated[str, typer.Argument(help="intake, authorization or issuance")]) -> None:
    """Make a new signing key for SERVICE (a rotation when it has one): the private key in
    VISA_SIGNING_KEYS, its public half in the key ring VISA_KEYRING. Restart the service to sign with it."""
    if service not in PRODUCERS:
        raise typer.BadParameter(f"one of {', '.join(PRODUCERS)}", param_hint="SERVICE")
    files = key_files()
    entry = files.generate(service)
    console.print(
        f"key [bold]{entry.kid}[/] for {service} ({', '.join(entry.event_types)}); "
        f"private key in {files.private_dir}, public key in {files.ring_path}",
        highlight=False,
    )


@keys.command("retire")
def retire(
    kid: str,
    at: Annotated[dt.datetime | None, typer.Option(help="End of validity (UTC); default now.")] = None,
) -> None:
    """End a key's validity: it signs nothing after AT; what it signed before stays verifiable."""
    moment = (at or clock.current().now()).replace(tzinfo=(at.tzinfo if at and at.tzinfo else dt.UTC))
    try:
        entry = key_files().retire(kid, moment)
    except KeyError as error:
        raise typer.BadParameter(str(error), param_hint="KID") from None
    console.print(f"{entry.kid} valid until {entry.valid_until.isoformat()}", highlight=False)


@keys.command("list")
def list_keys() -> None:
    """The key ring: every key, its service, the types it signs and its validity."""
    files = key_files()
    table = Table("key id", "service", "valid from", "valid until", "private key here")
    for entry in files.ring().entries.values():
        table.add_row(
            entry.kid,
            entry.service,
            entry.valid_from.isoformat(timespec="seconds"),
            entry.valid_until.isoformat(timespec="seconds") if entry.valid_until else "",
            "yes" if (files.private_dir / f"{entry.kid}.pem").exists() else "no",
        )
    console.print(table)
