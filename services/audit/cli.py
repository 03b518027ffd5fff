"""``visa audit``: replay, verify, export and reconcile the event log, as an auditor (read-only)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.settings import CommonSettings
from shared.signing.store import KeysMissing, read_ring

from .stream import Bound, StreamUnavailable, read_stream

audit = typer.Typer(help="The event log, for auditors: replay, verify, export, reconcile.", no_args_is_help=True)
console = Console(soft_wrap=True, stderr=True)

FromOption = Annotated[str, typer.Option("--from", help="first, last, an offset or an ISO time.")]
UntilOption = Annotated[str | None, typer.Option("--until", help="An offset or an ISO time (inclusive).")]
TypeOption = Annotated[list[str] | None, typer.Option("--type", help="Only events of this type (repeatable).")]
RequestOption = Annotated[str | None, typer.Option("--request", help="Only the events of this request.")]
ArchiveOption = Annotated[Path | None, typer.Option(help="Read this archive directory instead of the live stream.")]
IdleOption = Annotated[float, typer.Option(help="The live log is read to its end once quiet this long (s).")]


class Selection:
    """Which records of the log, from the live stream or an archive."""

    def __init__(self, start: str, until: str | None, types: list[str] | None, request: str | None, archive, idle):
        try:
            self.start, self.until = Bound.parse(start), Bound.parse(until) if until else None
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        if self.until is not None and self.until.named:
            raise typer.BadParameter("--until takes an offset or an ISO time")
        if archive is not None and self.start.named == "last":
            raise typer.BadParameter("--from last reads the live log only; give an archive an offset or a time")
        self.types, self.request, self.archive, self.idle = set(types or ()), request, archive, idle
        self.breaks: list = []
        self.first_offset: int | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.types or self.request)

    def complete(self) -> bool:
        """Whether the window starts at the log's beginning and holds every event in it."""
        return self.start.named == "first" and self.first_offset == 0 and not self.filtered

    def wanted(self, event: Any) -> bool:
        if not isinstance(event, dict):
            return not self.filtered
        if self.types and event.get("type") not in self.types:
            return False
        return self.request is None or self.request in (event.get("subject"), event.get("correlationid"))

    async def records(self) -> AsyncIterator[tuple[int, Any]]:
        if self.archive is not None:
            from .archive import read_archive

            reader = read_archive(self.archive)
            for offset, event in reader:
                if self.start.before(offset, event):
                    continue
                if self.until is not None and self.until.after(offset, event):
                    break
                self.first_offset = offset if self.first_offset is None else self.first_offset
                if self.wanted(event):
                    yield offset, event
            self.breaks = reader.breaks
            return
        settings = CommonSettings()
        url = _auditor_url()
        async for offset, event in read_stream(
            url, start=self.start, until=self.until, namespace=settings.visa_namespace, idle_seconds=self.idle
        ):
            self.first_offset = offset if self.first_offset is None else self.first_offset
            if self.wanted(event):
                yield offset, event


def _auditor_url() -> str:
    from services.broker_cli import broker_url

    return broker_url("auditor")


def _progress(label: str):
    """A live counter on a terminal; plain lines (every 10,000 records) when piped."""
    if console.is_terminal:
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console)
        return progress, lambda task, count, offset: progress.update(
            task, description=f"{label} {count:,} (offset {offset})"
        )
    return (
        nullcontext(),
        lambda task, count, offset: (
            print(f"{label} {count} records, offset {offset}", file=sys.stderr) if count % 10_000 == 0 else None
        ),
    )


async def _drain(selection: Selection, label: str, sink) -> int:
    progress, advance = _progress(label)
    count = 0
    with progress:
        task = progress.add_task(label) if isinstance(progress, Progress) else None
        async for offset, event in selection.records():
            sink(offset, event)
            count += 1
            advance(task, count, offset)
    return count


def _archivable(event: Any) -> dict[str, Any]:
    """A record that is not a JSON object is archived as its bytes, so that verify reports it, not loses it."""
    if isinstance(event, dict):
        return event
    raw = event if isinstance(event, bytes) else json.dumps(event).encode()
    return {"unreadable": base64.b64encode(raw).decode()}


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/]", highlight=False)
    return typer.Exit(2)


@audit.command("replay")
def replay(
    start: FromOption = "first",
    until: UntilOption = None,
    type: TypeOption = None,
    request: RequestOption = None,
    archive: ArchiveOption = None,
    out: Annotated[Path | None, typer.Option(help="Write JSON lines here instead of standard output.")] = None,
    idle: IdleOption = 2.0,
) -> None:
    """Write the selected events as JSON lines ({"offset", "event"}), taking nothing from anyone."""
    selection = Selection(start, until, type, request, archive, idle)
    handle = out.open("w") if out else sys.stdout
    try:
        count = asyncio.run(
            _drain(selection, "replayed", lambda o, e: handle.write(json.dumps({"offset": o, "event": e}) + "\n"))
        )
    except StreamUnavailable as error:
        raise _fail(str(error)) from None
    finally:
        if out:
            handle.close()
    console.print(f"{count} event(s) replayed", highlight=False)


def _history(complete: bool):
    from .history import History
    from .schemas import SchemaCheck

    try:
        ring = read_ring(CommonSettings().visa_keyring)
    except KeysMissing as error:
        raise _fail(str(error)) from None
    return History(ring, SchemaCheck.load(), complete=complete)


async def _verified(selection: Selection):
    """Feed the window to a History, made at the first record: only then is it known whether the window
    starts at the log's beginning."""
    history = None

    def feed(offset: int, event: Any) -> None:
        nonlocal history
        if history is None:
            history = _history(selection.complete())
        history.feed(offset, event)

    await _drain(selection, "verified", feed)
    history = history or _history(False)
    for chain_break in selection.breaks:
        history.flag(chain_break.violation())
    return history.finish()


def _summary(report) -> None:
    table = Table("measure", "count", title="event log" + (" (complete)" if report.complete else " (window)"))
    for name, value in [
        ("events", report.events),
        *((f"  {kind}", n) for kind, n in sorted(report.by_type.items())),
        ("redeliveries collapsed", report.redeliveries),
        ("references before the window", report.before_window),
        ("requests", report.requests),
        ("grants / denials / revocations", f"{report.grants} / {report.denials} / {report.revocations}"),
        ("no visa needed (waivers)", report.not_required),
        (
            "visas issued / cancelled / superseded / live",
            f"{report.visas_issued} / {report.visas_cancelled} / {report.visas_superseded} / {report.visas_live}",
        ),
        ("violations", len(report.violations)),
        *((f"  {invariant}", n) for invariant, n in sorted(report.violations_by_invariant.items())),
    ]:
        table.add_row(name, str(value))
    console.print(table)


@audit.command("verify")
def verify(
    start: FromOption = "first",
    until: UntilOption = None,
    type: TypeOption = None,
    request: RequestOption = None,
    archive: ArchiveOption = None,
    violations: Annotated[Path, typer.Option(help="Where the violations go, as JSON lines.")] = Path(
        "audit-violations.jsonl"
    ),
    summary_json: Annotated[Path | None, typer.Option(help="Also write the summary as JSON here.")] = None,
    idle: IdleOption = 2.0,
) -> None:
    """Check every invariant of the history; exit 0 when none is violated, 1 when one is, 2 when it could not run."""
    selection = Selection(start, until, type, request, archive, idle)
    try:
        report = asyncio.run(_verified(selection))
    except (StreamUnavailable, FileNotFoundError) as error:
        raise _fail(str(error)) from None
    with violations.open("w") as handle:
        for violation in report.violations:
            handle.write(json.dumps(violation) + "\n")
    if summary_json:
        summary_json.write_text(json.dumps(report.to_dict(), indent=2))
    _summary(report)
    for violation in report.violations[:20]:
        console.print(
            f"offset {violation['offset']}: {violation['invariant']} — {violation['detail']}", highlight=False
        )
    console.print(f"{len(report.violations)} violation(s); written to {violations}", highlight=False)
    raise typer.Exit(0 if report.ok else 1)


@audit.command("export")
def export(
    directory: Annotated[Path, typer.Option("--dir", help="The archive directory (created, or continued).")],
    segment_events: Annotated[int, typer.Option(min=1, help="Events per segment file.")] = 100_000,
    idle: IdleOption = 2.0,
) -> None:
    """Append the live log to hash-chained JSONL segments, from where the archive stops (or the first offset)."""
    from .archive import ArchiveWriter

    with ArchiveWriter(directory, segment_events=segment_events) as writer:
        selection = Selection(str(writer.next_offset), None, None, None, None, idle)
        try:
            count = asyncio.run(
                _drain(selection, "exported", lambda offset, event: writer.append(_archivable(event), offset))
            )
        except StreamUnavailable as error:
            raise _fail(str(error)) from None
    console.print(f"{count} event(s) archived in {directory}", highlight=False)


@audit.command("reconcile")
def reconcile_command(
    intake_url: Annotated[str, typer.Option(envvar="AUDIT_INTAKE_URL", help="Intake's base URL.")],
    issuance_url: Annotated[str, typer.Option(envvar="AUDIT_ISSUANCE_URL", help="Issuance's base URL.")],
    key: Annotated[str, typer.Option(envvar="AUDITOR_KEY", help="An auditor's key (visa auditors add).")],
    archive: ArchiveOption = None,
    out: Annotated[Path | None, typer.Option(help="Write the differences as JSON lines here.")] = None,
    idle: IdleOption = 2.0,
) -> None:
    """Compare the log's account with what intake and issuance hold now; exit 1 on any difference."""
    from .reconcile import reconcile
    from .records import AuditReadError, fetch_requests, fetch_visas

    selection = Selection("first", None, None, None, archive, idle)

    async def run() -> tuple[Any, dict, dict]:
        report = await _verified(selection)
        return report, await fetch_visas(issuance_url, key), await fetch_requests(intake_url, key)

    try:
        report, visas, requests = asyncio.run(run())
    except (StreamUnavailable, AuditReadError, FileNotFoundError) as error:
        raise _fail(str(error)) from None
    differences = reconcile(report, visas, requests)
    if out:
        out.write_text("".join(json.dumps(difference) + "\n" for difference in differences))
    for difference in differences:
        console.print(f"{difference['kind']}: {difference['key']}", highlight=False)
    console.print(
        f"{len(report.visas)} visas and {len(report.request_statuses)} requests in the log; "
        f"{len(visas)} visas at issuance, {len(requests)} requests at intake; {len(differences)} difference(s)",
        highlight=False,
    )
    raise typer.Exit(0 if not differences else 1)
