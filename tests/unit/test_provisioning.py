"""``visa broker setup`` renders the deployment definitions for a vhost, a user prefix and a namespace."""

from __future__ import annotations

import re

from shared.messaging import provisioning
from shared.messaging.topology import CONSUMERS, Topology

DEFINITIONS = provisioning.load_definitions()


def rendered(**options):
    return provisioning.render(DEFINITIONS, vhost="v1", user_prefix="p-", namespace="ns.", **options)


def test_every_name_moves_into_the_namespace_and_the_vhost():
    out = rendered()
    assert {entry["vhost"] for key in ("queues", "exchanges", "bindings", "permissions") for entry in out[key]} == {
        "v1"
    }
    assert [v["name"] for v in out["vhosts"]] == ["v1"]
    assert {u["name"] for u in out["users"]} == {f"p-{u['name']}" for u in DEFINITIONS["users"]}
    topology = Topology("ns.")
    queues = {q["name"]: q["arguments"] for q in out["queues"]}
    for consumer in CONSUMERS:
        assert queues[topology.queue(consumer).name] == {"x-queue-type": "quorum", **topology.queue(consumer).arguments}
        assert topology.dead_letter_queue(consumer).name in queues
    assert "ns.visa.event-log" in queues
    dead_letter = [b for b in out["bindings"] if b["source"] == "ns.visa.dead-letter"]
    assert dead_letter and all(b["routing_key"].startswith("ns.") for b in dead_letter)
    events = [b for b in out["bindings"] if b["source"] == "ns.visa.events"]
    assert {"#", "visa.issued"} <= {b["routing_key"] for b in events}  # routing keys are not names
    assert {t["exchange"] for t in out["topic_permissions"]} == {"ns.visa.events"}


def test_permissions_follow_the_namespace_and_no_further():
    out = rendered()
    intake = next(p for p in out["permissions"] if p["user"] == "p-intake")
    assert intake["configure"] == "^$"  # nothing to configure stays nothing
    assert re.fullmatch(intake["write"], "ns.visa.events")
    assert not re.fullmatch(intake["write"], "visa.events")
    assert re.fullmatch(intake["read"], "ns.intake.request-status")
    assert not re.fullmatch(intake["read"], "ns.issuance.authorizations")
    operator = next(p for p in out["permissions"] if p["user"] == "p-operator")
    assert operator["write"] == ".*"


def test_limits_retention_and_passwords_are_applied():
    out = rendered(
        delivery_limit=2, event_log_max_age="10Y", event_log_max_bytes=10**9, password_hashes={"intake": "HASH"}
    )
    queues = {q["name"]: q["arguments"] for q in out["queues"]}
    assert queues["ns.intake.request-status"]["x-delivery-limit"] == 2
    assert queues["ns.visa.event-log"] == {"x-queue-type": "stream", "x-max-age": "10Y", "x-max-length-bytes": 10**9}
    users = {u["name"]: u["password_hash"] for u in out["users"]}
    assert users["p-intake"] == "HASH" and users["p-issuance"] != "HASH"


def test_without_options_the_file_is_unchanged_in_substance():
    out = provisioning.render(DEFINITIONS)
    for key in ("users", "permissions", "topic_permissions", "queues", "exchanges", "bindings"):
        assert out[key] == DEFINITIONS[key], key


def test_a_user_url_carries_the_vhost():
    assert provisioning.user_url("amqp://guest:guest@host:5673/", "p-intake", "s3cr/t", "v1") == (
        "amqp://p-intake:s3cr%2Ft@host:5673/v1"
    )
