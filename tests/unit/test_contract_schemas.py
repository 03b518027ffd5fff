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


def test_the_asyncapi_document_is_committed_current_and_well_formed():
    from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema

    from shared.contracts.asyncapi import document
    from shared.contracts.schemas import ASYNCAPI

    committed = (SCHEMA_DIR.parent / ASYNCAPI).read_text()
    assert committed == render(document()), "run `visa contract export` and commit shared/contracts/asyncapi.json"
    schema = ApplicationSchema.model_validate(json.loads(committed))
    # One channel (routing key) and one message per event type, each payload pointing at a committed schema.
    assert set(schema.channels) == {model.routing_key for model in EVENT_MODELS.values()}
    for event_type in EVENT_MODELS:
        [message] = [m for m in json.loads(committed)["components"]["messages"].values() if m["title"] == event_type]
        data_ref = message["payload"]["allOf"][1]["properties"]["data"]["$ref"]
        assert (SCHEMA_DIR.parent / data_ref).is_file()
