"""The topology of ``visa.events`` in one place: which service publishes which event type, and which
routing keys each service consumes into which queue.

Everything that needs to know reads it from here: each service's app (what it subscribes, what it may
emit), the ``visa`` command (dead letters, keys), the AsyncAPI document, the key ring (a key signs only its
service's types), the broker definitions' test and the event-log audit. Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from .events import (
    AuthorizationDenied,
    AuthorizationGranted,
    AuthorizationNotRequired,
    AuthorizationRevoked,
    EventData,
    FunctionsEnded,
    RequestSubmitted,
    ReviewStarted,
    VisaCancelled,
    VisaIssued,
    VisaSuperseded,
)


@dataclass(frozen=True)
class ConsumerQueue:
    """A consumer's queue and the routing keys it is bound with.

    A queue with ``headers`` is bound to the headers exchange ``visa.posts`` (``x-match: all`` on them), which
    ``visa.events`` feeds with the routing keys ``bindings``: it receives only the events published with those
    keys *and* those AMQP headers (each post's issuance queue: the header ``post``).
    """

    name: str
    bindings: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = ()

    def accepts(self, routing_key: str) -> bool:
        """Whether an event published with ``routing_key`` reaches this queue (AMQP topic matching), when its
        headers match too (``receives``)."""
        return any(_topic_match(pattern.split("."), routing_key.split(".")) for pattern in self.bindings)

    def receives(self, routing_key: str, headers: Mapping[str, object] | None = None) -> bool:
        """Whether an event published with ``routing_key`` and the AMQP ``headers`` reaches this queue."""
        headers = headers or {}
        return self.accepts(routing_key) and all(headers.get(name) == value for name, value in self.headers)


def _topic_match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_topic_match(rest, words[i:]) for i in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _topic_match(rest, words[1:])


@dataclass(frozen=True)
class Role:
    """One service's part in the topology: the only publisher (and signer) of ``publishes``; the consumer of
    ``consumes``'s queue, of which it handles the event types ``handles`` (the others it ignores)."""

    service: str
    publishes: tuple[type[EventData], ...]
    consumes: ConsumerQueue
    handles: tuple[type[EventData], ...]

    def __post_init__(self) -> None:
        for model in self.handles:
            if not self.consumes.accepts(model.routing_key):
                raise ValueError(f"{self.consumes.name} is not bound to {model.routing_key}, which it handles")

    def for_post(self, post: str) -> Role:
        """Issuance's role when it runs for the consular post ``post``: that post's own queue."""
        if self.service != "issuance":
            raise ValueError(f"{self.service} does not run per consular post")
        return replace(self, consumes=issuance_queue(post))


# The AMQP header authorization events carry the issuing post in (copied from their data's ``post``).
POST_HEADER = "post"


def issuance_queue(post: str) -> ConsumerQueue:
    """The queue of the consular post ``post``'s issuance: the authorization events whose header ``post`` names
    it (routing, not filtering: another post's grant never reaches it). Its replicas share it."""
    return ConsumerQueue(f"issuance.{post.lower()}.authorizations", ("visa.authorization.*",), ((POST_HEADER, post),))


INTAKE = Role(
    "intake",
    publishes=(RequestSubmitted, FunctionsEnded),
    consumes=ConsumerQueue(
        "intake.request-status", ("visa.authorization.*", "visa.issued", "visa.cancelled", "visa.superseded")
    ),
    handles=(
        ReviewStarted,
        AuthorizationGranted,
        AuthorizationDenied,
        AuthorizationNotRequired,
        AuthorizationRevoked,
        VisaIssued,
        VisaCancelled,
        VisaSuperseded,
    ),
)
# The Directorate's cases: the requests it decides (and the ends of functions notified about them), and the
# visas issued under its authorizations.
AUTHORIZATION = Role(
    "authorization",
    publishes=(
        ReviewStarted,
        AuthorizationGranted,
        AuthorizationDenied,
        AuthorizationNotRequired,
        AuthorizationRevoked,
    ),
    consumes=ConsumerQueue(
        "authorization.cases", ("visa.request.submitted", "visa.request.functions-ended", "visa.issued")
    ),
    handles=(RequestSubmitted, FunctionsEnded, VisaIssued),
)
# Only authorization events: the consulate issues nothing MRE has not authorized (and ignores the others,
# e.g. AuthorizationNotRequired: a waiver issues nothing). Each consular post's issuance consumes its own queue
# (``ISSUANCE.for_post``); ``consumes`` here is the queue of the packaged default post, LIM (shared/posts.toml).
ISSUANCE = Role(
    "issuance",
    publishes=(VisaIssued, VisaCancelled, VisaSuperseded),
    consumes=issuance_queue("LIM"),
    handles=(AuthorizationGranted, AuthorizationRevoked),
)

ROLES: dict[str, Role] = {role.service: role for role in (INTAKE, AUTHORIZATION, ISSUANCE)}
SERVICES = tuple(ROLES)
PRODUCED_BY: dict[str, tuple[type[EventData], ...]] = {service: role.publishes for service, role in ROLES.items()}
PRODUCERS = tuple(service for service, role in ROLES.items() if role.publishes)
CONSUMERS = tuple(role.consumes for role in ROLES.values())


def consumer_queues(posts: tuple[str, ...] | list[str]) -> tuple[ConsumerQueue, ...]:
    """Every consumer queue when the consular posts are ``posts``: intake's, authorization's, one per post."""
    return tuple(
        queue
        for role in ROLES.values()
        for queue in ((issuance_queue(post) for post in posts) if role is ISSUANCE else (role.consumes,))
    )


def role(service: str) -> Role:
    try:
        return ROLES[service]
    except KeyError:
        raise ValueError(f"no service {service!r}: one of {', '.join(SERVICES)}") from None


def owned_types(service: str) -> tuple[str, ...]:
    """The CloudEvents types ``service`` publishes; empty for a service that publishes nothing."""
    return tuple(model.event_type for model in PRODUCED_BY.get(service, ()))


def producer_of(event_type: str) -> str | None:
    return next((service for service, models in PRODUCED_BY.items() if event_type in owned_types(service)), None)


def consumers_of(routing_key: str) -> tuple[str, ...]:
    """The services whose queue an event published with ``routing_key`` reaches."""
    return tuple(service for service, role in ROLES.items() if role.consumes.accepts(routing_key))


def routing_headers(event: Mapping) -> dict[str, str]:
    """The AMQP headers an event (a CloudEvent as a dict) is published with: ``post``, the issuing post named by an
    authorization event's data, by which ``visa.posts`` routes it to that post's issuance queue. Taken from the
    signed data only; empty for any other event."""
    data = event.get("data")
    post = data.get("post") if isinstance(data, Mapping) else None
    if isinstance(post, str) and producer_of(str(event.get("type"))) == AUTHORIZATION.service:
        return {POST_HEADER: post}
    return {}


def source_of(service: str) -> str:
    """The CloudEvents ``source`` of the events ``service`` publishes."""
    return f"urn:pe:rree:visa:{service}"
