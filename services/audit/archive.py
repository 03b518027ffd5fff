"""The retained event log: JSON Lines segments whose lines form one hash chain, and a manifest.

Each line is one record, ``{"offset": n, "event": {...}, "prev": "<hex>", "hash": "<hex>"}``, where

    hash = hex(SHA-256(prev + RFC8785({"offset": offset, "event": event})))

``prev`` being the 64 ASCII hex digits of the previous line's ``hash`` (64 zeros before the archive's
first line; a segment's first line chains from the previous segment's last line), concatenated with the
UTF-8 bytes of the RFC 8785 canonical JSON of the object holding just ``offset`` and ``event``.

Segments are named ``segment-<first offset, 20 digits>.jsonl``. ``manifest.json`` lists them in order with
their first and last offset, line count, byte size and head (last hash); it is replaced atomically each
time a segment is flushed or closed, and it is the commit point: lines written after the last flush are
not part of the archive (the writer drops them when it resumes), so whoever feeds the writer acknowledges
its source only after ``flush()``.

Reading verifies the chain line by line and reports each break where it is: an edited line's hash does not
match its content; a removed or reordered line's ``prev`` does not match the line before; a segment that
lost its last lines no longer matches the manifest's line count and head; a removed segment is missing.
Each check stands on the line's own fields, so one damage is reported once, not on every line after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import rfc8785

GENESIS = "0" * 64
MANIFEST = "manifest.json"
SEGMENT_GLOB = "segment-*.jsonl"
INVARIANT = "archive-chain"


class ArchiveCorrupt(RuntimeError):
    """The archive cannot be extended safely: its last segment disagrees with its manifest."""


def chain_hash(prev: str, offset: int, event: dict[str, Any]) -> str:
    return hashlib.sha256(prev.encode("ascii") + rfc8785.dumps({"offset": offset, "event": event})).hexdigest()


def segment_name(first_offset: int) -> str:
    return f"segment-{first_offset:020d}.jsonl"


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return None


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class ArchiveWriter:
    """Appends records to the archive in ``directory``, continuing it if it exists."""

    def __init__(self, directory: Path | str, segment_events: int = 100_000) -> None:
        if segment_events < 1:
            raise ValueError("a segment holds at least one event")
        self.directory = Path(directory)
        self.segment_events = segment_events
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = _read_manifest(self.directory)
        if manifest is None and any(self.directory.glob(SEGMENT_GLOB)):
            # Without its manifest nothing tells committed lines from the rest: never guess, never delete.
            raise ArchiveCorrupt(f"{self.directory} holds segments but no {MANIFEST}: verify the archive")
        manifest = manifest or {"segments": []}
        self._segments: list[dict[str, Any]] = manifest["segments"]
        self.head = GENESIS
        self.next_offset = 0
        self._file: Any = None  # the open segment, when its last line is not yet the segment's limit
        if self._segments:
            self._resume(self._segments[-1])
        self._discard_uncommitted()

    def _resume(self, last: dict[str, Any]) -> None:
        self.head, self.next_offset = last["head"], last["last_offset"] + 1
        path = self.directory / last["name"]
        if not path.exists():
            raise ArchiveCorrupt(f"{path} is in the manifest but missing: verify the archive before extending it")
        size = path.stat().st_size
        if size < last["bytes"]:
            raise ArchiveCorrupt(f"{path} holds {size} bytes, the manifest {last['bytes']}: verify the archive")
        if size > last["bytes"]:
            os.truncate(path, last["bytes"])  # written after the last flush: never committed
        if last["lines"] < self.segment_events:
            self._file = path.open("ab")

    def _discard_uncommitted(self) -> None:
        listed = {segment["name"] for segment in self._segments}
        for path in self.directory.glob(SEGMENT_GLOB):
            if path.name not in listed:
                path.unlink()  # opened after the last flush and never committed

    def append(self, event: dict[str, Any], offset: int | None = None) -> int:
        """Append ``event`` at ``offset`` (default: the next one; offsets only increase); return the offset."""
        offset = self.next_offset if offset is None else offset
        if offset < self.next_offset:
            raise ValueError(f"offset {offset} is not after the archive's last ({self.next_offset - 1})")
        record_hash = chain_hash(self.head, offset, event)
        line = json.dumps(
            {"offset": offset, "event": event, "prev": self.head, "hash": record_hash},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        if self._file is None:
            name = segment_name(offset)
            self._file = (self.directory / name).open("wb")
            self._segments.append({"name": name, "first_offset": offset, "last_offset": offset, "lines": 0, "bytes": 0})
        segment = self._segments[-1]
        self._file.write(line + b"\n")
        segment.update(
            last_offset=offset, lines=segment["lines"] + 1, bytes=segment["bytes"] + len(line) + 1, head=record_hash
        )
        self.head, self.next_offset = record_hash, offset + 1
        if segment["lines"] >= self.segment_events:
            self._close_segment()
        return offset

    def flush(self) -> None:
        """Make every record appended so far durable and committed (in the manifest)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
        self._write_manifest()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _close_segment(self) -> None:
        self.flush()
        self._file.close()
        self._file = None

    def _write_manifest(self) -> None:
        document = {
            "version": 1,
            "hash": "sha256(prev + RFC8785({offset, event}))",
            "segments": self._segments,
            "head": self.head,
            "next_offset": self.next_offset,
        }
        # A reader sees the old manifest or the new one, never half of one.
        with tempfile.NamedTemporaryFile("w", dir=self.directory, delete=False, suffix=".tmp") as handle:
            json.dump(document, handle, indent=1)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, self.directory / MANIFEST)
        _fsync_directory(self.directory)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class ChainBreak:
    """Where the archive's chain does not hold: ``line_number`` counts from 1 (None: the whole segment)."""

    segment: str
    line_number: int | None
    offset: int | None
    detail: str

    def violation(self) -> dict[str, Any]:
        """As a History violation (invariant ``archive-chain``)."""
        where = self.segment if self.line_number is None else f"{self.segment} line {self.line_number}"
        return {
            "offset": self.offset,
            "event_id": None,
            "type": None,
            "request_id": None,
            "invariant": INVARIANT,
            "detail": f"{where}: {self.detail}",
        }


@dataclass
class ArchiveReader:
    """Iterates ``(offset, event)`` over the committed records, collecting ``breaks`` as it goes.

    Every readable record is yielded, broken or not: its event still gets its own checks (an edited
    event usually fails its signature too). ``breaks`` is complete once the iteration ends.
    """

    directory: Path
    breaks: list[ChainBreak] = field(default_factory=list)
    _last_hash: str | None = field(default=None, init=False, repr=False)  # of the segment being read
    _records: Iterator[tuple[int, dict[str, Any]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._records = self._read()

    def __iter__(self) -> ArchiveReader:
        return self

    def __next__(self) -> tuple[int, dict[str, Any]]:
        return next(self._records)

    def _read(self) -> Iterator[tuple[int, dict[str, Any]]]:
        manifest = _read_manifest(self.directory)
        if manifest is None:
            segments = [{"name": path.name} for path in sorted(self.directory.glob(SEGMENT_GLOB))]
            if segments:
                self.breaks.append(ChainBreak(MANIFEST, None, None, "missing: segments read in name order"))
        else:
            segments = manifest["segments"]
        expected: str | None = GENESIS
        for segment in segments:
            path = self.directory / segment["name"]
            if not path.exists():
                self.breaks.append(ChainBreak(segment["name"], None, segment.get("first_offset"), "segment missing"))
            else:
                yield from self._segment(path, segment, expected)
            # The next segment chains from what the manifest committed: damage here is reported here only.
            expected = segment.get("head", self._last_hash)

    def _segment(
        self, path: Path, segment: dict[str, Any], expected: str | None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        committed = segment.get("lines")  # lines past it were written after the last flush: not archived
        lines, last_offset, self._last_hash = 0, None, None
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if committed is not None and number > committed:
                    break
                lines = number
                record = self._record(path.name, number, raw, expected, last_offset)
                if record is None:
                    expected = None  # an unreadable line's hash is unknown: the next prev cannot be judged
                    continue
                offset, event, expected = record
                last_offset, self._last_hash = offset, expected
                yield offset, event
        if committed is not None and (lines, self._last_hash) != (committed, segment.get("head")):
            detail = f"ends at line {lines}, the manifest commits {committed} ending with head {segment.get('head')}"
            if lines < committed:  # lines lost at the end: the first missing one, up to the committed last offset
                self.breaks.append(ChainBreak(path.name, lines + 1, segment.get("last_offset"), detail))
            else:
                self.breaks.append(ChainBreak(path.name, lines, last_offset, detail))

    def _record(
        self, name: str, number: int, raw: bytes, expected: str | None, last_offset: int | None
    ) -> tuple[int, dict[str, Any], str] | None:
        """The line's offset, event and hash, after recording what breaks the chain there."""
        try:
            line = json.loads(raw)
            offset, event, prev, stated = line["offset"], line["event"], line["prev"], line["hash"]
            if not (isinstance(offset, int) and isinstance(event, dict) and isinstance(prev, str)):
                raise TypeError("fields of the wrong type")
        except (ValueError, KeyError, TypeError) as error:
            self.breaks.append(ChainBreak(name, number, None, f"not an archive record ({type(error).__name__})"))
            return None
        problems = []
        if expected is not None and prev != expected:
            problems.append("prev does not chain from the line before (a line removed or reordered)")
        if last_offset is not None and offset <= last_offset:
            problems.append(f"offset does not increase (after {last_offset})")
        try:
            intact = chain_hash(prev, offset, event) == stated
        except (rfc8785.CanonicalizationError, UnicodeEncodeError):
            intact = False
        if not intact:
            problems.append("hash does not match the line's content (the line was edited)")
        if problems:
            self.breaks.append(ChainBreak(name, number, offset, "; ".join(problems)))
        return offset, event, stated if isinstance(stated, str) else ""


def read_archive(directory: Path | str) -> ArchiveReader:
    """The archive's records, verified as they are read; see ``ArchiveReader``."""
    return ArchiveReader(Path(directory))


class _Auditor(Protocol):
    def feed(self, offset: int, event: dict[str, Any]) -> None: ...
    def flag(self, violation: dict[str, Any]) -> None: ...


def replay(directory: Path | str, history: _Auditor) -> list[ChainBreak]:
    """Feed the archive to ``history`` (a ``History``), then tell it of every break of the chain."""
    reader = read_archive(directory)
    for offset, event in reader:
        history.feed(offset, event)
    for chain_break in reader.breaks:
        history.flag(chain_break.violation())
    return reader.breaks
