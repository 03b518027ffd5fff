"""At-least-once delivery on ``visa.events``: topology, outbox, inbox and the relay."""

from .bus import Additions, Bus, Handler, PoisonEvent, UnitOfWork
from .outbox import messaging_metadata
from .topology import (
    AUTHORIZATION_CASES,
    CONSUMERS,
    INTAKE_STATUS,
    ISSUANCE_AUTHORIZATIONS,
    ConsumerQueue,
    Topology,
)

__all__ = [
    "Additions",
    "AUTHORIZATION_CASES",
    "CONSUMERS",
    "INTAKE_STATUS",
    "ISSUANCE_AUTHORIZATIONS",
    "Bus",
    "ConsumerQueue",
    "Handler",
    "PoisonEvent",
    "Topology",
    "UnitOfWork",
    "messaging_metadata",
]
