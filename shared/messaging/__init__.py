"""At-least-once delivery on ``visa.events``: topology, outbox, inbox and the relay."""

from .bus import Additions, AtOnce, Bus, Handler, OneWrite, PoisonEvent, UnitOfWork
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
    "AtOnce",
    "AUTHORIZATION_CASES",
    "CONSUMERS",
    "INTAKE_STATUS",
    "ISSUANCE_AUTHORIZATIONS",
    "Bus",
    "ConsumerQueue",
    "Handler",
    "OneWrite",
    "PoisonEvent",
    "Topology",
    "UnitOfWork",
    "messaging_metadata",
]
