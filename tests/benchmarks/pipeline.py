"""Throughput, latency and CPU per request of the whole pipeline, next to what the same RabbitMQ does bare.

``python -m tests.benchmarks.pipeline [--database sqlite|postgresql --duration 15 --rate 10 20 ...]`` starts intake,
authorization (policy ``auto``) and issuance as three processes on fresh databases (SQLite files, or PostgreSQL
databases), each as its own broker user on a vhost of its own provisioned from the deployment definitions, with
signing keys of the run's own; then measures: (0) each process's idle CPU, (1) bare aio-pika publish-with-confirms
and consume on a quorum queue, and a bare three-hop pipeline (``hops.py``), (2) ``wrk`` at full speed on
``POST /v1/requests`` and the backlog until every visa is issued, (3) fixed open-loop rates and each request's
end-to-end latency up to its last ``visa.issued``. Over phases 2 and 3 it reads the CPU time of each service, of
the RabbitMQ node, of PostgreSQL, of Redis and of the load generator from their own accounting (``cpu.py``) and
divides it by the requests completed end to end in the phase; the rest of the machine's busy time is "other
processes": a run where it is not near zero shared the machine and its figures are not the system's. ``--profile DIR`` records each service with
py-spy during phases 2 and 3; ``--count-statements`` counts the SQL statements each service sends
(``statements.py``); both perturb the figures: measure without them. It prints figures, writes them to
``var/bench/pipeline-<database>.json`` and removes everything it created, also on error or Ctrl-C (the service
logs and keys stay in the run's temporary directory, named at its start; its SQLite databases go).

``--old-rows N`` measures the same with large messaging tables: once the databases are migrated and before the
services start, each service's ``outbox`` and ``inbox`` get N rows each, one day old (published events and handled
ones, inside any retention: none goes during the run; ``seed.py``). ``--replicas K`` (PostgreSQL only) runs K
processes of each service, each with its own HTTP port, on its service's one database and as its one broker user:
a service's CPU is the sum over its replicas, wrk's threads are spread over the intake replicas and the fixed
rates' requests sent to them in turn.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from shared.messaging.topology import CONSUMERS
from shared.migrations import upgrade
from tests.benchmarks import cpu, profiles, seed, statements
from tests.benchmarks.hops import three_hops
from tests.benchmarks.results import write_results
from tests.support.broker import listen
from tests.support.documents import make_seal_keys
from tests.support.keys import make_keys
from tests.support.requests import example_request
from tests.support.system import SERVICES, ServiceProcess, System, eventually, free_port, system_env
from tests.support.vhost import SessionUsers, provision_vhost, remove_users, remove_vhost

LUA = Path(__file__).with_name("submit.lua")
REPLICAS_LUA = Path(__file__).with_name("replicas.lua")
console = Console(highlight=False, width=int(os.environ.get("COLUMNS", 110)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds of full-speed wrk load")
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[10, 20], help="requests/s of the fixed-rate phases, one after another"
    )
    parser.add_argument("--rate-duration", type=int, default=15, help="seconds of each fixed-rate phase")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--database",
        choices=("postgresql", "sqlite", "postgres"),
        default="postgresql",
        help="the services' databases: PostgreSQL (as deployed; 'postgres' is the same) or SQLite (as `make run`)",
    )
    parser.add_argument("--baseline-messages", type=int, default=20000, help="1 KiB messages of the bare round")
    parser.add_argument("--hop-messages", type=int, default=10000, help="1 KiB messages through the bare three hops")
    parser.add_argument("--hop-prefetch", type=int, default=16, help="prefetch of each bare hop (VISA_PREFETCH's)")
    parser.add_argument("--idle", type=float, default=5, help="seconds of idle CPU measured before the load")
    parser.add_argument("--drain-timeout", type=float, default=180, help="seconds to wait for the visas")
    parser.add_argument("--profile", type=Path, help="record each service with py-spy in phases 2 and 3, into DIR")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument(
        "--count-statements", action="store_true", help="count each service's SQL statements (statements.py)"
    )
    parser.add_argument(
        "--old-rows",
        type=int,
        default=0,
        metavar="N",
        help="before the services start, N one-day-old rows into each service's outbox and N into its inbox (seed.py)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        metavar="K",
        help="K processes of each service, each with its own HTTP port, on the service's one database and broker "
        "user; wrk and the fixed rates spread over the intake replicas (K > 1: PostgreSQL only)",
    )
    args = parser.parse_args()
    args.database = "postgresql" if args.database == "postgres" else args.database
    if args.old_rows < 0:
        parser.error("--old-rows must be 0 or more")
    if args.replicas < 1:
        parser.error("--replicas must be 1 or more")
    if args.replicas > 1 and args.database != "postgresql":
        parser.error("--replicas above 1 needs --database postgresql: replicas share their service's database")
    if args.connections < wrk_threads(args.replicas):
        parser.error(f"--connections must be at least {wrk_threads(args.replicas)}: a connection per wrk thread")
    return args


@dataclass
class CountedService(ServiceProcess):
    """A service run under ``statements.py``, which counts its SQL statements into ``<log>.statements.json``."""

    @property
    def counts_path(self) -> Path:
        return self.log_path.with_suffix(".statements.json")

    def start(self) -> None:  # ServiceProcess.start's, with the counting wrapper in front of services.cli
        if not self.migrated:
            upgrade(self.name, self.env[f"{self.name.upper()}_DATABASE_URL"])
            self.migrated = True
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.statements", str(self.counts_path), "serve", self.name],
            env=self.env | ({"AMQP_URL": self.broker_url} if self.broker_url else {}),
            cwd=self.env["VISA_TEST_WORKDIR"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()


def replicas(system: System) -> dict[str, list[ServiceProcess]]:
    """Each service's processes: one, or ``--replicas`` (keyed ``intake``, ``intake-2``… in ``system.services``)."""
    found: dict[str, list[ServiceProcess]] = defaultdict(list)
    for service in system.services.values():
        found[service.name].append(service)
    return dict(found)


class Meter:
    """CPU of each service (the sum over its replicas), of the broker, PostgreSQL, Redis and the load generator
    over a window, per request completed in it; with ``--count-statements``, each service's SQL statements too."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.services = replicas(system)
        self.pids = {name: [s.process.pid for s in group] for name, group in self.services.items()}
        self.pids |= {
            "rabbitmq": cpu.roots("beam.smp", "rabbit"),
            "postgresql": cpu.roots("postgres"),
            "redis": cpu.roots("redis-server"),
        }
        # With replicas, each process alone too: how evenly the load spread.
        spread = any(len(group) > 1 for group in self.services.values())
        self.processes = {key: [s.process.pid] for key, s in system.services.items()} if spread else {}

    def _main_threads(self) -> dict[str, cpu.Cpu]:
        return {
            name: sum((cpu.main_thread(s.process.pid) for s in group), cpu.Cpu())
            for name, group in self.services.items()
        }

    def start(self) -> None:
        self.started = time.perf_counter()
        self.before = cpu.snapshot(self.pids)
        self.before_processes = cpu.snapshot(self.processes)
        self.machine = cpu.machine()
        self.main_threads = self._main_threads()
        self.generator = cpu.own(os.getpid())  # this process (HTTP client, listener) and wrk, once reaped
        self.counts = {key: statements.read(s.counts_path) for key, s in self._counted().items()}

    def _counted(self) -> dict[str, CountedService]:
        return {key: s for key, s in self.system.services.items() if isinstance(s, CountedService)}

    def cores(self) -> dict[str, float]:
        """Cores busy so far in the window, without ending it."""
        seconds = time.perf_counter() - self.started
        return {name: used.total / seconds for name, used in cpu.since(self.before, cpu.snapshot(self.pids)).items()}

    async def stop(self, requests: int) -> dict:
        seconds = time.perf_counter() - self.started
        spent = cpu.since(self.before, cpu.snapshot(self.pids))
        by_process = cpu.since(self.before_processes, cpu.snapshot(self.processes))
        main = {name: used - self.main_threads[name] for name, used in self._main_threads().items()}
        spent["load generator"] = cpu.own(os.getpid()) - self.generator
        spent["services"] = sum((spent[name] for name in self.services), cpu.Cpu())
        measured = sum((used for name, used in spent.items() if name != "services"), cpu.Cpu())
        # What else the machine did meanwhile (another job, the kernel's own work): not this benchmark's load.
        spent["other processes"] = cpu.machine() - self.machine - measured
        per = max(requests, 1)
        result = {
            "seconds": seconds,
            "requests": requests,
            "cpu_ms_per_request": {name: used.total * 1000 / per for name, used in spent.items()},
            "cores": {name: used.total / seconds for name, used in spent.items()},
            "cpu_seconds": {name: {"user": used.user, "system": used.system} for name, used in spent.items()},
            # The event loop's thread; the rest of a service's CPU ran in its other threads (aiosqlite's, AnyIO's).
            "main_thread_share": {name: used.total / max(spent[name].total, 1e-9) for name, used in main.items()},
        }
        if by_process:
            result["cores_by_process"] = {key: used.total / seconds for key, used in by_process.items()}
        if self._counted():
            await asyncio.sleep(1.2)  # the counts are written every second
            counted = {
                key: statements.difference(self.counts[key], statements.read(s.counts_path))
                for key, s in self._counted().items()
            }
            result["statements"] = {
                name: per_request(added(counted[s] for s in group_keys), per)
                for name, group_keys in self._counted_keys().items()
            }
        return result

    def _counted_keys(self) -> dict[str, list[str]]:
        keys: dict[str, list[str]] = defaultdict(list)
        for key, service in self._counted().items():
            keys[service.name].append(key)
        return dict(keys)


def added(readings) -> dict[str, list[float]]:
    """Statement counts of several processes (a service's replicas) as one, the most frequent first."""
    total: dict[str, list[float]] = {}
    for reading in readings:
        for key, (count, seconds) in reading.items():
            before = total.get(key, [0, 0.0])
            total[key] = [before[0] + count, before[1] + seconds]
    return dict(sorted(total.items(), key=lambda item: -item[1][0]))


def per_request(counted: dict[str, list[float]], requests: int) -> dict:
    """A service's statements over a window: totals per request, events handled (one inbox insert each), the
    statements by count, each with its count and wall milliseconds per request."""
    sql = {key: value for key, value in counted.items() if not key.startswith("(")}
    events = sum(count for key, (count, _) in sql.items() if key.startswith("INSERT INTO inbox"))
    return {
        "statements_per_request": sum(count for count, _ in sql.values()) / requests,
        "statement_wall_ms_per_request": sum(seconds for _, seconds in sql.values()) * 1000 / requests,
        "commits_per_request": counted.get("(commit)", [0, 0])[0] / requests,
        "transactions_per_request": counted.get("(begin)", [0, 0])[0] / requests,
        "events_handled_per_request": events / requests,
        "statements": {
            key: {"per_request": count / requests, "wall_ms_per_request": seconds * 1000 / requests}
            for key, (count, seconds) in counted.items()
        },
    }


@contextlib.asynccontextmanager
async def profiling(system: System, args: argparse.Namespace, phase: str, results: dict):
    """py-spy on each service for the length of the block (``--profile``): raw stacks, then their summary."""
    if args.profile is None:
        yield
        return
    args.profile.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    recorders = {}
    for name, service in system.services.items():
        out = args.profile / f"{args.database}-{phase}-{name}.txt"
        command = [spy, "record", "--pid", str(service.process.pid), "--rate", str(args.profile_rate)]
        # --gil: only the thread holding the GIL is sampled, so a sample is Python's own CPU; time in C with the
        # GIL released (SQLite's statements, waits for its lock, uvloop's I/O) is in the CPU accounting instead.
        command += ["--format", "raw", "--threads", "--gil", "--output", str(out)]
        recorder = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        recorders[name] = (out, recorder)
    try:
        yield
    finally:
        summaries = results.setdefault("profiles", {}).setdefault(phase, {})
        rendered = []
        for name, (out, recorder) in recorders.items():
            recorder.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
            _, error = await recorder.communicate()
            if not out.exists():
                console.print(f"[red]py-spy wrote no profile of {name}: {error.decode()[-500:]}[/]")
                continue
            summaries[name] = summary = profiles.summarize(profiles.parse(out), top=25)
            rendered.append(profiles.render(f"{args.database} {phase} {name}", summary))
        (args.profile / f"{args.database}-{phase}-summary.txt").write_text("\n\n".join(rendered) + "\n")


class Arrivals(list):
    """Stands in for ``Listener.events``: notes when each visa.issued arrives, per person and per request."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, float] = {}  # person_id -> arrival of its first visa.issued
        self.by_request: dict[str, list[float]] = defaultdict(list)
        self.duplicates = 0

    def append(self, event: dict) -> None:
        now = time.perf_counter()
        super().append(event)
        data = event["data"]
        if data["person_id"] in self.first:
            self.duplicates += 1
            return
        self.first[data["person_id"]] = now
        self.by_request[data["request_id"]].append(now)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


async def postgres(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def baseline(amqp_url: str, namespace: str, count: int, window: int = 256) -> dict:
    """Bare aio-pika: persistent 1 KiB messages, confirms pipelined ``window`` at a time, consumed meanwhile."""
    name, body = f"{namespace}bench.baseline", b"x" * 1024
    publisher, consumer = await aio_pika.connect(amqp_url), await aio_pika.connect(amqp_url)
    try:
        channel = await publisher.channel(publisher_confirms=True)
        await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        receiving = await consumer.channel()
        await receiving.set_qos(prefetch_count=64)
        received, all_in = 0, asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= count:
                all_in.set()

        await (await receiving.get_queue(name)).consume(on_message)
        start = time.perf_counter()
        for offset in range(0, count, window):
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            batch = min(window, count - offset)
            await asyncio.gather(*(channel.default_exchange.publish(message, name) for _ in range(batch)))
        published = time.perf_counter() - start
        await asyncio.wait_for(all_in.wait(), 120)
        round_trip = time.perf_counter() - start
        version = publisher.transport.connection.server_properties.get("version", "?")
    finally:
        await consumer.close()  # first: deleting a queue under a consumer makes the broker cancel it
        await (await publisher.channel()).queue_delete(name)
        await publisher.close()
    return {
        "messages": count,
        "confirm_window": window,
        "publish_confirmed_per_s": count / published,
        "round_trip_per_s": count / round_trip,
        "rabbitmq": version.decode() if isinstance(version, bytes) else str(version),
    }


def wrk_threads(replicas: int) -> int:
    """wrk's threads: two, or one per intake replica (each thread connects to one)."""
    return 2 if replicas == 1 else replicas


async def run_wrk(urls: list[str], key: str, connections: int, duration: int) -> tuple[dict, str]:
    """One wrk on ``POST /v1/requests``; with several intake replicas (``urls``), its threads connect to each in
    turn (``replicas.lua``), so its figures (requests, latency percentiles) are of all of them together."""
    env = dict(os.environ, BENCH_BODY=json.dumps(example_request(with_spouse=False)), BENCH_KEY=key)
    script = LUA
    if len(urls) > 1:
        script = REPLICAS_LUA
        env |= {"BENCH_SUBMIT": str(LUA), "BENCH_PORTS": " ".join(url.rsplit(":", 1)[1] for url in urls)}
    threads = wrk_threads(len(urls))
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    process = await asyncio.create_subprocess_exec(
        *args,
        "-s",
        str(script),
        f"{urls[0]}/v1/requests",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output = (await process.communicate())[0].decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    figures = {m[1]: [int(v) for v in m[2].split()] for m in re.finditer(r"^([A-Z_0-9]+) ([\d ]+)$", output, re.M)}
    if process.returncode != 0 or "ACCEPTED" not in figures:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    return figures, output


async def full_speed(system: System, key: str, args, amqp_url: str, namespace: str, results: dict) -> dict:
    meter = Meter(system)
    async with listen(amqp_url, namespace, "visa.issued") as listener:
        listener.events = arrivals = Arrivals()
        meter.start()
        start = time.perf_counter()
        async with profiling(system, args, "full-speed", results):
            urls = [intake.url for intake in replicas(system)["intake"]]
            figures, output = await run_wrk(urls, key, args.connections, args.duration)
        under_load = meter.cores()  # while wrk ran: the window below adds the drain of the backlog
        stopped = time.perf_counter()
        console.print(
            "\n".join("  " + line for line in output.splitlines() if not re.match(r"[A-Z_0-9]+ [\d ]+$", line))
        )
        accepted = figures["ACCEPTED"][0]
        try:
            await listener.wait_for(lambda events: len(events.first) >= accepted, timeout=args.drain_timeout)
        except AssertionError:
            console.print(f"[red]only {len(arrivals.first)} of {accepted} visas in {args.drain_timeout}s[/]")
        issued = sorted(arrivals.first.values())
    # Intake still projects authorization.* and visa.issued into request statuses: wait for its queue too.
    backlog = await depths(amqp_url, namespace)
    try:
        await eventually(lambda: _settled(amqp_url, namespace), timeout=args.drain_timeout, interval=0.2)
        settled = time.perf_counter()
    except AssertionError:
        console.print(f"[red]consumer queues not empty {args.drain_timeout}s after the visas[/]")
        settled = math.nan
    completed = min(accepted, len(issued))
    usage = await meter.stop(completed)  # from wrk's start until every queue is empty: all the work of the accepted
    last = issued[completed - 1] if issued else stopped
    p50, p90, p99, p999, worst = (us / 1000 for us in figures["LATENCY_US"])
    return {
        "usage": usage,
        "cores_while_wrk_ran": under_load,
        "accepted": accepted,
        "non_2xx": figures["NON2XX"][0],
        "socket_errors_connect_read_write_timeout": figures["SOCKET_ERRORS"],
        "visas_issued": len(issued),
        "duplicate_visa_events": arrivals.duplicates,
        "http_accept_per_s": accepted / (figures["DURATION_US"][0] / 1e6),
        "http_latency_ms": {"p50": p50, "p90": p90, "p99": p99, "p99.9": p999, "max": worst},
        "sustained_end_to_end_per_s": min(accepted, len(issued)) / (last - start),
        "drain_after_load_s": max(0.0, last - stopped),
        "queues_ready_when_visas_done": backlog,
        "all_queues_empty_after_load_s": settled - stopped,
    }


async def _settled(amqp_url: str, namespace: str) -> bool:
    return not any((await depths(amqp_url, namespace)).values())


async def fixed_rate(system: System, key: str, args, amqp_url: str, namespace: str, results: dict, rate: float) -> dict:
    """Open loop: request i leaves at start + i/rate whatever the earlier answers took (spouse: 2 visas each)."""
    body, total = example_request(with_spouse=True), int(rate * args.rate_duration)
    sent: dict[str, float] = {}
    failures: list[str] = []
    async with listen(amqp_url, namespace, "visa.issued") as listener, contextlib.AsyncExitStack() as clients:
        listener.events = arrivals = Arrivals()
        # One client per intake replica; request i goes to replica i mod K.
        intakes = [
            await clients.enter_async_context(
                httpx.AsyncClient(
                    base_url=intake.url,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                    limits=httpx.Limits(max_connections=200),
                )
            )
            for intake in replicas(system)["intake"]
        ]

        async def send(client: httpx.AsyncClient) -> None:
            at = time.perf_counter()
            try:
                answer = await client.post("/v1/requests", json=body)
            except httpx.HTTPError as error:
                failures.append(repr(error))
                return
            if answer.status_code == 202:
                sent[answer.json()["request_id"]] = at
            else:
                failures.append(f"{answer.status_code} {answer.text[:200]}")

        # The load generator holds what the earlier phases left (their events, the clients): a full collection of it
        # stops this process for 130-150 ms, during which it neither sends nor notes arrivals, and the requests in
        # flight would seem that much slower. Set apart from the collector, as the services do (shared/service.py).
        gc.collect()
        gc.freeze()
        meter = Meter(system)
        meter.start()
        async with profiling(system, args, f"fixed-rate-{rate:g}", results):
            start, tasks = time.perf_counter(), []
            for i in range(total):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(send(intakes[i % len(intakes)])))
            await asyncio.gather(*tasks)
            try:
                await listener.wait_for(
                    lambda events: all(len(events.by_request.get(r, ())) >= 2 for r in sent),
                    timeout=args.drain_timeout,
                )
            except AssertionError:
                console.print(f"[red]not every request got its 2 visas in {args.drain_timeout}s[/]")
    with contextlib.suppress(AssertionError):  # intake's projection of the visas: part of each request's work
        await eventually(lambda: _settled(amqp_url, namespace), timeout=30, interval=0.2)
    in_send_order = sorted(sent.items(), key=lambda item: item[1])
    latencies = [(max(arrivals.by_request[r]) - t) * 1000 for r, t in in_send_order if len(arrivals.by_request[r]) >= 2]
    usage = await meter.stop(len(latencies))
    sends, third = sorted(sent.values()), len(latencies) // 3
    return {
        "usage": usage,
        "rate": rate,
        "requests": total,
        "accepted": len(sent),
        "failures": len(failures),
        "first_failures": failures[:3],
        "completed": len(latencies),
        "achieved_per_s": (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 else 0.0,
        "end_to_end_ms": {
            p: percentile(latencies, q) for p, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
        },
        # Rising from the first to the last third: the rate is beyond what the pipeline sustains.
        "p50_ms_first_third_last_third": [percentile(latencies[:third], 50), percentile(latencies[-third:], 50)],
    }


async def depths(amqp_url: str, namespace: str, suffix: str = "") -> dict[str, int]:
    """Messages ready in each consumer queue of the namespace (``suffix=".dlq"``: dead letters)."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel, found = await connection.channel(), {}
        for consumer in CONSUMERS:
            queue = await channel.declare_queue(f"{namespace}{consumer.name}{suffix}", passive=True)
            found[consumer.name] = queue.declaration_result.message_count
    return found


async def stop(system: System, results: dict) -> None:
    """SIGTERM each service process (uvicorn re-raises it once shut down), then count what went wrong in its log:
    a log of its own per process, replicas included (``intake-2.log``…)."""
    codes = await asyncio.to_thread(lambda: {key: service.stop() for key, service in system.services.items()})
    results["logs"] = {}
    for key, service in system.services.items():
        log = service.log_path
        text = log.read_text(errors="replace") if log.exists() else ""
        counts = {level: len(re.findall(rf"^(?:\S+ \S+ )?{level}:? ", text, re.M)) for level in ("WARNING", "ERROR")}
        results["logs"][key] = counts | {
            "redeliveries": text.count(" failed on "),
            "tracebacks": text.count("Traceback"),
            "unclean exit": int(codes[key] not in (0, -signal.SIGTERM)),
        }


def machine() -> dict:
    kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    return dict(platform=platform.platform(), cpus=os.cpu_count(), memory_gib=round(kib / 2**20, 1))


CPU_COLUMNS = (*SERVICES, "rabbitmq", "postgresql", "redis", "load generator")


def cpu_line(figures: dict[str, float], *names: str, unit: str = " ms") -> str:
    return ", ".join(f"{name} {figures[name]:.2f}{unit}" for name in names if name in figures)


def old_rows(results: dict) -> str:
    seeded = results.get("seeding")
    if not seeded:
        return "none"
    tables = {table: {rows[table] for rows in seeded["rows"].values()} for table in ("outbox", "inbox")}
    counts = " / ".join(
        f"{min(found):,}" if len(found) == 1 else f"{min(found):,}–{max(found):,}" for found in tables.values()
    )
    return f"{counts} (seeded in {seeded['seconds']:.1f} s)"


def summarize(results: dict) -> None:
    table = Table(title="visa pipeline benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    m, b, f = results["machine"], results["baseline"], results["full_speed"]
    h = results["three_hops"]
    rows = [
        ("machine", f"{m['platform']}, {m['cpus']} CPUs, {m['memory_gib']} GiB"),
        ("RabbitMQ / database", f"{b['rabbitmq']} / {results['database']}"),
        ("replicas of each service", str(results["replicas"])),
        ("old rows in outbox / inbox, each service", old_rows(results)),
        ("bare publish with confirms", f"{b['publish_confirmed_per_s']:,.0f} msg/s"),
        ("bare publish→consume round", f"{b['round_trip_per_s']:,.0f} msg/s"),
        (f"bare three hops (prefetch {h['prefetch']})", f"{h['sustained_three_hops_per_s']:,.0f} msg/s"),
        ("bare three hops, CPU per message", cpu_line(h["cpu_ms_per_message"], "broker", "hop a", "hop b", "hop c")),
        ("HTTP accept rate (wrk)", f"{f['http_accept_per_s']:,.1f} req/s"),
        ("POST latency p50/p90/p99", "{p50:.1f} / {p90:.1f} / {p99:.1f} ms".format(**f["http_latency_ms"])),
        ("sustained end-to-end", f"{f['sustained_end_to_end_per_s']:,.1f} req/s"),
        (
            "backlog drain after load",
            f"{f['drain_after_load_s']:.1f} s (visas), {f['all_queues_empty_after_load_s']:.1f} s (all queues)",
        ),
        ("end-to-end ÷ bare round trip", f"{results['ratio_end_to_end_to_bare']:.4f}"),
        ("end-to-end ÷ bare three hops", f"{results['ratio_end_to_end_to_three_hops']:.4f}"),
        ("full speed: CPU ms per request", cpu_line(f["usage"]["cpu_ms_per_request"], *CPU_COLUMNS)),
        ("full speed: cores busy", cpu_line(f["usage"]["cores"], *CPU_COLUMNS, unit="")),
        ("cores busy while wrk ran", cpu_line(f["cores_while_wrk_ran"], *CPU_COLUMNS, unit="")),
        ("cores busy in other processes", cpu_line(f["usage"]["cores"], "other processes", unit="")),
        ("full speed: event loop's share", cpu_line(f["usage"]["main_thread_share"], *SERVICES, unit="")),
    ]
    if "cores_by_process" in f["usage"]:
        by_process = f["usage"]["cores_by_process"]
        rows.append(("full speed: cores busy per replica", cpu_line(by_process, *by_process, unit="")))
    for r in results["fixed_rate"].values():
        at = f"{r['rate']:g}/s"
        rows += [
            (f"{at}: {r['requests']} requests", f"{r['achieved_per_s']:.1f} req/s sent, {r['completed']} complete"),
            (
                f"{at}: end-to-end p50/p90/p99/max",
                "{p50:.0f} / {p90:.0f} / {p99:.0f} / {max:.0f} ms".format(**r["end_to_end_ms"]),
            ),
            (f"{at}: p50 first→last third", "{:.0f} → {:.0f} ms".format(*r["p50_ms_first_third_last_third"])),
            (f"{at}: CPU ms per request", cpu_line(r["usage"]["cpu_ms_per_request"], *CPU_COLUMNS)),
            (f"{at}: cores busy in other processes", cpu_line(r["usage"]["cores"], "other processes", unit="")),
        ]
    rows += [
        ("idle: CPU ms per second", cpu_line(results["idle_cpu_ms_per_s"], *CPU_COLUMNS)),
        ("dead letters", str(sum(results["dead_letters"].values()))),
    ]
    phases = [("full speed", f["usage"])] + [(f"{r['rate']:g}/s", r["usage"]) for r in results["fixed_rate"].values()]
    for phase, usage in phases:
        for service, counted in usage.get("statements", {}).items():
            rows.append(
                (
                    f"{phase}: {service} SQL per request",
                    "{statements_per_request:.1f} statements ({statement_wall_ms_per_request:.1f} ms wall), "
                    "{transactions_per_request:.1f} transactions, {events_handled_per_request:.1f} events".format(
                        **counted
                    ),
                )
            )
    for service, counts in results["logs"].items():
        rows.append((f"{service} log", ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "clean"))
    for row in rows:
        table.add_row(*row)
    console.print(table)


async def main(args: argparse.Namespace) -> dict:
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    postgres_url = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    postgres_url = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    run_id = uuid.uuid4().hex[:8]
    names = {service: f"visa_bench_{run_id}_{service}" for service in SERVICES}
    vhost, users = f"visa-bench-{run_id}", SessionUsers.new(f"bench-{run_id}")
    workdir = Path(tempfile.mkdtemp(prefix="visa-bench-"))
    console.print(f"vhost {vhost}; service logs in {workdir}")
    results: dict = {"machine": machine(), "database": args.database, "vhost": vhost, "args": vars(args)}
    results |= {"replicas": args.replicas, "old_rows": args.old_rows}
    results["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in results["args"].items()}
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # as Ctrl-C
    async with contextlib.AsyncExitStack() as cleanup:  # every step runs, even after one fails or Ctrl-C
        cleanup.callback(_quietly, remove_users, users)
        cleanup.callback(_quietly, remove_vhost, vhost)
        access = await provision_vhost(amqp_url, users, vhost)
        keys = make_keys(workdir / "keys")
        seal = make_seal_keys(workdir / "seal", dt.date.today() - dt.timedelta(days=1))
        os.environ.update(
            VISA_KEYRING=str(keys.ring_path),
            VISA_SIGNING_KEYS=str(keys.private_dir),
            ISSUANCE_SEAL_PUBLIC_KEYS=str(seal.published_path),
            ISSUANCE_SEAL_KEYS=str(seal.private_dir),
        )
        if args.database == "sqlite":
            databases = {service: f"sqlite:///{workdir / service}.db" for service in SERVICES}
            cleanup.callback(remove_sqlite, workdir)  # after the services stopped (the stack unwinds in reverse)
        else:
            drops = (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names.values())
            cleanup.push_async_callback(postgres, postgres_url, *drops)
            await postgres(postgres_url, *(f'CREATE DATABASE "{name}"' for name in names.values()))
            databases = {service: postgres_url.rsplit("/", 1)[0] + f"/{name}" for service, name in names.items()}
        env = system_env(
            workdir=workdir,
            amqp_url=access.admin,
            redis_url=redis_url,
            namespace="",
            databases=databases,
            policy="auto",
        )
        env["LOG_LEVEL"] = "WARNING"
        kind = CountedService if args.count_statements else ServiceProcess
        processes = {}
        for s in SERVICES:  # the first replica as before (``intake``, its env's port), the others ``intake-2``…
            for replica in range(1, args.replicas + 1):
                name = s if replica == 1 else f"{s}-{replica}"
                own = env if replica == 1 else env | {f"{s.upper()}_PORT": str(free_port())}
                processes[name] = kind(s, own, workdir / f"{name}.log", access.urls[s])
        system = System(env, processes)
        cleanup.push_async_callback(stop, system, results)
        # Migrated here, once per database, so that the old rows go in before any service starts.
        for s in SERVICES:
            await asyncio.to_thread(upgrade, s, databases[s])
        for process in processes.values():
            process.migrated = True
        if args.old_rows:
            console.print(f"old rows: {args.old_rows:,} into each service's outbox and inbox")
            results["seeding"] = seeded = await seed.seed(databases, args.old_rows)
            console.print(f"      {seed.describe(seeded)}")
        if args.replicas > 1:
            console.print(f"{args.replicas} processes of each service: " + ", ".join(system.services))
        await system.start()
        key = await asyncio.to_thread(
            system.new_key, "sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden", "--country", "SWE"
        )
        console.print(f"[bold]0/3 idle[/]: {args.idle:.0f} s without load")
        meter = Meter(system)
        meter.start()
        await asyncio.sleep(args.idle)
        idle = await meter.stop(1)
        results["idle_cpu_ms_per_s"] = {name: ms / idle["seconds"] for name, ms in idle["cpu_ms_per_request"].items()}
        console.print(
            f"[bold]1/3 bare broker[/]: {args.baseline_messages} persistent 1 KiB messages, quorum queue, "
            "publisher confirms pipelined 256 at a time (asyncio.gather), consumer prefetch 64, manual ack"
        )
        prefix = f"bench-{run_id}."
        results["baseline"] = b = await baseline(amqp_url, prefix, args.baseline_messages)
        console.print(
            f"      then {args.hop_messages} messages through three quorum queues, a process per hop, "
            f"prefetch {args.hop_prefetch}, each republished with confirms before its ack"
        )
        results["three_hops"] = h = await three_hops(amqp_url, prefix, args.hop_messages, prefetch=args.hop_prefetch)
        threads = wrk_threads(args.replicas)
        spread = f", a thread per intake replica ({args.connections // threads} connections each)"
        console.print(
            f"[bold]2/3 full speed[/]: wrk -t{threads} -c{args.connections} -d{args.duration}s, principal-only"
            + (spread if args.replicas > 1 else "")
        )
        results["full_speed"] = f = await full_speed(system, key, args, access.admin, "", results)
        results["ratio_end_to_end_to_bare"] = f["sustained_end_to_end_per_s"] / b["round_trip_per_s"]
        results["ratio_end_to_end_to_three_hops"] = f["sustained_end_to_end_per_s"] / h["sustained_three_hops_per_s"]
        results["fixed_rate"] = {}
        for rate in args.rate:
            console.print(f"[bold]3/3 fixed rate[/]: {rate:g} req/s for {args.rate_duration}s, principal + spouse")
            results["fixed_rate"][f"{rate:g}"] = await fixed_rate(system, key, args, access.admin, "", results, rate)
        results["dead_letters"] = await depths(access.admin, "", ".dlq")
    return results


def remove_sqlite(workdir: Path) -> None:
    """The run's SQLite databases (with ``--old-rows``, large): the logs and keys stay for a look."""
    for path in workdir.glob("*.db*"):
        path.unlink(missing_ok=True)


def _quietly(function, *args) -> None:
    try:
        function(*args)
    except Exception as error:  # cleanup goes on: what is left is named
        console.print(f"[red]cleanup: {function.__name__} failed: {error}[/]")


if __name__ == "__main__":
    arguments = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `apt-get install -y wrk` (Debian package wrk) and try again")
    try:
        results = asyncio.run(main(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted: services stopped, vhost, users and databases removed")
    summarize(results)
    # A profiled or counted run is not a measurement: it does not replace the last one's figures. Nor does one of
    # another setting (replicas, old rows) replace those of the default one: each has a file of its own.
    perturbed = "-profiled" if arguments.profile or arguments.count_statements else ""
    setting = f"-{arguments.replicas}-replicas" if arguments.replicas > 1 else ""
    setting += f"-{arguments.old_rows}-old-rows" if arguments.old_rows else ""
    name = f"pipeline-{arguments.database}{setting}{perturbed}"
    console.print(f"written to {write_results(results, name)}")
