"""A broker of the test's own: a fresh vhost provisioned from ``deploy/rabbitmq/definitions.json``, with
the session's users (one per service, the auditor, an operator), exactly as ``visa broker setup`` does."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from shared.messaging import provisioning

USERS = (*provisioning.SERVICE_USERS, "operator")


@dataclass(frozen=True)
class BrokerAccess:
    vhost: str
    urls: dict[str, str]  # by unprefixed user: intake, authorization, issuance, auditor, operator

    @property
    def admin(self) -> str:
        return self.urls["operator"]


@dataclass(frozen=True)
class SessionUsers:
    prefix: str
    passwords: dict[str, str]

    @classmethod
    def new(cls, run_id: str) -> SessionUsers:
        return cls(f"visa-test-{run_id}-", {user: secrets.token_urlsafe(18) for user in USERS})

    def names(self) -> list[str]:
        return [self.prefix + user for user in USERS]


async def provision_vhost(amqp_url: str, users: SessionUsers, vhost: str, **render_options) -> BrokerAccess:
    urls = provisioning.provision(
        amqp_url, passwords=users.passwords, vhost=vhost, user_prefix=users.prefix, **render_options
    )
    await provisioning.wait_until_ready(urls["intake"], "intake.request-status")
    return BrokerAccess(vhost, urls)


def remove_vhost(vhost: str) -> None:
    provisioning.remove(vhost, [])


def remove_users(users: SessionUsers) -> None:
    for name in users.names():
        provisioning._run("delete_user", name)
