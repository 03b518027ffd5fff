"""The committed JSON Schemas are the published contract: the models may not drift from them silently."""

from __future__ import annotations

import json

from shared.contracts import EVENT_MODELS
from shared.contracts.schemas import SCHEMA_DIR, event_schemas, render


def test_every_event_type_has_a_committed_schema_equal_to_its_model():
    generated = event_schemas()
    committed = {path.stem: path.read_text() for path in SCHEMA_DIR.glob("*.json")}
    assert set(committed) == set(generated), "run `visa contract export` and commit shared/contracts/schemas/"
    for stem, schema in generated.items():
        assert committed[stem] == render(schema), (
            f"{stem} changed: re-export it if the change is compatible, otherwise publish a new version"
        )


def test_schemas_name_their_routing_key_and_required_fields():
    for event_type, model in EVENT_MODELS.items():
        schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text())
        assert schema["$id"] == event_type and schema["x-routing-key"] == model.routing_key
        assert "request_id" in schema["required"]
