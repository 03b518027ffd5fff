"""deploy/ agrees with the code: broker topology and permissions, credentials, settings, probes.

Pure: reads files, opens no connection. What needs a Docker engine or a cluster is not checked here
(see deploy/README.md, "What was not verified").
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from services.authorization.app import build as build_authorization
from services.authorization.settings import AuthorizationSettings
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings
from services.issuance.app import build as build_issuance
from services.issuance.settings import IssuanceSettings
from shared.contracts import EVENT_MODELS
from shared.messaging.topology import (
    AUTHORIZATION_CASES,
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    INTAKE_STATUS,
    ISSUANCE_AUTHORIZATIONS,
    ConsumerQueue,
    Topology,
)
from shared.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

VHOST = "visa"
DELIVERY_LIMIT = 5
TOPOLOGY = Topology(namespace="", delivery_limit=DELIVERY_LIMIT)
SERVICES = ("intake", "authorization", "issuance")
SETTINGS = {"intake": IntakeSettings, "authorization": AuthorizationSettings, "issuance": IssuanceSettings}
CONSUMERS = {"intake": INTAKE_STATUS, "authorization": AUTHORIZATION_CASES, "issuance": ISSUANCE_AUTHORIZATIONS}
EXCHANGES = (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE)
# The development passwords documented in deploy/README.md.
BROKER_PASSWORDS = {
    "intake": "intake-dev",
    "authorization": "authorization-dev",
    "issuance": "issuance-dev",
    "operator": "operator-dev",
}
DATABASE_PASSWORDS = {"intake": "intake-db-dev", "authorization": "authorization-db-dev", "issuance": "issuance-db-dev"}
# Who publishes each event: the broker lets each service publish its own routing keys only.
PUBLISHER = {
    "RequestSubmitted": "intake",
    "ReviewStarted": "authorization",
    "AuthorizationGranted": "authorization",
    "AuthorizationDenied": "authorization",
    "AuthorizationRevoked": "authorization",
    "VisaIssued": "issuance",
    "VisaCancelled": "issuance",
}


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
    consumer = CONSUMERS[service]
    return {consumer.name, consumer.name + ".dlq"}


def foreign_names(service: str) -> set[str]:
    return {name for other in SERVICES if other != service for name in own_names(other)}


# --- definitions.json: topology --------------------------------------------------------------------


def test_the_consumer_queues_are_the_ones_the_services_subscribe():
    builders = {"intake": build_intake, "authorization": build_authorization, "issuance": build_issuance}
    for service, consumer in CONSUMERS.items():
        assert consumer.name.startswith(service + ".")
        # Building the application connects to nothing; an in-memory database creates no file.
        settings = SETTINGS[service](_env_file=None, **{f"{service}_database_url": "sqlite+aiosqlite:///:memory:"})
        app = builders[service](settings)
        assert app.state.bus.consumers == [consumer]


def test_vhost_and_exchanges_match_the_topology():
    assert [v["name"] for v in definitions()["vhosts"]] == [VHOST]
    exchanges = {x["name"]: x for x in definitions()["exchanges"]}
    assert set(exchanges) == set(EXCHANGES)
    for declared in (TOPOLOGY.events, TOPOLOGY.dead_letter):
        exchange = exchanges[declared.name]
        assert exchange["vhost"] == VHOST
        assert exchange["type"] == declared.type.value
        # A redeclaration by the services with other flags would be refused (PRECONDITION_FAILED).
        assert exchange["durable"] is declared.durable is True
        assert exchange["auto_delete"] is declared.auto_delete is False
        assert exchange.get("internal", False) is False
        assert exchange["arguments"] == (declared.arguments or {})


@pytest.mark.parametrize("consumer", CONSUMERS.values(), ids=lambda c: c.name)
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


@pytest.mark.parametrize("consumer", CONSUMERS.values(), ids=lambda c: c.name)
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


@pytest.mark.parametrize("consumer", CONSUMERS.values(), ids=lambda c: c.name)
def test_every_routing_key_binding_exists(consumer: ConsumerQueue):
    for key in consumer.bindings:
        assert {
            "source": EVENTS_EXCHANGE,
            "vhost": VHOST,
            "destination": consumer.name,
            "destination_type": "queue",
            "routing_key": key,
            "arguments": {},
        } in definitions()["bindings"]


def test_nothing_is_declared_that_the_topology_does_not_know():
    expected_queues = {name for service in SERVICES for name in own_names(service)}
    assert {q["name"] for q in definitions()["queues"]} == expected_queues
    expected_bindings = {(EVENTS_EXCHANGE, c.name, key) for c in CONSUMERS.values() for key in c.bindings} | {
        (DEAD_LETTER_EXCHANGE, c.name + ".dlq", c.name) for c in CONSUMERS.values()
    }
    declared = {(b["source"], b["destination"], b["routing_key"]) for b in definitions()["bindings"]}
    assert declared == expected_bindings
    assert definitions()["policies"] == []  # a policy could override the declared arguments


# --- definitions.json: users, passwords, permissions ----------------------------------------------


def test_users_are_the_three_services_and_the_operator():
    users = {u["name"]: u for u in definitions()["users"]}
    assert set(users) == set(BROKER_PASSWORDS)
    assert users["operator"]["tags"] == ["administrator"]
    for service in SERVICES:
        assert users[service]["tags"] == []  # no management UI or HTTP API access


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


@pytest.mark.parametrize("service", SERVICES)
def test_service_permissions_allow_what_its_bus_does(service: str):
    consumer = CONSUMERS[service]
    perms = permissions(service)
    # exchange.declare of both exchanges; queue.declare of its queue and of its DLQ.
    for name in (*EXCHANGES, consumer.name, consumer.name + ".dlq"):
        assert rabbit_matches(perms["configure"], name), ("configure", name)
    # basic.publish to visa.events; queue.declare with a DLX needs write on the DLX;
    # queue.bind needs write on the bound queue (its queue, its DLQ).
    for name in (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE, consumer.name, consumer.name + ".dlq"):
        assert rabbit_matches(perms["write"], name), ("write", name)
    # basic.consume and queue.declare with a DLX need read on its queue;
    # queue.bind needs read on the source exchange (visa.events, visa.dead-letter).
    for name in (consumer.name, *EXCHANGES):
        assert rabbit_matches(perms["read"], name), ("read", name)


@pytest.mark.parametrize("service", SERVICES)
def test_service_permissions_deny_other_services_queues(service: str):
    perms = permissions(service)
    for kind in ("configure", "write", "read"):
        for name in foreign_names(service):
            assert not rabbit_matches(perms[kind], name), (service, kind, name)
        for name in ("", "amq.default", "amq.topic", "visa.events.x", "xvisa.events", f"x{service}.q"):
            assert not rabbit_matches(perms[kind], name), (service, kind, name)


def test_every_event_has_a_publisher():
    assert {model.__name__ for model in EVENT_MODELS.values()} == set(PUBLISHER)


@pytest.mark.parametrize("service", SERVICES)
def test_topic_permissions_let_a_service_publish_only_its_own_events(service: str):
    write = topic_permissions(service)["write"]
    assert "{" not in write  # no variable expansion ({username}, {vhost}) intended
    for model in EVENT_MODELS.values():
        owned = PUBLISHER[model.__name__] == service
        assert rabbit_matches(write, model.routing_key) is owned, (service, model.routing_key)


@pytest.mark.parametrize("service", SERVICES)
def test_topic_permissions_let_a_service_bind_only_its_own_keys(service: str):
    read = topic_permissions(service)["read"]
    own = set(CONSUMERS[service].bindings)
    for key in own:
        assert rabbit_matches(read, key), (service, key)
    for key in {key for c in CONSUMERS.values() for key in c.bindings} - own:
        assert not rabbit_matches(read, key), (service, key)
    for key in ("#", "visa.#", "*.*.*"):
        assert not rabbit_matches(read, key), (service, key)


def test_operator_is_the_only_user_without_topic_limits():
    assert {p["user"] for p in definitions()["topic_permissions"]} == set(SERVICES)
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
        assert dependency in compose()["services"] and condition == {"condition": "service_healthy"}
    assert {"rabbitmq", "postgres"} <= set(spec["depends_on"])
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


def example_secret(service: str) -> dict[str, str]:
    (secret,) = [doc for doc in k8s_documents("secrets.example.yaml") if doc["metadata"]["name"] == f"visa-{service}"]
    return secret["stringData"]


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_deployment(service: str):
    deployment = k8s_object(f"{service}.yaml", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    (container,) = pod["containers"]
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
    for service in SERVICES:
        assert f"{service.upper()}_HOST=0.0.0.0" in dockerfile
        assert f"{service.upper()}_HOST" in env_names(SETTINGS[service])
    assert 'visa = "services.cli:main"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
