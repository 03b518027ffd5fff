"""deploy/ agrees with the code: broker topology and permissions, credentials, settings, probes.

Pure: reads files, opens no connection. What needs a Docker engine or a cluster is not checked here
(see deploy/README.md, "What was not verified").
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from services.authorization.app import build as build_authorization
from services.authorization.settings import AuthorizationSettings
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings
from services.issuance.app import build as build_issuance
from services.issuance.settings import IssuanceSettings
from shared import posts
from shared.contracts import EVENT_MODELS
from shared.contracts.registry import PRODUCED_BY, PRODUCERS, ROLES, consumer_queues, issuance_queue, owned_types
from shared.messaging import provisioning
from shared.messaging.topology import (
    DEAD_LETTER_EXCHANGE,
    EVENT_LOG,
    EVENTS_EXCHANGE,
    POSTS_EXCHANGE,
    ConsumerQueue,
    Topology,
)
from shared.settings import CommonSettings
from tests.support.metrics import METRIC_LABEL_VALUES, METRICS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

VHOST = "visa"
DELIVERY_LIMIT = 5
TOPOLOGY = Topology(namespace="", delivery_limit=DELIVERY_LIMIT)
SERVICES = tuple(ROLES)
AUDITOR = "auditor"
SETTINGS = {"intake": IntakeSettings, "authorization": AuthorizationSettings, "issuance": IssuanceSettings}
# Who consumes what into which queue, from the one registry (shared/contracts/registry.py): one issuance queue per
# consular post of the packaged list (shared/posts.toml), which deploy/ provisions.
POSTS = posts.load()
QUEUES = consumer_queues(POSTS.codes)
CONSUMERS = {service: role.consumes for service, role in ROLES.items()}
EXCHANGES = (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE, POSTS_EXCHANGE)
# The development passwords documented in deploy/README.md.
BROKER_PASSWORDS = {
    "intake": "intake-dev",
    "authorization": "authorization-dev",
    "issuance": "issuance-dev",
    "auditor": "auditor-dev",
    "operator": "operator-dev",
}
DATABASE_PASSWORDS = {"intake": "intake-db-dev", "authorization": "authorization-db-dev", "issuance": "issuance-db-dev"}
# Who publishes which event is shared/contracts/registry.py (PRODUCED_BY): the key ring lets each service
# sign its own types only, and the broker lets each service publish its own routing keys only.
# Names a permission regex may be asked about that exist in no definitions file: RabbitMQ's own exchanges
# (publishing to the default exchange "" is checked as "amq.default": it reaches any queue by name), and
# near misses of the real names (an unanchored or badly escaped regex would let them through).
BUILT_IN_EXCHANGES = ("amq.default", "amq.direct", "amq.topic", "amq.fanout", "amq.headers", "amq.match")
NEAR_MISSES = (
    "",
    "visa.events.x",
    "xvisa.events",
    "visa-events",
    "visaxevents",
    "visa.dead-letter.x",
    "visa.event-log.x",
    "xvisa.event-log",
    "visa.event-logs",
    "visa.event.log",
    "amq.gen-JzTY20BRgKO-HjmUJj0wLg",  # a server-named queue
)
# Where the services find the key ring and their private keys, in Compose and on Kubernetes.
KEYRING_DIR = "/etc/visa/keyring"
SIGNING_KEYS_DIR = "/etc/visa/signing-keys"


# --- reading the files ---------------------------------------------------------------------------


@cache
def definitions() -> dict:
    return json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text(encoding="utf-8"))


@cache
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def k8s_documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if doc is not None]


def k8s_object(name: str, kind: str) -> dict:
    (found,) = [doc for doc in k8s_documents(name) if doc["kind"] == kind]
    return found


def queue(name: str) -> dict:
    (found,) = [q for q in definitions()["queues"] if q["name"] == name and q["vhost"] == VHOST]
    return found


def permissions(user: str) -> dict:
    (found,) = [p for p in definitions()["permissions"] if p["user"] == user and p["vhost"] == VHOST]
    return found


def topic_permissions(user: str) -> dict:
    (found,) = [
        p
        for p in definitions()["topic_permissions"]
        if p["user"] == user and p["vhost"] == VHOST and p["exchange"] == EVENTS_EXCHANGE
    ]
    return found


def rabbit_matches(regex: str, name: str) -> bool:
    # RabbitMQ runs re:run(Name, Regex): unanchored, so the regex must anchor itself.
    return re.search(regex, name) is not None


def verify_rabbit_hash(password: str, encoded: str) -> bool:
    raw = base64.b64decode(encoded, validate=True)
    salt, digest = raw[:4], raw[4:]
    return hashlib.sha256(salt + password.encode("utf-8")).digest() == digest


def env_names(settings: type[CommonSettings]) -> set[str]:
    # No env_prefix and no aliases: field intake_database_url is read from INTAKE_DATABASE_URL.
    assert settings.model_config.get("env_prefix", "") == ""
    assert all(field.validation_alias is None and field.alias is None for field in settings.model_fields.values())
    return {name.upper() for name in settings.model_fields}


def load_settings(service: str, env: dict[str, str]) -> CommonSettings:
    """The service's settings as the environment would give them: fails on a name or value it rejects."""
    unknown = set(env) - env_names(SETTINGS[service])
    assert not unknown, f"{service}: not settings of this service (silently ignored): {sorted(unknown)}"
    return SETTINGS[service](_env_file=None, **{name.lower(): value for name, value in env.items()})


def own_names(service: str) -> set[str]:
    return {
        name for queue in QUEUES if queue.name.startswith(service + ".") for name in (queue.name, queue.name + ".dlq")
    }


def foreign_names(service: str) -> set[str]:
    # Other services' queues, including ones they may get later (e.g. issuance.<post>.authorizations).
    return {name for other in SERVICES if other != service for name in (*own_names(other), f"{other}.later-queue")}


def every_resource() -> set[str]:
    """Every exchange and queue name the broker knows or might be asked about."""
    declared = {x["name"] for x in definitions()["exchanges"]} | {q["name"] for q in definitions()["queues"]}
    return declared | set(BUILT_IN_EXCHANGES) | set(NEAR_MISSES) | {n for s in SERVICES for n in foreign_names(s)}


def routing_keys(service: str) -> set[str]:
    """The routing keys of the events ``service`` produces (shared/contracts/registry.py)."""
    return {EVENT_MODELS[event_type].routing_key for event_type in owned_types(service)}


# --- definitions.json: topology --------------------------------------------------------------------


def test_the_consumer_queues_are_the_ones_the_services_subscribe():
    builders = {"intake": build_intake, "authorization": build_authorization, "issuance": build_issuance}
    for service, consumer in CONSUMERS.items():
        assert consumer.name.startswith(service + ".")
        # Building the application connects to nothing; an in-memory database creates no file.
        settings = SETTINGS[service](_env_file=None, **{f"{service}_database_url": "sqlite+aiosqlite:///:memory:"})
        app = builders[service](settings)
        assert app.state.bus.consumers == [consumer]
    # Issuance runs for one consular post (ISSUANCE_POST), and consumes that post's own queue.
    for post in POSTS.codes:
        settings = IssuanceSettings(
            _env_file=None, issuance_database_url="sqlite+aiosqlite:///:memory:", issuance_post=post
        )
        assert build_issuance(settings).state.bus.consumers == [issuance_queue(post)]
        assert issuance_queue(post) in QUEUES


def test_the_services_declare_nothing_they_only_check_it_exists():
    # Why configure can be ^$: the bus only checks (passive declarations) what an administrator provisioned.
    assert TOPOLOGY.events_passive.declare is False
    assert TOPOLOGY.events_passive.name == TOPOLOGY.events.name
    assert TOPOLOGY.events_passive.type == TOPOLOGY.events.type
    for consumer in QUEUES:
        consumed = TOPOLOGY.consumed(consumer)
        assert consumed.declare is False
        assert consumed.name == TOPOLOGY.queue(consumer).name == consumer.name


def test_vhost_and_exchanges_match_the_topology():
    assert [v["name"] for v in definitions()["vhosts"]] == [VHOST]
    exchanges = {x["name"]: x for x in definitions()["exchanges"]}
    assert set(exchanges) == set(EXCHANGES)
    for declared in (TOPOLOGY.events, TOPOLOGY.dead_letter, TOPOLOGY.posts):
        exchange = exchanges[declared.name]
        assert exchange["vhost"] == VHOST
        assert exchange["type"] == declared.type.value
        # A redeclaration by the services with other flags would be refused (PRECONDITION_FAILED).
        assert exchange["durable"] is declared.durable is True
        assert exchange["auto_delete"] is declared.auto_delete is False
        assert exchange.get("internal", False) is False
        assert exchange["arguments"] == (declared.arguments or {})


@pytest.mark.parametrize("consumer", QUEUES, ids=lambda c: c.name)
def test_consumer_queue_has_exactly_the_arguments_the_services_declare(consumer: ConsumerQueue):
    expected = TOPOLOGY.queue(consumer)
    declared = queue(consumer.name)
    assert declared["arguments"] == expected.arguments
    assert declared["arguments"]["x-queue-type"] == "quorum"
    assert declared.get("type", "quorum") == "quorum"
    assert declared["arguments"]["x-delivery-limit"] == DELIVERY_LIMIT
    assert declared["arguments"]["x-dead-letter-routing-key"] == consumer.name
    assert declared["durable"] is expected.durable is True
    assert declared["auto_delete"] is expected.auto_delete is False


@pytest.mark.parametrize("consumer", QUEUES, ids=lambda c: c.name)
def test_dead_letter_queue_exists_and_is_bound(consumer: ConsumerQueue):
    expected = TOPOLOGY.dead_letter_queue(consumer)
    dlq = queue(expected.name)
    assert expected.name == consumer.name + ".dlq"
    assert dlq["arguments"] == expected.arguments
    assert dlq["arguments"]["x-queue-type"] == "quorum"
    assert dlq["durable"] is True and dlq["auto_delete"] is False
    assert {
        "source": DEAD_LETTER_EXCHANGE,
        "vhost": VHOST,
        "destination": expected.name,
        "destination_type": "queue",
        "routing_key": consumer.name,
        "arguments": {},
    } in definitions()["bindings"]


@pytest.mark.parametrize("consumer", QUEUES, ids=lambda c: c.name)
def test_every_routing_key_binding_exists(consumer: ConsumerQueue):
    for key in consumer.bindings:
        # A post's queue: visa.events feeds visa.posts with its keys, and the queue is bound there by its headers.
        target, kind = (POSTS_EXCHANGE, "exchange") if consumer.headers else (consumer.name, "queue")
        assert {
            "source": EVENTS_EXCHANGE,
            "vhost": VHOST,
            "destination": target,
            "destination_type": kind,
            "routing_key": key,
            "arguments": {},
        } in definitions()["bindings"]
    if consumer.headers:
        assert {
            "source": POSTS_EXCHANGE,
            "vhost": VHOST,
            "destination": consumer.name,
            "destination_type": "queue",
            "routing_key": "",
            "arguments": TOPOLOGY.header_arguments(consumer),
        } in definitions()["bindings"]


def test_each_post_receives_only_its_own_authorizations():
    # Routing, not filtering: a grant published with the header of post A reaches A's queue and no other.
    for post in POSTS.codes:
        for other in POSTS.codes:
            reached = issuance_queue(other).receives("visa.authorization.granted", {"post": post})
            assert reached is (post == other), (post, other)
        assert not issuance_queue(post).receives("visa.authorization.granted", {})  # no post: no issuance
        assert not issuance_queue(post).receives("visa.issued", {"post": post})


def test_event_log_is_a_stream_of_every_event_kept_by_default():
    expected = TOPOLOGY.event_log
    log = queue(EVENT_LOG)
    assert expected.name == EVENT_LOG == "visa.event-log"
    assert log["arguments"] == expected.arguments == {"x-queue-type": "stream"}
    # No retention in the file: everything is kept unless `visa broker setup` is given one (or a policy).
    assert "x-max-age" not in log["arguments"] and "x-max-length-bytes" not in log["arguments"]
    assert log["durable"] is expected.durable is True
    assert log["auto_delete"] is expected.auto_delete is False
    assert {
        "source": EVENTS_EXCHANGE,
        "vhost": VHOST,
        "destination": EVENT_LOG,
        "destination_type": "queue",
        "routing_key": "#",
        "arguments": {},
    } in definitions()["bindings"]
    everything = ConsumerQueue(EVENT_LOG, ("#",))
    assert all(everything.accepts(model.routing_key) for model in EVENT_MODELS.values())


def test_broker_setup_provisions_what_the_topology_declares():
    # `visa broker setup` renders this file with the settings' delivery limit and event-log retention.
    retention = {"event_log_max_age": "10Y", "event_log_max_bytes": 50_000_000_000}
    rendered = provisioning.render(definitions(), delivery_limit=7, **retention)
    topology = Topology(namespace="", delivery_limit=7, **retention)
    queues = {q["name"]: q["arguments"] for q in rendered["queues"]}
    assert queues[EVENT_LOG] == topology.event_log.arguments
    assert queues[EVENT_LOG] == {"x-queue-type": "stream", "x-max-age": "10Y", "x-max-length-bytes": 50_000_000_000}
    for consumer in QUEUES:
        assert queues[consumer.name] == topology.queue(consumer).arguments
        assert queues[consumer.name + ".dlq"] == topology.dead_letter_queue(consumer).arguments
    # And the file as it is, rendered with the defaults (and its own posts), is the file.
    for configured in ((), POSTS.codes):
        plain = provisioning.render(definitions(), delivery_limit=DELIVERY_LIMIT, posts=configured)
        for key in ("users", "permissions", "topic_permissions", "exchanges", "queues", "bindings"):
            assert plain[key] == definitions()[key], key


def test_broker_setup_declares_a_queue_for_a_post_added_to_the_list():
    # A post the file does not know gets what the file gives the others: its queue, bound by its header, and a DLQ.
    new = issuance_queue("CUZ")
    rendered = provisioning.render(definitions(), delivery_limit=7, namespace="ns.", posts=(*POSTS.codes, "CUZ"))
    topology = Topology(namespace="ns.", delivery_limit=7)
    queues = {q["name"]: q for q in rendered["queues"]}
    assert queues["ns." + new.name]["arguments"] == topology.queue(new).arguments
    assert queues["ns." + new.name + ".dlq"]["arguments"] == topology.dead_letter_queue(new).arguments
    bindings = {
        (b["source"], b["destination"], b["routing_key"], json.dumps(b["arguments"])) for b in rendered["bindings"]
    }
    assert ("ns.visa.posts", "ns." + new.name, "", json.dumps(topology.header_arguments(new))) in bindings
    assert ("ns.visa.dead-letter", "ns." + new.name + ".dlq", "ns." + new.name, "{}") in bindings
    assert len(rendered["queues"]) == len(definitions()["queues"]) + 2
    # The issuance user reads it (its own name space), as it reads every post's queue.
    read = permissions("issuance")["read"]
    assert rabbit_matches(read, new.name) and rabbit_matches(read, new.name + ".dlq")


def test_nothing_is_declared_that_the_topology_does_not_know():
    expected_queues = {name for service in SERVICES for name in own_names(service)} | {TOPOLOGY.event_log.name}
    assert {q["name"] for q in definitions()["queues"]} == expected_queues
    expected_bindings = (
        {(EVENTS_EXCHANGE, c.name, key) for c in QUEUES if not c.headers for key in c.bindings}
        | {(EVENTS_EXCHANGE, POSTS_EXCHANGE, key) for c in QUEUES if c.headers for key in c.bindings}
        | {(POSTS_EXCHANGE, c.name, "") for c in QUEUES if c.headers}
        | {(DEAD_LETTER_EXCHANGE, c.name + ".dlq", c.name) for c in QUEUES}
        | {(EVENTS_EXCHANGE, TOPOLOGY.event_log.name, "#")}
    )
    declared = {(b["source"], b["destination"], b["routing_key"]) for b in definitions()["bindings"]}
    assert declared == expected_bindings
    assert definitions()["policies"] == []  # a policy could override the declared arguments


# --- definitions.json: users, passwords, permissions ----------------------------------------------


def test_users_are_the_services_the_auditor_and_the_operator():
    users = {u["name"]: u for u in definitions()["users"]}
    assert set(users) == {*SERVICES, AUDITOR, "operator"} == set(BROKER_PASSWORDS)
    assert set(provisioning.SERVICE_USERS) == {*SERVICES, AUDITOR}  # the users `visa broker setup` provisions
    assert users["operator"]["tags"] == ["administrator"]
    for user in (*SERVICES, AUDITOR):
        assert users[user]["tags"] == []  # no management UI or HTTP API access


@pytest.mark.parametrize("user", BROKER_PASSWORDS)
def test_password_hash_is_a_real_sha256_hash_of_the_documented_dev_password(user: str):
    (record,) = [u for u in definitions()["users"] if u["name"] == user]
    assert record["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert len(base64.b64decode(record["password_hash"], validate=True)) == 36  # 4-byte salt + SHA-256
    assert verify_rabbit_hash(BROKER_PASSWORDS[user], record["password_hash"])
    assert not verify_rabbit_hash(BROKER_PASSWORDS[user] + "x", record["password_hash"])


def test_each_user_has_its_own_salt():
    salts = [base64.b64decode(u["password_hash"])[:4] for u in definitions()["users"]]
    assert len(set(salts)) == len(salts)


def test_every_user_has_permissions_in_the_vhost_once():
    assert sorted(p["user"] for p in definitions()["permissions"]) == sorted(BROKER_PASSWORDS)
    assert all(p["vhost"] == VHOST for p in definitions()["permissions"])


@pytest.mark.parametrize("service", SERVICES)
def test_service_configures_nothing(service: str):
    # Every exchange and queue is provisioned by an administrator (`visa broker setup`); the service's
    # passive checks need no permission. So it can neither create, delete nor redeclare anything.
    configure = permissions(service)["configure"]
    assert configure == "^$"
    for name in every_resource() - {""}:
        assert not rabbit_matches(configure, name), (service, "configure", name)


@pytest.mark.parametrize("service", SERVICES)
def test_service_writes_to_the_events_exchange_and_nothing_else(service: str):
    # basic.publish to visa.events only: not to visa.dead-letter (a direct exchange, where topic permissions
    # do not apply, routing into every .dlq, from which a replay would hand a forged event to its consumer),
    # not to the default exchange (any queue by name), and no queue (queue.bind needs write on the queue).
    write = permissions(service)["write"]
    for name in every_resource():
        assert rabbit_matches(write, name) is (name == EVENTS_EXCHANGE), (service, "write", name)


@pytest.mark.parametrize("service", SERVICES)
def test_service_reads_its_own_queues_and_nothing_else(service: str):
    # basic.consume on its queue (and, for an operator's tools running as the service, its DLQ). No read on
    # an exchange: binding needs it, and the services bind nothing. Not the event log: that is the auditor's.
    read = permissions(service)["read"]
    # Its own queues, and any later one in its own name space (e.g. issuance.<post>.authorizations).
    for name in (*own_names(service), f"{service}.later-queue"):
        assert rabbit_matches(read, name), (service, "read", name)
    for name in every_resource():
        if not name.startswith(service + "."):
            assert not rabbit_matches(read, name), (service, "read", name)
    for name in (*EXCHANGES, EVENT_LOG, *foreign_names(service)):
        assert not rabbit_matches(read, name), (service, "read", name)


def test_auditor_reads_the_event_log_and_nothing_else():
    perms = permissions(AUDITOR)
    assert (perms["configure"], perms["write"]) == ("^$", "^$")
    for name in every_resource() - {""}:
        assert not rabbit_matches(perms["configure"], name), ("configure", name)
        assert not rabbit_matches(perms["write"], name), ("write", name)  # publishes nothing, binds nothing
        assert rabbit_matches(perms["read"], name) is (name == EVENT_LOG), ("read", name)


def test_every_event_has_exactly_one_producer():
    assert set(PRODUCERS) == set(SERVICES)
    produced = [model for models in PRODUCED_BY.values() for model in models]
    assert sorted(model.__name__ for model in produced) == sorted(model.__name__ for model in EVENT_MODELS.values())
    for service in SERVICES:
        assert set(owned_types(service)) == {model.event_type for model in PRODUCED_BY[service]}


@pytest.mark.parametrize("service", SERVICES)
def test_topic_permissions_let_a_service_publish_only_its_own_events(service: str):
    write = topic_permissions(service)["write"]
    assert "{" not in write  # no variable expansion ({username}, {vhost}) intended
    own = routing_keys(service)
    assert own
    for model in EVENT_MODELS.values():
        assert rabbit_matches(write, model.routing_key) is (model.routing_key in own), (service, model.routing_key)
    # Nor a key that merely resembles another service's (a new event type must fit its producer's pattern).
    for other in SERVICES:
        if other != service:
            for key in routing_keys(other):
                for variant in (key + ".x", key + "-x", "x" + key):
                    assert not rabbit_matches(write, variant), (service, variant)
    for key in ("", "#", "*", "visa.#", "visa.*", "visa.*.*"):
        assert not rabbit_matches(write, key), (service, key)


@pytest.mark.parametrize("service", SERVICES)
def test_topic_permissions_let_a_service_bind_nothing(service: str):
    # The bindings are provisioned; a service binding its queue to more keys (or to #) would read more.
    read = topic_permissions(service)["read"]
    assert read == "^$"
    for key in {key for c in QUEUES for key in c.bindings} | {"#", "visa.#", "*.*.*", "visa.*"}:
        assert not rabbit_matches(read, key), (service, key)


def test_topic_permissions_are_the_services_own_and_the_operator_has_no_limits():
    # The auditor has none: it may write to no exchange at all, so it can neither publish nor bind.
    assert sorted(p["user"] for p in definitions()["topic_permissions"]) == sorted(SERVICES)
    assert {p["exchange"] for p in definitions()["topic_permissions"]} == {EVENTS_EXCHANGE}
    assert permissions("operator") == {
        "user": "operator",
        "vhost": VHOST,
        "configure": ".*",
        "write": ".*",
        "read": ".*",
    }


# --- rabbitmq.conf and postgres/init.sql -------------------------------------------------------------


def rabbitmq_conf() -> dict[str, str]:
    lines = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def test_rabbitmq_conf_loads_the_mounted_definitions():
    conf = rabbitmq_conf()
    assert conf["load_definitions"] == "/etc/rabbitmq/definitions.json"
    assert conf["default_queue_type"] == "quorum"
    mounts = compose()["services"]["rabbitmq"]["volumes"]
    assert "./rabbitmq/definitions.json:/etc/rabbitmq/definitions.json:ro" in mounts
    assert "./rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro" in mounts


@cache
def init_sql() -> str:
    return (DEPLOY / "postgres" / "init.sql").read_text(encoding="utf-8")


def test_init_sql_gives_each_service_its_own_database_and_role():
    roles = dict(re.findall(r"""CREATE ROLE "(\w+)" LOGIN PASSWORD '([^']*)';""", init_sql()))
    owners = dict(re.findall(r'CREATE DATABASE "(\w+)" OWNER "(\w+)";', init_sql()))
    revoked = set(re.findall(r'REVOKE ALL ON DATABASE "(\w+)" FROM PUBLIC;', init_sql()))
    assert roles == DATABASE_PASSWORDS
    assert owners == {service: service for service in SERVICES}
    assert revoked == set(SERVICES)
    assert "SUPERUSER" not in init_sql() and "CREATEDB" not in init_sql() and "CREATEROLE" not in init_sql()


# --- compose.yaml ----------------------------------------------------------------------------------------


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return float(match[1])


def test_compose_infrastructure_images_and_health():
    services = compose()["services"]
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert services["redis"]["image"] == "redis:7.2"
    assert services["postgres"]["image"] == "postgres:16.4"
    assert "./postgres/init.sql:/docker-entrypoint-initdb.d/10-visa.sql:ro" in services["postgres"]["volumes"]
    for name in ("rabbitmq", "redis", "postgres"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service(service: str):
    spec = compose()["services"][service]
    assert spec["image"] == "visa:0.1.0"
    assert spec["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (DEPLOY / spec["build"]["context"] / spec["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert spec["command"] == [service]
    env = {name: str(value) for name, value in spec["environment"].items()}
    settings = load_settings(service, env)
    port = getattr(settings, f"{service}_port")
    assert port == SETTINGS[service].model_fields[f"{service}_port"].default
    assert spec["ports"] == [f"{port}:{port}"]
    assert settings.visa_delivery_limit == DELIVERY_LIMIT
    assert settings.visa_namespace == ""
    assert seconds(spec["stop_grace_period"]) > 2 * settings.visa_graceful_timeout
    for dependency, condition in spec["depends_on"].items():
        assert dependency in compose()["services"]
        one_shot = dependency in ("keys", f"{service}-migrations")
        expected = "service_completed_successfully" if one_shot else "service_healthy"
        assert condition == {"condition": expected}, dependency
    assert {"keys", f"{service}-migrations", "rabbitmq", "postgres"} <= set(spec["depends_on"])
    if service != "issuance":  # intake and authorization read the treaty list through Redis
        assert "redis" in spec["depends_on"]

    # Its own broker user, whose documented password matches the hash in definitions.json.
    amqp = urlsplit(settings.amqp_url)
    assert (amqp.scheme, amqp.hostname, amqp.port, unquote(amqp.path[1:])) == ("amqp", "rabbitmq", 5672, VHOST)
    assert amqp.username == service
    (record,) = [u for u in definitions()["users"] if u["name"] == service]
    assert verify_rabbit_hash(unquote(amqp.password), record["password_hash"])

    # Its own database and role, as init.sql creates them.
    database = urlsplit(getattr(settings, f"{service}_database_url"))
    assert (database.scheme, database.hostname, database.port) == ("postgresql", "postgres", 5432)
    assert database.username == service and database.path == f"/{service}"
    assert database.password == DATABASE_PASSWORDS[service]
    assert urlsplit(settings.redis_url).hostname == "redis"

    probe = " ".join(spec["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/readyz" in probe

    # The key ring and its own signing key, read-only, where VISA_KEYRING and VISA_SIGNING_KEYS point.
    assert str(settings.visa_keyring) == f"{KEYRING_DIR}/keyring.json"
    assert str(settings.visa_signing_keys) == SIGNING_KEYS_DIR
    assert sorted(spec["volumes"]) == sorted(
        [f"keyring:{KEYRING_DIR}:ro", f"{service}-signing-key:{SIGNING_KEYS_DIR}:ro"]
    )


@pytest.mark.parametrize("service", SERVICES)
def test_compose_upgrades_each_database_before_its_service(service: str):
    services = compose()["services"]
    migrations = services[f"{service}-migrations"]
    assert migrations["image"] == "visa:0.1.0" and migrations["build"] == services[service]["build"]
    assert migrations["restart"] == "no"  # one-shot; the service waits for it to complete successfully
    assert [*migrations["entrypoint"], *migrations["command"]] == ["visa", "db", "upgrade", service]
    assert migrations["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # The service's own database, as the service's own role: nothing else (no broker, no keys).
    env = {name: str(value) for name, value in migrations["environment"].items()}
    database = f"{service.upper()}_DATABASE_URL"
    assert env == {database: services[service]["environment"][database]}
    load_settings(service, env)
    assert "volumes" not in migrations


def compose_mounts(spec: dict) -> dict[str, str]:
    """Mount point of each named volume: ``{volume: path}`` (``:ro`` kept on the path)."""
    return {entry.split(":", 1)[0]: entry.split(":", 1)[1] for entry in spec["volumes"]}


def test_compose_keys_service_makes_each_service_its_key_once():
    services = compose()["services"]
    keys = services["keys"]
    assert keys["image"] == "visa:0.1.0" and keys["build"] == services["intake"]["build"]
    assert keys["restart"] == "no"  # one-shot; the services wait for it to complete successfully
    env = {name: str(value) for name, value in keys["environment"].items()}
    assert set(env) <= env_names(CommonSettings)
    assert keys["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = keys["command"]
    # Every producing service, and only when it has no usable key (a second `up` changes nothing).
    assert f"for service in {' '.join(PRODUCERS)}; do" in script
    assert 'visa keys generate "$$service"' in script
    assert "key_files().signing_key(" in script
    assert "export VISA_SIGNING_KEYS=/keys/$$service" in script
    assert "chown -R 10001:10001 /keys" in script  # the services' user (deploy/Dockerfile)
    # It writes the volumes the services mount: the ring (same file name), each service's key directory.
    ring = PurePosixPath(env["VISA_KEYRING"])
    assert ring.name == PurePosixPath(KEYRING_DIR, "keyring.json").name
    mounts = compose_mounts(keys)
    assert mounts == {"keyring": str(ring.parent), **{f"{s}-signing-key": f"/keys/{s}" for s in PRODUCERS}}
    assert set(mounts) <= set(compose()["volumes"])
    for service in SERVICES:
        # Each service sees the ring and its own private key, read-only; no other service's key.
        own = compose_mounts(services[service])
        assert own == {"keyring": f"{KEYRING_DIR}:ro", f"{service}-signing-key": f"{SIGNING_KEYS_DIR}:ro"}
        assert services[service]["depends_on"]["keys"] == {"condition": "service_completed_successfully"}


# --- Kubernetes ------------------------------------------------------------------------------------------


def test_every_k8s_manifest_parses_and_the_kustomization_lists_them():
    kustomization = k8s_documents("kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for name in manifests:
        assert all(isinstance(doc, dict) and doc["apiVersion"] and doc["kind"] for doc in k8s_documents(name))
    # Example Secrets stay out of `kubectl apply -k`: they must never overwrite the real ones.
    assert set(kustomization["resources"]) == manifests - {"secrets.example.yaml"}


def configmap() -> dict[str, str]:
    return k8s_object("configmap.yaml", "ConfigMap")["data"]


def test_common_configmap_holds_common_settings_only():
    data = configmap()
    assert k8s_object("configmap.yaml", "ConfigMap")["metadata"]["name"] == "visa-common"
    assert set(data) <= env_names(CommonSettings)
    assert all(isinstance(value, str) for value in data.values())  # ConfigMap values must be strings
    assert int(data["VISA_DELIVERY_LIMIT"]) == DELIVERY_LIMIT
    assert data["VISA_NAMESPACE"] == ""


def example(name: str, kind: str = "Secret") -> dict:
    (found,) = [
        doc for doc in k8s_documents("secrets.example.yaml") if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    return found


def example_secret(service: str) -> dict[str, str]:
    return example(f"visa-{service}")["stringData"]


def test_example_key_ring_and_signing_keys_have_the_shape_visa_keys_generate_writes():
    ring = json.loads(example("visa-keyring", "ConfigMap")["data"]["keyring.json"])
    assert ring["version"] == 1
    entries = {entry["service"]: entry for entry in ring["keys"]}
    assert set(entries) == set(PRODUCERS)
    for service, entry in entries.items():
        assert entry["event_types"] == list(owned_types(service))  # a key signs its service's types only
        assert re.fullmatch(rf"{service}-\d{{8}}-[0-9a-f]{{8}}", entry["kid"])
        assert entry["algorithm"] == "Ed25519"
        # The service's own Secret holds <kid>.pem, the file name `visa keys generate` writes.
        secret = example(f"visa-{service}-signing-key")
        assert secret["type"] == "Opaque"
        assert set(secret["stringData"]) == {f"{entry['kid']}.pem"}


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_deployment(service: str):
    deployment = k8s_object(f"{service}.yaml", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    (container,) = pod["containers"]
    # First its database schema to the code's revision, with the service's image, settings and restrictions.
    (migrations,) = pod["initContainers"]
    assert migrations["image"] == container["image"]
    assert migrations["command"] == ["visa", "db", "upgrade", service] and "args" not in migrations
    assert migrations["envFrom"] == container["envFrom"]
    assert migrations["securityContext"] == container["securityContext"]
    assert set(migrations["resources"]["requests"]) == set(migrations["resources"]["limits"]) == {"cpu", "memory"}
    assert container["image"] == "visa:0.1.0"
    assert container["args"] == [service] and "command" not in container  # keeps ENTRYPOINT visa serve
    assert container["envFrom"] == [
        {"configMapRef": {"name": "visa-common"}},
        {"secretRef": {"name": f"visa-{service}"}},
    ]
    secret = example_secret(service)
    assert set(secret) == {"AMQP_URL", f"{service.upper()}_DATABASE_URL"}
    env = {**configmap(), **secret, **{item["name"]: item["value"] for item in container["env"]}}
    settings = load_settings(service, env)
    assert urlsplit(settings.amqp_url).username == service
    assert unquote(urlsplit(settings.amqp_url).path[1:]) == VHOST
    assert urlsplit(getattr(settings, f"{service}_database_url")).path == f"/{service}"

    # A Service named like the service would inject <SERVICE>_PORT=tcp://...: service links are off.
    assert pod["enableServiceLinks"] is False
    (port,) = container["ports"]
    assert port == {"name": "http", "containerPort": getattr(settings, f"{service}_port")}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}

    # SIGTERM comes after preStop; uvicorn then drains HTTP, then the broker drains the handlers.
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    timeout = settings.visa_graceful_timeout
    assert pod["terminationGracePeriodSeconds"] > timeout
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + 2 * timeout

    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    # The key ring (ConfigMap, shared) and its own signing key (Secret), read-only, where the settings say.
    assert str(settings.visa_keyring) == f"{KEYRING_DIR}/keyring.json"
    assert str(settings.visa_signing_keys) == SIGNING_KEYS_DIR
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    assert volumes["keyring"]["configMap"] == {"name": "visa-keyring"}
    assert mounts["keyring"] == {"name": "keyring", "mountPath": KEYRING_DIR, "readOnly": True}  # no subPath:
    # a subPath mount would never see an updated ConfigMap (a key added by a rotation).
    key = volumes["signing-key"]["secret"]
    assert key["secretName"] == f"visa-{service}-signing-key"
    assert key["defaultMode"] & 0o007 == 0  # not world-readable
    assert key["defaultMode"] & 0o040 and pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    assert mounts["signing-key"] == {"name": "signing-key", "mountPath": SIGNING_KEYS_DIR, "readOnly": True}
    others = {f"visa-{other}-signing-key" for other in SERVICES if other != service}
    assert not others & {v.get("secret", {}).get("secretName") for v in pod["volumes"]}

    svc = k8s_object(f"{service}.yaml", "Service")
    assert svc["metadata"]["name"] == service
    assert svc["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"] == [{"name": "http", "port": port["containerPort"], "targetPort": "http"}]


# --- Dockerfile -------------------------------------------------------------------------------------------


def test_dockerfile():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in instructions
    assert "RUN pip install uv==0.13.8" in instructions
    assert "RUN uv sync --frozen --no-dev --no-install-project" in instructions
    assert "RUN uv sync --frozen --no-dev --no-editable" in instructions
    assert 'ENTRYPOINT ["visa", "serve"]' in instructions
    assert not any(line.startswith("CMD") for line in instructions)  # the deployer names the service
    (user,) = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert not user.startswith(("0", "root"))
    for line in instructions:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    # `visa broker setup` reads the definitions (and password_hash.py) next to the installed package: the
    # build copies deploy/rabbitmq/ to the path the installed provisioning module computes (with -P, not the
    # source tree in the working directory), and checks it can load both.
    assert provisioning.DEFINITIONS == ROOT / "deploy" / "rabbitmq" / "definitions.json"
    assert "COPY deploy/rabbitmq ./deploy/rabbitmq" in instructions
    assert (
        "python -P -c 'from shared.messaging.provisioning import DEFINITIONS; print(DEFINITIONS.parent)'" in dockerfile
    )
    assert 'cp deploy/rabbitmq/definitions.json deploy/rabbitmq/password_hash.py "$target/"' in dockerfile
    assert "p.load_definitions(); p.password_hash(" in dockerfile
    runtime = dockerfile[dockerfile.index("AS runtime") :]
    assert "COPY --from=build /app/.venv /app/.venv" in runtime  # site-packages/deploy/rabbitmq comes along
    for service in SERVICES:
        assert f"{service.upper()}_HOST=0.0.0.0" in dockerfile
        assert f"{service.upper()}_HOST" in env_names(SETTINGS[service])
    assert 'visa = "services.cli:main"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


# --- Metrics: Prometheus, Grafana, scrape annotations --------------------------------------------------

# Labels Prometheus adds to every scraped series: `job` is the service's name (deploy/prometheus/prometheus.yml).
TARGET_LABELS = frozenset({"job", "instance"})
PROMQL_AGGREGATORS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "group"}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", *PROMQL_AGGREGATORS}
PROMQL_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
PROMQL_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*")"""
    r"""|(?P<matchers>\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})"""
    r"""|(?P<range>\[[^\]]*\])"""
    r"""|(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"""
    r"""|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)"""
    r"""|(?P<other>\S)"""
)
PROMQL_MATCHER = re.compile(r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)""")


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)


def promql(expr: str) -> tuple[list[Selector], set[str]]:
    """The series selectors of a PromQL expression, and the labels it groups or matches by (by, on...).

    A small reader of the subset a dashboard uses, not a parser: promtool parses the expressions for real
    (tests/unit/test_deploy_tools.py). A name followed by ``(`` is a function, one of PROMQL_KEYWORDS an
    operator or aggregation, a parenthesised list after ``by``/``on``... labels, anything else a metric.
    """
    tokens = [(m.lastgroup, m.group()) for m in PROMQL_TOKEN.finditer(expr)]
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "ident" and text in PROMQL_GROUPING:
            if following[1] == "(":
                i += 2
                while tokens[i][1] != ")":
                    if tokens[i][0] == "ident":
                        grouping.add(tokens[i][1])
                    i += 1
        elif kind == "ident" and following[1] != "(" and text not in PROMQL_KEYWORDS:
            matchers: list[tuple[str, str, str]] = []
            if following[0] == "matchers":
                body, position = following[1][1:-1], 0
                while body[position:].strip():
                    match = PROMQL_MATCHER.match(body, position)
                    assert match, f"cannot read the matchers {following[1]} in {expr}"
                    matchers.append(match.groups())
                    position = match.end()
                i += 1  # the matchers belong to this selector
            selectors.append(Selector(text, tuple(matchers)))
        elif kind == "matchers":
            raise AssertionError(f"a selector without a metric name in {expr}")
        i += 1
    return selectors, grouping


@cache
def dashboard() -> dict:
    return json.loads((DEPLOY / "grafana" / "visa.json").read_text(encoding="utf-8"))


def dashboard_panels() -> list[dict]:
    panels = []
    for panel in dashboard()["panels"]:
        panels += [panel, *panel.get("panels", [])]  # a collapsed row holds its panels
    return panels


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL expression) of every query on the dashboard."""
    return [(panel["title"], target["expr"]) for panel in dashboard_panels() for target in panel.get("targets", [])]


def test_the_promql_reader_finds_metrics_matchers_and_grouping():
    selectors, grouping = promql(
        'histogram_quantile(0.95, sum by (job, le) (rate(a_bucket{job=~"$x", status!="5xx"}[$__rate_interval])))'
        " / on (job) group_left sum without (instance) (b) > bool 1"
    )
    assert selectors == [Selector("a_bucket", (("job", "=~", "$x"), ("status", "!=", "5xx"))), Selector("b", ())]
    assert grouping == {"job", "le", "instance"}


def test_every_dashboard_query_uses_contract_metrics_and_labels():
    used: set[str] = set()
    queries = dashboard_queries()
    assert queries
    for title, expr in queries:
        selectors, grouping = promql(expr)
        assert selectors, f"{title}: no metric in {expr}"
        available = set(TARGET_LABELS)
        for selector in selectors:
            assert selector.metric in METRICS, f"{title}: {selector.metric} is not in the metrics contract"
            labels = METRICS[selector.metric] | TARGET_LABELS
            available |= labels
            used.add(selector.metric)
            for label, operator, value in selector.matchers:
                assert label in labels, f"{title}: {selector.metric} has no label {label}"
                if label == "job" or label == "service":
                    assert value in (*SERVICES, "$service"), f"{title}: {label}={value!r}"
                if operator == "=" and (selector.metric, label) in METRIC_LABEL_VALUES:
                    assert value in METRIC_LABEL_VALUES[selector.metric, label], f"{title}: {label}={value!r}"
            # A series of the project's own carries `service`; the others only the target's `job`.
            filters = {label for label, _, _ in selector.matchers}
            expected = "service" if "service" in METRICS[selector.metric] else "job"
            assert expected in filters, f"{title}: {selector.metric} is not filtered by {expected} ($service)"
        assert grouping <= available, f"{title}: groups by labels its metrics lack: {sorted(grouping - available)}"
    # Everything the contract lists is on the dashboard.
    assert used == set(METRICS)


def test_dashboard_structure():
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    service = variables["service"]
    assert service["type"] == "custom" and service["query"].split(",") == list(SERVICES)
    assert service["includeAll"] and service["allValue"] == ".*"
    panels = dashboard_panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"] and panel.get("description"), panel["title"]
            refs = [target["refId"] for target in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"], panel["title"]
    titles = " / ".join(panel["title"].lower() for panel in panels)
    topics = ("request rate", "p95 latency", "5xx", "consumed", "dead-lettered", "handler p95", "backlog", "oldest")
    for topic in (*topics, "database up", "broker up"):
        assert topic in titles, topic


@cache
def prometheus_config() -> dict:
    return yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))


def test_prometheus_scrapes_each_service_on_its_http_port():
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    assert len(jobs) == len(prometheus_config()["scrape_configs"])  # job names are unique
    services = compose()["services"]
    for service in SERVICES:
        job = jobs[service]  # the job is named like the service: the dashboard filters by `job`
        port = SETTINGS[service].model_fields[f"{service}_port"].default
        assert services[service]["ports"] == [f"{port}:{port}"]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        assert job.get("scheme", "http") == "http"
        (static,) = job["static_configs"]
        assert static["targets"] == [f"{service}:{port}"]
        # A target label `service` would rename the services' own `service` label to exported_service.
        assert "service" not in static.get("labels", {})
        assert not job.get("honor_labels", False)
    interval = prometheus_config()["global"]["scrape_interval"]
    assert seconds(prometheus_config()["global"]["scrape_timeout"]) < seconds(interval)
    datasource = yaml.safe_load((DEPLOY / "grafana" / "datasource.yaml").read_text(encoding="utf-8"))
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["jsonData"]["timeInterval"] == interval  # Grafana's least $__rate_interval
    assert source["url"] == "http://prometheus:9090"


def test_compose_runs_prometheus_and_grafana_with_the_dashboard():
    services = compose()["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]
    assert not set(prometheus.get("depends_on", {})) & set(SERVICES)  # up even when a service is not
    mounts = dict(entry.rsplit(":", 2)[:2] for entry in grafana["volumes"])
    assert all(entry.endswith(":ro") for entry in grafana["volumes"])
    for source in mounts:
        assert (DEPLOY / source).is_file(), source
    providers = yaml.safe_load((DEPLOY / "grafana" / "dashboards.yaml").read_text(encoding="utf-8"))["providers"]
    (provider,) = providers
    assert provider["type"] == "file"
    assert mounts["./grafana/visa.json"] == f"{provider['options']['path']}/visa.json"
    assert mounts["./grafana/dashboards.yaml"].startswith("/etc/grafana/provisioning/dashboards/")
    assert mounts["./grafana/datasource.yaml"].startswith("/etc/grafana/provisioning/datasources/")
    assert grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == mounts["./grafana/visa.json"]
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_pods_carry_the_scrape_annotations(service: str):
    template = k8s_object(f"{service}.yaml", "Deployment")["spec"]["template"]
    (port,) = template["spec"]["containers"][0]["ports"]
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port["containerPort"]),
        "prometheus.io/path": "/metrics",
    }


def test_k8s_has_no_prometheus_operator_objects():
    # A ServiceMonitor or PodMonitor needs the operator's CRDs: the annotations are enough.
    kinds = {doc["kind"] for name in K8S.glob("*.yaml") for doc in k8s_documents(name.name)}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
