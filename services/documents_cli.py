"""``visa seal-keys``, ``visa print`` and ``visa verify``: the printed visa, its seal keys, and checking a seal
offline (docs/domain/visa-document.md)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared import clock
from shared.seal import barcode
from shared.seal.keys import Verdict, verify
from shared.seal.store import SealKeyFiles, SealKeysMissing, read_published

seal_keys = typer.Typer(
    help="Seal keys: each post's key that signs the seals of the visas it prints, and the published public keys.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _issuance_settings():
    from services.issuance.settings import IssuanceSettings

    return IssuanceSettings()


def seal_key_files() -> tuple[SealKeyFiles, str]:
    settings = _issuance_settings()
    return SealKeyFiles(settings.issuance_seal_public_keys, settings.issuance_seal_keys), settings.issuance_post


def ensure_development_seal_key() -> str | None:
    """A seal key for this post when it has none usable here: what `visa run` does on a new machine."""
    files, post = seal_key_files()
    made = files.ensure(post, clock.current().today())
    return made.kid if made else None


@seal_keys.command("generate")
def generate(
    post: Annotated[str | None, typer.Option(help="The post's code; default: ISSUANCE_POST.")] = None,
) -> None:
    """Make a new seal key for the post (a rotation when it has one): the private key in ISSUANCE_SEAL_KEYS, its
    public half published in ISSUANCE_SEAL_PUBLIC_KEYS. Seals printed from now on are signed with it."""
    files, default_post = seal_key_files()
    post = (post or default_post).strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{3,6}", post):
        raise typer.BadParameter("three to six letters or digits", param_hint="--post")
    key = files.generate(post, clock.current().today())
    console.print(
        f"seal key [bold]{key.kid}[/] for post {post}; private key in {files.private_dir}, "
        f"public key published in {files.published_path}",
        highlight=False,
    )


@seal_keys.command("retire")
def retire(
    kid: str,
    last_day: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Its last day; default today.")
    ] = None,
) -> None:
    """End a seal key's validity: it signs nothing after LAST_DAY; the seals it made before stay valid."""
    files, _ = seal_key_files()
    day = last_day.date() if last_day else clock.current().today()
    try:
        files.retire(kid, day)
    except (KeyError, SealKeysMissing) as error:
        raise typer.BadParameter(str(error), param_hint="KID") from None
    console.print(f"{kid} signs until {day.isoformat()}", highlight=False)


@seal_keys.command("list")
def list_keys() -> None:
    """The published seal keys: each key, its post, its validity, and whether its private half is here."""
    files, _ = seal_key_files()
    try:
        keys = files.published()
    except SealKeysMissing as error:
        errors.print(f"[red]{escape(str(error))}[/]", highlight=False)
        raise typer.Exit(1) from None
    table = Table("key id", "post", "valid from", "valid until", "private key here")
    for key in keys.entries.values():
        table.add_row(
            key.kid,
            key.post,
            key.valid_from.isoformat(),
            key.valid_until.isoformat() if key.valid_until else "",
            "yes" if (files.private_dir / f"{key.kid}.pem").exists() else "no",
        )
    console.print(table)


# --- visa print ------------------------------------------------------------------------------------------------


async def _sticker(number: str):
    from services.issuance.models import Base
    from services.issuance.sticker import Printer
    from services.issuance.usecases import Consulate
    from shared import posts
    from shared.db import Database
    from shared.messaging import messaging_metadata
    from shared.migrations import check

    settings = _issuance_settings()
    db = Database(settings.issuance_database_url, Base.metadata, messaging_metadata)
    try:
        await check(db, "issuance")
        prefix = settings.visa_prefix(posts.load(settings.visa_posts))
        consulate = Consulate(reads=db.sessions, visa_prefix=prefix, post=settings.issuance_post, clock=clock.current())
        visa = await consulate.visa(number)
    finally:
        await db.dispose()
    return visa, Printer(settings, clock.current()).sticker(visa)


def print_visa(
    number: Annotated[str, typer.Argument(help="The visa's number, e.g. PE0000001.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The PDF to write; default NUMBER.pdf.")] = None,
) -> None:
    """Print a visa this post issued: its MRV-A sticker as a PDF, with its seal signed today."""
    from services.issuance.sticker import NotPrintable, StickerFontMissing
    from services.issuance.usecases import VisaNotFound
    from shared.migrations import SchemaError

    try:
        visa, sticker = asyncio.run(_sticker(number))
    except (VisaNotFound, NotPrintable, SealKeysMissing, StickerFontMissing, SchemaError) as error:
        errors.print(f"[red]{escape(str(error))}[/]", highlight=False)
        raise typer.Exit(1) from None
    path = output or Path(f"{visa.number}.pdf")
    path.write_bytes(sticker.pdf)
    console.print(f"visa {visa.number} printed to {path}", highlight=False)


# --- visa verify -----------------------------------------------------------------------------------------------


def payload_bytes(text: str) -> bytes:
    """A payload as a scanner hands it over: hexadecimal, or base64 (standard or URL-safe, padded or not)."""
    text = re.sub(r"\s+", "", text)
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text):
        return bytes.fromhex(text)
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise typer.BadParameter("neither hexadecimal nor base64", param_hint="--payload") from None


def _show(verdict: Verdict) -> None:
    seal = verdict.seal
    if seal is not None:
        line1, line2 = seal.features.mrz
        surnames, _, given = line1[5:].partition("<<")
        rows = [
            ("visa number", line2[:9].rstrip("<")),
            ("surnames", surnames.replace("<", " ").strip()),
            ("given names", given.replace("<", " ").strip()),
            ("nationality", line2[10:13].rstrip("<")),
            ("date of birth (YYMMDD)", line2[13:19]),
            ("sex", line2[20]),
            ("valid from", seal.features.valid_from.isoformat()),
            ("valid until (YYMMDD)", line2[21:27]),
            ("duration of stay (days, months, years)", ", ".join(map(str, seal.features.stay))),
            ("passport", seal.features.passport_number),
            ("issued on", seal.header.issued_on.isoformat()),
            ("signed on", seal.header.signed_on.isoformat()),
            ("post", verdict.key.post if verdict.key else ""),
            ("seal key", seal.header.certificate_reference),
        ]
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
        print(line1, line2, sep="\n")  # the MRZ, unwrapped: a script may compare it with the printed one
    if verdict.valid:
        console.print("[green]VALID[/]", highlight=False)
    else:
        console.print(f"[red]INVALID[/] {verdict.reason}: {escape(verdict.detail)}", highlight=False)


def verify_seal(
    keys: Annotated[Path, typer.Option(help="The published seal keys (JSON, `GET /v1/seal-keys` at issuance).")],
    image: Annotated[Path | None, typer.Option(help="A scan or photograph of the seal (PNG, JPEG…).")] = None,
    payload: Annotated[
        str | None, typer.Option(help="The seal's bytes as a scanner reads them: hex or base64.")
    ] = None,
    on: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="The day to judge; default today.")
    ] = None,
) -> None:
    """Check a visa's seal offline: print the visa's data and VALID, or why not (malformed, unknown-key,
    bad-signature, key-not-valid, expired, not-yet-valid) and exit 1. A seal cannot know of a cancellation:
    `GET /v1/visas/{number}` says whether the visa still stands."""
    if (image is None) == (payload is None):
        raise typer.BadParameter("give one of --image and --payload")
    try:
        published = read_published(keys)
    except SealKeysMissing as error:
        errors.print(f"[red]{escape(str(error))}[/]", highlight=False)
        raise typer.Exit(2) from None
    if image is not None:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(image) as picture:
                data = barcode.read(picture)
        except (OSError, UnidentifiedImageError) as error:
            errors.print(f"[red]cannot read {escape(str(image))}: {escape(str(error))}[/]", highlight=False)
            raise typer.Exit(2) from None
        except barcode.NoSeal as error:
            console.print(f"[red]INVALID[/] malformed: {escape(str(error))}", highlight=False)
            raise typer.Exit(1) from None
    else:
        data = payload_bytes(payload or "")
    verdict = verify(data, published, on.date() if on else clock.current().today())
    _show(verdict)
    if not verdict.valid:
        raise typer.Exit(1)
