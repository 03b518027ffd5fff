"""Backing services of a test's own, for tests that stop and start them: a RabbitMQ node and a PostgreSQL
cluster, each in a temporary directory of its own, on ports of their own.

The shared broker (``AMQP_URL``) and database (``POSTGRES_URL``) other tests use are never touched: a second
node of the installed RabbitMQ runs beside the first (its own node name, AMQP and distribution ports, data,
logs, plugins and configuration), and a second PostgreSQL cluster beside the first (``initdb`` + ``pg_ctl``).

Stopping and starting are real: the node's or the postmaster's operating-system processes end and new ones
start on the same data. Both run as the system user that owns the installed server (``rabbitmq``,
``postgres``) when the tests run as root (Debian's ``rabbitmqctl`` reaches a node as ``rabbitmq``, with its
Erlang cookie; ``initdb`` refuses root), as the current user otherwise. Each has a blocking and an ``a…``
(awaitable, run in a thread) form of ``start``/``stop``/``restart``, so requests keep flowing on the event
loop while a service is down.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.system import free_port

RABBITMQ_SCRIPTS = Path(os.environ.get("RABBITMQ_SCRIPTS_DIR", "/usr/lib/rabbitmq/bin"))
COMMAND_TIMEOUT = 90


def _owner(user: str) -> pwd.struct_passwd | None:
    """The system user a server runs as: ``user`` when we are root (and it exists); ourselves otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


def _as(owner: pwd.struct_passwd | None) -> list[str]:
    return ["runuser", "-u", owner.pw_name, "--"] if owner else []


def _private_directory(prefix: str, owner: pwd.struct_passwd | None) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix))  # 0700, under /tmp: reachable by the owner alone
    if owner:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    return directory


def _write(path: Path, text: str, owner: pwd.struct_passwd | None) -> Path:
    path.write_text(text)
    if owner:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return path


def _run(command: list[str], *, env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT) -> str:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as missing:
        raise AssertionError(f"{command[0]} is not installed: {missing}") from None
    if result.returncode != 0:
        raise AssertionError(f"{shlex.join(command)} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def _keep(directory: Path, files: list[Path]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in files:
        if path.is_file():
            shutil.copyfile(path, directory / path.name)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_for_port(port: int, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not _port_open(port):  # polling a port: there is no event to await
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} does not accept connections on {port} after {timeout}s:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


def _suffix(label: str) -> str:
    """A name part of this instance's own: the test's label, if any, and random hex."""
    return f"{label}-{uuid.uuid4().hex[:8]}" if label else uuid.uuid4().hex[:8]


class Restartable:
    """Start and stop from async tests too (in a thread: requests keep flowing meanwhile), and restart."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)


@dataclass
class RabbitNode(Restartable):
    """A RabbitMQ node of a test's own: ``visa-test-…@localhost``, next to the shared ``rabbit@localhost``."""

    name: str
    port: int
    dist_port: int
    directory: Path
    owner: pwd.struct_passwd | None
    process: subprocess.Popen | None = None
    starts: int = 0

    @classmethod
    def create(cls, label: str = "") -> RabbitNode:
        owner = _owner("rabbitmq")
        suffix = _suffix(label)
        directory = _private_directory(f"visa-rabbit-{suffix}-", owner)
        port, dist_port = free_port(), free_port()
        node = cls(f"visa-test-{suffix}@localhost", port, dist_port, directory, owner)
        _write(directory / "rabbitmq.conf", f"listeners.tcp.local = 127.0.0.1:{port}\n", owner)
        _write(directory / "enabled_plugins", "[].\n", owner)
        # Read instead of /etc/rabbitmq/rabbitmq-env.conf, which names the shared node.
        _write(directory / "rabbitmq-env.conf", "", owner)
        return node

    @property
    def url(self) -> str:
        """The node's default administrator (``guest``, reachable from localhost only), as a base URL."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def ctl(self) -> str:
        """``rabbitmqctl`` aimed at this node: the value of ``RABBITMQCTL`` while provisioning it."""
        return shlex.join([*shlex.split(os.environ.get("RABBITMQCTL", "rabbitmqctl")), "-n", self.name])

    @property
    def log_path(self) -> Path:
        return self.directory / "log" / f"{self.name}.log"

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("RABBITMQ_", "ERL_"))}
        d = self.directory
        env.update(
            RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_PLUGINS_EXPAND_DIR=str(d / "plugins-expand"),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_MNESIA_DIR=str(d / "mnesia" / self.name),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_PID_FILE=str(d / "node.pid"),
            # As the shared node (/etc/rabbitmq/rabbitmq-env.conf): epmd and distribution on loopback only.
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        if self.owner:
            # The owner's home holds the Erlang cookie rabbitmqctl presents.
            env.update(HOME=self.owner.pw_dir, USER=self.owner.pw_name, LOGNAME=self.owner.pw_name)
        return env

    def _ctl(self, *arguments: str, timeout: float = COMMAND_TIMEOUT) -> str:
        return _run([*shlex.split(self.ctl), *arguments], timeout=timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 90.0) -> None:
        """Start the node's operating-system process on its data, and wait until it accepts AMQP."""
        assert not self.running, f"{self.name} is running already"
        stdout = (self.directory / "server.out").open("ab")
        try:
            self.process = subprocess.Popen(
                [*_as(self.owner), str(RABBITMQ_SCRIPTS / "rabbitmq-server")],
                env=self._env(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: ours alone to signal
            )
        except FileNotFoundError as missing:
            raise AssertionError(f"RabbitMQ is not installed: {missing}") from None
        finally:
            stdout.close()
        self.starts += 1
        try:
            # Waits for the pid file, the distribution, then the rabbit application and its plugins.
            self._ctl("wait", str(self.directory / "node.pid"), "--timeout", str(int(timeout)), timeout=timeout + 10)
            _wait_for_port(self.port, 10, self.name, self.log_path)
        except AssertionError as failure:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode}:\n{_tail(self.directory / 'server.out')}"
                    f"\n{_tail(self.log_path)}"
                ) from failure
            raise

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node (``rabbitmqctl stop``: the broker shuts down and the VM halts); its data stays."""
        if not self.running:
            return
        try:
            self._ctl("stop", timeout=timeout)
            self.process.wait(timeout=timeout)
        except (AssertionError, subprocess.TimeoutExpired):
            self.kill()  # a node that does not stop is killed, and the caller told
            raise
        self.process = None

    def kill(self) -> None:
        """SIGKILL the node's whole process group (its VM and helpers, never the shared node's)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.process = None

    def destroy(self, keep_logs_in: Path | None = None) -> None:
        """Stop the node if it runs, and remove its directory (its logs copied to ``keep_logs_in`` first)."""
        try:
            if self.running:
                try:
                    self.stop(timeout=30)
                except (AssertionError, subprocess.TimeoutExpired):
                    pass  # stop() killed it
        finally:
            self.kill()
            if keep_logs_in is not None:
                _keep(keep_logs_in, [self.directory / "server.out", *(self.directory / "log").glob("*.log")])
            shutil.rmtree(self.directory, ignore_errors=True)


def postgres_bindir() -> Path:
    """The installed PostgreSQL's programs: ``PG_BINDIR``, else Debian's newest ``/usr/lib/postgresql/*/bin``."""
    if "PG_BINDIR" in os.environ:
        return Path(os.environ["PG_BINDIR"])
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parent.parent.name), reverse=True
    )
    if candidates:
        return candidates[0].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise AssertionError("PostgreSQL's initdb is not installed (set PG_BINDIR)")
    return Path(initdb).parent


@dataclass
class PostgresCluster(Restartable):
    """A PostgreSQL cluster of a test's own on 127.0.0.1:``port``, trust authentication, superuser postgres."""

    port: int
    directory: Path
    owner: pwd.struct_passwd | None
    bindir: Path = field(default_factory=postgres_bindir)
    starts: int = 0

    @classmethod
    def create(cls, label: str = "") -> PostgresCluster:
        owner = _owner("postgres")
        suffix = _suffix(label)
        directory = _private_directory(f"visa-postgres-{suffix}-", owner)
        cluster = cls(free_port(), directory, owner)
        cluster._pg(
            "initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"
        )
        return cluster

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def url(self) -> str:
        """The administrative URL (like ``POSTGRES_URL``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _pg(self, program: str, *arguments: str, timeout: float = COMMAND_TIMEOUT) -> str:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        return _run([*_as(self.owner), str(self.bindir / program), *arguments], env=env, timeout=timeout)

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def start(self, timeout: int = 60) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory} "
            "-c fsync=off -c max_connections=200"  # fsync: a clean restart needs none; the machine never crashes
        )
        # -l: the postmaster writes its log there, and holds none of our pipes open.
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "-t", str(timeout),
                 "start", timeout=timeout + 10)  # fmt: skip
        self.starts += 1
        _wait_for_port(self.port, 10, "PostgreSQL", self.log_path)

    def stop(self, mode: str = "fast", timeout: int = 60) -> None:
        """``pg_ctl stop -m fast``: sessions are disconnected, the postmaster exits, the data stays."""
        if self.running:
            self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(timeout), "stop", timeout=timeout + 10)

    def destroy(self, keep_logs_in: Path | None = None) -> None:
        try:
            if self.running:
                self.stop(mode="immediate", timeout=30)
        finally:
            if keep_logs_in is not None:
                _keep(keep_logs_in, [self.log_path])
            shutil.rmtree(self.directory, ignore_errors=True)
