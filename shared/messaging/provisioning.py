"""Provisioning the broker from ``deploy/rabbitmq/definitions.json``, the single source of its users,
permissions, exchanges, queues, the event log and bindings.

``render`` adapts the definitions to a vhost, a user-name prefix, a name prefix (``VISA_NAMESPACE``),
a delivery limit, the event log's retention, passwords of one's own and the configured consular posts (one
issuance queue each, added when the file lacks it: shared/posts.py); ``import_definitions`` hands
the result to ``rabbitmqctl import_definitions`` (an administrator's right, once per broker).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.contracts.registry import SERVICES, issuance_queue

DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "definitions.json"
DEFINITIONS_VHOST = "visa"
SERVICE_USERS = (*SERVICES, "auditor")


def load_definitions(path: Path = DEFINITIONS) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no broker definitions at {path} (set --definitions)") from None


def post_entries(post: str, definitions: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """The queues and bindings of the consular post ``post``'s issuance, in the definitions' own form: its quorum
    queue (arguments as every consumer queue's in ``definitions``), bound to ``visa.posts`` by the header
    ``post``, and its dead-letter queue."""
    consumer = issuance_queue(post)
    vhost = definitions["vhosts"][0]["name"] if definitions.get("vhosts") else DEFINITIONS_VHOST
    delivery_limit = next(
        (q["arguments"]["x-delivery-limit"] for q in definitions["queues"] if "x-delivery-limit" in q["arguments"]), 5
    )
    queue = {
        "name": consumer.name,
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "visa.dead-letter",
            "x-dead-letter-routing-key": consumer.name,
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    }
    dlq = {
        "name": consumer.name + ".dlq",
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": {"x-queue-type": "quorum"},
    }
    bindings = [
        {
            "source": "visa.posts",
            "vhost": vhost,
            "destination": consumer.name,
            "destination_type": "queue",
            "routing_key": "",
            "arguments": {"x-match": "all", **dict(consumer.headers)},
        },
        {
            "source": "visa.dead-letter",
            "vhost": vhost,
            "destination": dlq["name"],
            "destination_type": "queue",
            "routing_key": consumer.name,
            "arguments": {},
        },
    ]
    return [queue, dlq], bindings


def _prefixed_pattern(pattern: str, namespace: str) -> str:
    # "^(intake\..+|visa\.events)$" names unprefixed resources; a namespace goes right after the anchor.
    if not namespace or not pattern.startswith("^") or pattern in ("^$",):
        return pattern
    return "^" + re.escape(namespace) + "(?:" + pattern[1:].removesuffix("$") + ")$"


def render(
    definitions: dict[str, Any],
    *,
    vhost: str = DEFINITIONS_VHOST,
    user_prefix: str = "",
    namespace: str = "",
    delivery_limit: int | None = None,
    event_log_max_age: str | None = None,
    event_log_max_bytes: int | None = None,
    password_hashes: dict[str, str] | None = None,
    posts: Sequence[str] = (),
) -> dict[str, Any]:
    """The definitions for ``vhost``, with ``user_prefix`` before each user and ``namespace`` before each
    exchange and queue name (``password_hashes`` by unprefixed user name replace the file's), and the queue of
    each consular post in ``posts`` the file lacks (``post_entries``)."""
    source = copy.deepcopy(definitions)
    known = {queue["name"] for queue in source["queues"]}
    for post in posts:
        if issuance_queue(post).name not in known:
            queues, bindings = post_entries(post, source)
            source["queues"] += queues
            source["bindings"] += bindings
    ns = namespace.__add__
    out: dict[str, Any] = {}
    out["vhosts"] = [vhost_entry | {"name": vhost} for vhost_entry in source.get("vhosts", [])]
    out["users"] = [
        user
        | {"name": user_prefix + user["name"]}
        | (
            {"password_hash": password_hashes[user["name"]]}
            if password_hashes and user["name"] in password_hashes
            else {}
        )
        for user in source.get("users", [])
    ]
    out["permissions"] = [
        permission
        | {"user": user_prefix + permission["user"], "vhost": vhost}
        | {kind: _prefixed_pattern(permission[kind], namespace) for kind in ("configure", "write", "read")}
        for permission in source.get("permissions", [])
    ]
    out["topic_permissions"] = [
        permission | {"user": user_prefix + permission["user"], "vhost": vhost, "exchange": ns(permission["exchange"])}
        for permission in source.get("topic_permissions", [])
    ]
    out["exchanges"] = [exchange | {"name": ns(exchange["name"]), "vhost": vhost} for exchange in source["exchanges"]]
    dead_letter_exchanges = {exchange["name"] for exchange in source["exchanges"] if exchange["type"] == "direct"}
    queues = []
    for queue in source["queues"]:
        arguments = dict(queue.get("arguments", {}))
        for name in ("x-dead-letter-exchange", "x-dead-letter-routing-key"):
            if name in arguments:
                arguments[name] = ns(arguments[name])
        if delivery_limit is not None and "x-delivery-limit" in arguments:
            arguments["x-delivery-limit"] = delivery_limit
        if arguments.get("x-queue-type") == "stream":
            if event_log_max_age:
                arguments["x-max-age"] = event_log_max_age
            if event_log_max_bytes:
                arguments["x-max-length-bytes"] = event_log_max_bytes
        queues.append(queue | {"name": ns(queue["name"]), "vhost": vhost, "arguments": arguments})
    out["queues"] = queues
    out["bindings"] = [
        binding
        | {
            "source": ns(binding["source"]),
            "destination": ns(binding["destination"]),
            "vhost": vhost,
            # Dead letters are routed by their queue's name, which carries the namespace too.
            "routing_key": ns(binding["routing_key"])
            if binding["source"] in dead_letter_exchanges
            else binding["routing_key"],
        }
        for binding in source["bindings"]
    ]
    for key in ("parameters", "global_parameters", "policies"):
        out[key] = [entry | {"vhost": vhost} if "vhost" in entry else entry for entry in source.get(key, [])]
    return out


def rabbitmqctl() -> list[str]:
    """The command that reaches the node as its administrator (``RABBITMQCTL``, e.g. ``sudo rabbitmqctl``)."""
    return shlex.split(os.environ.get("RABBITMQCTL", "rabbitmqctl"))


def _run(*arguments: str) -> None:
    command = [*rabbitmqctl(), *arguments]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise RuntimeError(f"{command[0]} not found: run this where the RabbitMQ node runs (set RABBITMQCTL)") from None
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} …: {(result.stderr or result.stdout).strip()[-500:]}")


def import_definitions(rendered: dict[str, Any]) -> None:
    """``rabbitmqctl import_definitions``; the node applies them asynchronously (see ``wait_until_ready``)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "definitions.json"
        path.write_text(json.dumps(rendered))
        _readable_by_the_node(Path(directory), path)
        _run("import_definitions", str(path))


def _readable_by_the_node(directory: Path, path: Path) -> None:
    # Debian's rabbitmqctl runs as the "rabbitmq" user: it must read the file, and nobody else should.
    try:
        import pwd

        node_user = pwd.getpwnam("rabbitmq")
        os.chown(directory, node_user.pw_uid, node_user.pw_gid)
        os.chown(path, node_user.pw_uid, node_user.pw_gid)
        os.chmod(path, 0o600)
    except (KeyError, PermissionError, ImportError):
        os.chmod(directory, 0o711)  # no listing: the random directory name is the secret
        os.chmod(path, 0o644)


def remove(vhost: str, users: list[str]) -> None:
    """Delete a vhost (its queues and exchanges with it) and users: what tests provisioned."""
    _run("delete_vhost", vhost)
    for user in users:
        _run("delete_user", user)


async def wait_until_ready(url: str, queue: str, timeout: float = 30.0) -> None:
    """Wait until ``url``'s user can see ``queue``: the asynchronous import has reached the node."""
    import aio_pika

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            connection = await aio_pika.connect(url, timeout=5)
            async with connection:
                channel = await connection.channel()
                await channel.declare_queue(queue, passive=True)
            return
        except Exception as error:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"the broker did not apply the definitions in {timeout}s: {error}") from error
            await asyncio.sleep(0.1)  # the import is applied by the node in the background: nothing to await


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256, from the operators' standard-library script beside the file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("password_hash", DEFINITIONS.parent / "password_hash.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.password_hash(password)


def user_url(base_url: str, user: str, password: str, vhost: str) -> str:
    """``base_url``'s host and port, with ``user``'s credentials and ``vhost``."""
    from urllib.parse import quote

    from yarl import URL

    base = URL(base_url)
    return str(
        URL.build(
            scheme=base.scheme or "amqp",
            user=user,
            password=password,
            host=base.host or "127.0.0.1",
            port=base.port,
            path="/" + quote(vhost, safe=""),
            encoded=False,
        )
    )


def provision(
    base_url: str,
    *,
    passwords: dict[str, str],
    vhost: str = DEFINITIONS_VHOST,
    user_prefix: str = "",
    definitions: Path = DEFINITIONS,
    **render_options: Any,
) -> dict[str, str]:
    """Import the rendered definitions with ``passwords``; returns each user's AMQP URL by unprefixed name."""
    hashes = {user: password_hash(password) for user, password in passwords.items()}
    rendered = render(
        load_definitions(definitions), vhost=vhost, user_prefix=user_prefix, password_hashes=hashes, **render_options
    )
    import_definitions(rendered)
    return {user: user_url(base_url, user_prefix + user, password, vhost) for user, password in passwords.items()}
