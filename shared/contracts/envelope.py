"""CloudEvents 1.0 envelope, structured JSON mode: what travels on ``visa.events``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import clock

from .events import EVENT_MODELS, EventData

CONTENT_TYPE = "application/cloudevents+json"


class UnknownEventType(ValueError):
    pass


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    time: dt.datetime = Field(default_factory=lambda: clock.current().now())
    subject: str
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    correlationid: str
    causationid: str | None = None
    # CloudEvents distributed-tracing extension: the W3C trace context of the span that caused the event.
    traceparent: str | None = Field(None, pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")

    @classmethod
    def wrap(
        cls, data: EventData, *, source: str, causation: Envelope | None = None, traceparent: str | None = None
    ) -> Envelope:
        request_id = data.request_id  # type: ignore[attr-defined]
        return cls(
            source=source,
            type=data.event_type,
            subject=request_id,
            data=data.model_dump(mode="json"),
            correlationid=causation.correlationid if causation else request_id,
            causationid=causation.id if causation else None,
            traceparent=traceparent,
        )

    @property
    def routing_key(self) -> str:
        return self.model_class().routing_key

    def model_class(self) -> type[EventData]:
        try:
            return EVENT_MODELS[self.type]
        except KeyError:
            raise UnknownEventType(self.type) from None

    def payload(self) -> EventData:
        """The typed ``data``; raises ``UnknownEventType`` or pydantic's ``ValidationError``."""
        return self.model_class().model_validate(self.data)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()
