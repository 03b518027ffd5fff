"""JSON Schemas of every event's ``data``: the contract integrators code against.

The committed files under ``schemas/`` are checked against the models by the tests, so a change to an
event cannot slip in unnoticed: regenerate with ``visa contract export`` (``export.py``) and let the diff be reviewed.
A change that would break a consumer of a published schema gets a new type (``….v2``) instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from .envelope import CONTENT_TYPE, Envelope
from .events import EVENT_MODELS

SCHEMA_DIR = Path(__file__).with_name("schemas")
ENVELOPE = "cloudevent-envelope"
ASYNCAPI = "asyncapi.json"


def event_schemas() -> dict[str, dict]:
    """File stem -> JSON Schema: one per event type, and the CloudEvents envelope."""
    schemas = {ENVELOPE: {**Envelope.model_json_schema(mode="serialization"), "contentMediaType": CONTENT_TYPE}}
    for event_type, model in sorted(EVENT_MODELS.items()):
        schema = model.model_json_schema(mode="serialization")
        schema.update({"$id": event_type, "x-routing-key": model.routing_key})
        schemas[event_type] = schema
    return schemas


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
