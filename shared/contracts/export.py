"""Writes the committed contract: every event's JSON Schema and the AsyncAPI document that references them."""

from __future__ import annotations

from pathlib import Path

from .asyncapi import document
from .schemas import ASYNCAPI, SCHEMA_DIR, event_schemas, render


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema into ``directory``, and the AsyncAPI document that references them beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, schema in event_schemas().items():
        path = directory / f"{stem}.json"
        path.write_text(render(schema))
        written.append(path)
    asyncapi = directory.parent / ASYNCAPI
    asyncapi.write_text(render(document()))
    return [*written, asyncapi]
