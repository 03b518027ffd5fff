"""The AsyncAPI 3.0 document of ``visa.events``: one channel per routing key, one message per event type, and
who sends and who receives each, from the registry of the topology (``registry.py``).

Payload schemas are the committed JSON Schemas beside it (``schemas/``), referenced by relative path, so
the two never disagree; ``visa contract export`` writes both.
"""

from __future__ import annotations

from importlib.metadata import version

from .envelope import CONTENT_TYPE
from .events import EVENT_MODELS
from .registry import ROLES, producer_of
from .schemas import ENVELOPE

AMQP_BINDING = "0.3.0"


def _message_name(event_type: str) -> str:
    return EVENT_MODELS[event_type].__name__


def document() -> dict:
    channels, operations, messages = {}, {}, {}
    for event_type, model in sorted(EVENT_MODELS.items()):
        name, key = _message_name(event_type), model.routing_key
        producer = producer_of(event_type)
        messages[name] = {
            "name": name,
            "title": event_type,
            "summary": (model.__doc__ or "").strip().split("\n")[0] or name,
            "contentType": CONTENT_TYPE,
            "payload": {
                "allOf": [
                    {"$ref": f"schemas/{ENVELOPE}.json"},
                    {
                        "properties": {
                            "type": {"const": event_type},
                            "data": {"$ref": f"schemas/{event_type}.json"},
                        }
                    },
                ]
            },
            # AMQP message binding 0.3.0 knows only contentEncoding and messageType (the AMQP ``type``).
            "bindings": {"amqp": {"messageType": event_type, "bindingVersion": AMQP_BINDING}},
        }
        channels[key] = {
            "address": key,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": "visa.events", "type": "topic", "durable": True, "autoDelete": False},
                    "bindingVersion": AMQP_BINDING,
                }
            },
        }
        operations[f"{producer}Publishes{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{name}"}],
            "summary": f"{producer} publishes {event_type}",
            # How it is published belongs to the operation, not the message: persistent, unroutable is an error,
            # consumers acknowledge (FastStream's own model of this binding also requires ``ack``).
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "ack": True, "bindingVersion": AMQP_BINDING}},
        }
    for role in ROLES.values():
        for model in role.handles:
            name, key = _message_name(model.event_type), model.routing_key
            operations[f"{role.service}Receives{name}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{key}"},
                "messages": [{"$ref": f"#/channels/{key}/messages/{name}"}],
                "summary": f"{role.service} consumes {model.event_type} from its queue {role.consumes.name}",
                "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Diplomatic and official visas for Peru: visa.events",
            "version": version("visa-system"),
            "description": (
                "CloudEvents 1.0 in structured JSON mode on the durable topic exchange visa.events. "
                "AMQP message_id is the event id, AMQP type the event type; messages are persistent. "
                "Consumers ignore fields and types they do not know; a breaking change is a new type (.v2)."
            ),
        },
        "servers": {
            "broker": {"host": "localhost:5672", "pathname": "/", "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
