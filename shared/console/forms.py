"""Forms of the consoles: field names that mirror the API's body (``principal.passport.number``,
``family.0.surnames``), read into the body the API takes, and the API's 422 entries (pydantic's ``loc``) shown
next to the fields they name, in the visitor's language (``shared.http.errors.validation_message``, the same
words as the API's)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from shared.http.errors import validation_message

Errors = dict[str, list[str]]


def field_id(name: str) -> str:
    """An HTML id for a field name: ``principal.passport.number`` → ``f-principal-passport-number``."""
    return "f-" + "".join(char if char.isalnum() else "-" for char in name)


def nested(pairs: Iterable[tuple[str, str]], *, lists: Sequence[str] = ()) -> dict[str, Any]:
    """Dotted field names and their values as a nested body; a numeric part indexes a list (``family.0.sex``).
    Empty values are left out (a required field then says so); names ending in one of ``lists`` gather every
    value given (checkboxes)."""
    body: dict[str, Any] = {}
    for name, raw in pairs:
        value = raw.strip()
        if not value:
            continue
        parts = name.split(".")
        node: dict[str, Any] = body
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if parts[-1] in lists:
            node.setdefault(parts[-1], []).append(value)
        else:
            node[parts[-1]] = value
    return _lists(body)


def _lists(node: Any) -> Any:
    """Dicts keyed by indexes only become lists, in index order."""
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def errors_by_field(
    error: ValidationError, language: str, fields: Iterable[str], *, rename: Mapping[tuple, tuple] | None = None
) -> tuple[Errors, list[str]]:
    """Each pydantic error's message in ``language``, under the field it names (the longest of ``fields`` its
    ``loc`` starts with); those that name no field, apart (a summary). ``rename`` maps a ``loc`` prefix to the
    form's own (a list the form shows with gaps)."""
    known = set(fields)
    by_field: Errors = {}
    apart: list[str] = []
    for entry in error.errors():
        loc = tuple(entry.get("loc", ()))
        for prefix, replacement in (rename or {}).items():
            if loc[: len(prefix)] == prefix:
                loc = replacement + loc[len(prefix) :]
                break
        message = validation_message(dict(entry), language)
        parts = [str(part) for part in loc]
        for end in range(len(parts), 0, -1):
            name = ".".join(parts[:end])
            if name in known:
                by_field.setdefault(name, []).append(message)
                break
        else:
            apart.append(message)
    return by_field, apart
