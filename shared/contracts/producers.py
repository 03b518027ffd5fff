"""Who owns which event type: the only service allowed to publish (and sign) it.

Read by the key ring (a key signs only its service's types), the AsyncAPI document and the deployment
definitions' test (a service's broker user may publish only its own routing keys).
"""

from __future__ import annotations

from .events import (
    AuthorizationDenied,
    AuthorizationGranted,
    AuthorizationRevoked,
    EventData,
    RequestSubmitted,
    ReviewStarted,
    VisaCancelled,
    VisaIssued,
)

PRODUCED_BY: dict[str, tuple[type[EventData], ...]] = {
    "intake": (RequestSubmitted,),
    "authorization": (ReviewStarted, AuthorizationGranted, AuthorizationDenied, AuthorizationRevoked),
    "issuance": (VisaIssued, VisaCancelled),
}
PRODUCERS = tuple(PRODUCED_BY)


def owned_types(service: str) -> tuple[str, ...]:
    """The CloudEvents types ``service`` publishes; empty for a service that publishes nothing."""
    return tuple(model.event_type for model in PRODUCED_BY.get(service, ()))


def producer_of(event_type: str) -> str | None:
    return next((service for service, models in PRODUCED_BY.items() if event_type in owned_types(service)), None)


def source_of(service: str) -> str:
    """The CloudEvents ``source`` of the events ``service`` publishes."""
    return f"urn:pe:rree:visa:{service}"
