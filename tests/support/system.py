"""The three services as separate operating-system processes, as operations runs them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.contracts.registry import ROLES
from shared.migrations import upgrade

SERVICES = tuple(ROLES)
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log_path: Path
    broker_url: str | None = None  # the service's own broker user; the environment's AMQP_URL otherwise
    process: subprocess.Popen | None = None
    migrated: bool = False  # its database upgraded to the code's head, once, before its first start

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env[f'{self.name.upper()}_PORT']}"

    def start(self) -> None:
        if not self.migrated:
            # As operations does before a service starts (`visa db upgrade <service>`: deploy/'s one-shot
            # service or init container); the service refuses a database behind the code.
            upgrade(self.name, self.env[f"{self.name.upper()}_DATABASE_URL"])
            self.migrated = True
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", self.name],
            env=self.env | ({"AMQP_URL": self.broker_url} if self.broker_url else {}),
            cwd=self.env["VISA_TEST_WORKDIR"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    async def ready(self, timeout: float = 60.0) -> None:
        """Wait until ``/readyz`` answers 200: the broker and the database are reachable."""
        async with httpx.AsyncClient(base_url=self.url) as client:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if (await client.get("/readyz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")
                await asyncio.sleep(0.1)  # polling a port: there is no event to await

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode if self.process else 0

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class System:
    env: dict[str, str]
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @classmethod
    def on(cls, access, *, workdir: Path, redis_url: str, databases: dict[str, str], policy: str = "auto") -> System:
        """The three services as processes, each as its own broker user of ``access`` (a ``BrokerAccess``)."""
        env = system_env(
            workdir=workdir,
            amqp_url=access.admin,
            redis_url=redis_url,
            namespace="",
            databases=databases,
            policy=policy,
        )
        running = cls(env)
        for service in SERVICES:
            running.services[service] = ServiceProcess(service, env, workdir / f"{service}.log", access.urls[service])
        return running

    def add_post(self, post: str, *, database: str, broker_url: str | None = None) -> ServiceProcess:
        """A second issuance, for the consular post ``post`` (``ISSUANCE_POST``): its own database and port, the
        same broker user as the first; started with the others. Its key in ``services``: ``issuance-<post>``."""
        env = self.env | {
            "ISSUANCE_POST": post,
            "ISSUANCE_PORT": str(free_port()),
            "ISSUANCE_DATABASE_URL": database,
        }
        first = self.services["issuance"]
        key = f"issuance-{post.lower()}"
        process = ServiceProcess(
            "issuance", env, first.log_path.with_name(f"{key}.log"), broker_url or first.broker_url
        )
        self.services[key] = process
        return process

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=self.env,
            cwd=self.env["VISA_TEST_WORKDIR"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def new_key(self, *args: str) -> str:
        """``visa sponsors add …`` or ``visa officers add …``: the key is the last line printed."""
        return self.cli(*args).strip().splitlines()[-1]

    async def start(self) -> None:
        for service in self.services.values():
            service.start()
        await asyncio.gather(*(service.ready() for service in self.services.values()))

    async def restart(self, name: str) -> None:
        self.services[name].start()
        await self.services[name].ready()

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()


def system_env(
    *, workdir: Path, amqp_url: str, redis_url: str, namespace: str, databases: dict[str, str], policy: str
) -> dict[str, str]:
    """The environment of the system's processes; ``amqp_url`` is the CLI's (an operator's): each service
    connects as its own broker user (``ServiceProcess.broker_url``)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VISA_", "INTAKE_", "AUTHORIZATION_", "ISSUANCE_"))
    }
    env.update(
        AMQP_URL=amqp_url,
        REDIS_URL=redis_url,
        VISA_NAMESPACE=namespace,
        VISA_KEYRING=os.environ["VISA_KEYRING"],
        VISA_SIGNING_KEYS=os.environ["VISA_SIGNING_KEYS"],
        AUTHORIZATION_POLICY=policy,
        VISA_OUTBOX_POLL_SECONDS="0.5",
        # Tests and the benchmark drive each service from one address with one key, at full speed.
        VISA_RATE_LIMIT_PER_KEY="1000000/minute",
        VISA_RATE_LIMIT_PER_ADDRESS="1000000/minute",
        ISSUANCE_RATE_LIMIT_PER_VERIFIER="1000000/minute",
        VISA_TEST_WORKDIR=str(workdir),
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="INFO",
    )
    for service in SERVICES:
        env[f"{service.upper()}_PORT"] = str(free_port())
        env[f"{service.upper()}_DATABASE_URL"] = databases[service]
    return env


async def eventually(probe, *, timeout: float = 30.0, interval: float = 0.1):
    """Poll ``probe()`` (async, returning a truthy value when done) for state only visible over HTTP."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s")
        await asyncio.sleep(interval)


def audit(system: System, broker, *args: str) -> subprocess.CompletedProcess:
    """``visa audit …`` as an auditor runs it: the auditor's broker user, the published key ring."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "audit", *args, "--idle", "1"],
        env=system.env | {"AMQP_URL": broker.urls["auditor"]},
        cwd=system.env["VISA_TEST_WORKDIR"],
        capture_output=True,
        text=True,
        timeout=120,
    )
