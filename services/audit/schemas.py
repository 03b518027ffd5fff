"""The committed contract, applied to each event of the log: its envelope and its data, by type.

The validators are compiled once from ``shared/contracts/schemas/`` (the files integrators code against,
not the models), so the audit checks the log against what was published. Each event is checked by a
``fastjsonschema`` validator compiled to Python (some thirty times faster than ``jsonschema``, measured by
``make bench-audit``); only an event it refuses goes through ``jsonschema`` again, for every error by name.
Both apply the same format checks, and a unit test holds them to the same verdicts. Error messages name where the
event breaks the schema and which rule, never the offending value: a log holds diplomats' personal data,
and an audit report travels further than the log.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from shared.contracts.schemas import ENVELOPE, SCHEMA_DIR

# Rules whose schema value is short and says what was expected (a type, a pattern…): worth quoting.
_QUOTED = frozenset(
    {"type", "enum", "const", "pattern", "format", "minLength", "maxLength", "minItems", "maxItems", "minimum"}
)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # a format constrains strings only; ``type`` reports the rest
    if not _RFC3339.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


FORMATS = {"date": _is_date, "date-time": _is_date_time}


def _formats() -> FormatChecker:
    """The draft's format checks, with ``date-time`` made to count: jsonschema skips it without an extra."""
    checker = FormatChecker()
    for name, check in FORMATS.items():
        checker.checks(name)(check)
    return checker


def _fast(schema: dict[str, Any]) -> Callable[[Any], Any]:
    # use_default=False: by default it writes the schema's defaults into the event it checks.
    return fastjsonschema.compile(schema, formats=FORMATS, use_default=False)


def _compile(schema: dict[str, Any], formats: FormatChecker) -> Validator:
    # The exported files declare no ``$schema``; pydantic writes Draft 2020-12 (``$defs``), the default here.
    cls = validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=formats)


def _describe(where: str, error: ValidationError) -> str:
    path = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in error.absolute_path)
    if error.validator == "required":
        # The message names the missing property, which comes from the schema, not from the event.
        return f"{where}{path}: {error.message}"
    if error.validator in _QUOTED:
        return f"{where}{path}: fails {error.validator} {error.validator_value!r}"
    return f"{where}{path}: fails {error.validator}"


class SchemaCheck:
    """Validators of the envelope and of each event type's ``data``, compiled from the committed files."""

    def __init__(self, envelope: Validator, data: dict[str, Validator]) -> None:
        self.envelope = envelope
        self.data = data
        self._fast_envelope = _fast(envelope.schema)
        self._fast_data = {event_type: _fast(validator.schema) for event_type, validator in data.items()}

    @classmethod
    def load(cls, directory: Path = SCHEMA_DIR) -> SchemaCheck:
        formats = _formats()
        envelope: Validator | None = None
        data: dict[str, Validator] = {}
        for path in sorted(directory.glob("*.json")):
            validator = _compile(json.loads(path.read_text()), formats)
            if path.stem == ENVELOPE:
                envelope = validator
            else:
                data[path.stem] = validator  # each file is named for the CloudEvents type it describes
        if envelope is None:
            raise FileNotFoundError(f"no {ENVELOPE}.json in {directory}")
        return cls(envelope, data)

    def check(self, event: Any) -> list[str]:
        """Why ``event`` breaks the contract; empty when it holds."""
        if not isinstance(event, dict):
            return ["event: not a JSON object"]
        if self._passes(event):
            return []
        errors = [_describe("event", error) for error in self.envelope.iter_errors(event)]
        event_type = event.get("type")
        validator = self.data.get(event_type) if isinstance(event_type, str) else None
        if validator is None:
            errors.append("event.type: not a type of the contract")
        elif isinstance(event.get("data"), dict):  # otherwise the envelope already said so
            errors.extend(_describe("event.data", error) for error in validator.iter_errors(event["data"]))
        return sorted(errors)

    def _passes(self, event: dict[str, Any]) -> bool:
        fast = self._fast_data.get(event.get("type"))  # type: ignore[arg-type]
        if fast is None or not isinstance(event.get("data"), dict):
            return False
        try:
            self._fast_envelope(event)
            fast(event["data"])
        except fastjsonschema.JsonSchemaException:
            return False
        return True
