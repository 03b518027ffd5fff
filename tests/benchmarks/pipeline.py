"""Throughput and latency of the whole pipeline, next to what the same RabbitMQ does bare.

``python -m tests.benchmarks.pipeline [--duration 15 --rate 20 ...]`` starts intake, authorization
(policy ``auto``) and issuance as three processes on fresh databases under a namespace of their own,
then measures: (1) bare aio-pika publish-with-confirms and consume on a quorum queue, (2) ``wrk`` at
full speed on ``POST /v1/requests`` and the backlog until every visa is issued, (3) a fixed open-loop
rate and each request's end-to-end latency up to its last ``visa.issued``. It prints figures, writes
them to ``var/bench/last.json`` and removes everything it created, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import aio_pika
import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from shared.messaging.topology import CONSUMERS
from tests.benchmarks.results import write_results
from tests.support.broker import delete_namespace, listen
from tests.support.requests import example_request
from tests.support.system import SERVICES, ServiceProcess, System, eventually, system_env

LUA = Path(__file__).with_name("submit.lua")
console = Console(highlight=False, width=int(os.environ.get("COLUMNS", 110)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds of full-speed wrk load")
    parser.add_argument("--rate", type=float, default=20, help="requests/s of the fixed-rate phase")
    parser.add_argument("--rate-duration", type=int, default=15, help="seconds of the fixed-rate phase")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--baseline-messages", type=int, default=20000, help="1 KiB messages of the bare round")
    parser.add_argument("--drain-timeout", type=float, default=180, help="seconds to wait for the visas")
    return parser.parse_args()


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


async def run_wrk(url: str, key: str, connections: int, duration: int) -> tuple[dict, str]:
    env = dict(os.environ, BENCH_BODY=json.dumps(example_request(with_spouse=False)), BENCH_KEY=key)
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s", "-s", str(LUA)]
    process = await asyncio.create_subprocess_exec(
        *args, f"{url}/v1/requests", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
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


async def full_speed(system: System, key: str, args, amqp_url: str, namespace: str) -> dict:
    async with listen(amqp_url, namespace, "visa.issued") as listener:
        listener.events = arrivals = Arrivals()
        start = time.perf_counter()
        figures, output = await run_wrk(system.services["intake"].url, key, args.connections, args.duration)
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
    last = issued[min(accepted, len(issued)) - 1] if issued else stopped
    p50, p90, p99, p999, worst = (us / 1000 for us in figures["LATENCY_US"])
    return {
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


async def fixed_rate(system: System, key: str, args, amqp_url: str, namespace: str) -> dict:
    """Open loop: request i leaves at start + i/rate whatever the earlier answers took (spouse: 2 visas each)."""
    body, total = example_request(with_spouse=True), int(args.rate * args.rate_duration)
    sent: dict[str, float] = {}
    failures: list[str] = []
    async with (
        listen(amqp_url, namespace, "visa.issued") as listener,
        httpx.AsyncClient(
            base_url=system.services["intake"].url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
            limits=httpx.Limits(max_connections=200),
        ) as client,
    ):
        listener.events = arrivals = Arrivals()

        async def send() -> None:
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

        start, tasks = time.perf_counter(), []
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
            tasks.append(asyncio.create_task(send()))
        await asyncio.gather(*tasks)
        try:
            await listener.wait_for(
                lambda events: all(len(events.by_request.get(r, ())) >= 2 for r in sent), timeout=args.drain_timeout
            )
        except AssertionError:
            console.print(f"[red]not every request got its 2 visas in {args.drain_timeout}s[/]")
    in_send_order = sorted(sent.items(), key=lambda item: item[1])
    latencies = [(max(arrivals.by_request[r]) - t) * 1000 for r, t in in_send_order if len(arrivals.by_request[r]) >= 2]
    sends, third = sorted(sent.values()), len(latencies) // 3
    return {
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


async def stop(system: System, workdir: Path, results: dict) -> None:
    """SIGTERM each service (uvicorn re-raises it once shut down), then count what went wrong in its log."""
    codes = await asyncio.to_thread(lambda: {name: service.stop() for name, service in system.services.items()})
    results["logs"] = {}
    for service in SERVICES:
        log = workdir / f"{service}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        counts = {level: len(re.findall(rf"^(?:\S+ \S+ )?{level}:? ", text, re.M)) for level in ("WARNING", "ERROR")}
        results["logs"][service] = counts | {
            "redeliveries": text.count(" failed on "),
            "tracebacks": text.count("Traceback"),
            "unclean exit": int(codes[service] not in (0, -signal.SIGTERM)),
        }


def machine() -> dict:
    kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    return dict(platform=platform.platform(), cpus=os.cpu_count(), memory_gib=round(kib / 2**20, 1))


def summarize(results: dict) -> None:
    table = Table(title="visa pipeline benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    m, b, f, r = results["machine"], results["baseline"], results["full_speed"], results["fixed_rate"]
    rows = [
        ("machine", f"{m['platform']}, {m['cpus']} CPUs, {m['memory_gib']} GiB"),
        ("RabbitMQ / database", f"{b['rabbitmq']} / {results['database']}"),
        ("bare publish with confirms", f"{b['publish_confirmed_per_s']:,.0f} msg/s"),
        ("bare publish→consume round", f"{b['round_trip_per_s']:,.0f} msg/s"),
        ("HTTP accept rate (wrk)", f"{f['http_accept_per_s']:,.1f} req/s"),
        ("POST latency p50/p90/p99", "{p50:.1f} / {p90:.1f} / {p99:.1f} ms".format(**f["http_latency_ms"])),
        ("sustained end-to-end", f"{f['sustained_end_to_end_per_s']:,.1f} req/s"),
        (
            "backlog drain after load",
            f"{f['drain_after_load_s']:.1f} s (visas), {f['all_queues_empty_after_load_s']:.1f} s (all queues)",
        ),
        ("end-to-end ÷ bare round trip", f"{results['ratio_end_to_end_to_bare']:.4f}"),
        (f"fixed rate ({r['requests']} requests)", f"{r['achieved_per_s']:.1f} req/s, {r['completed']} complete"),
        ("end-to-end p50/p90/p99/max", "{p50:.0f} / {p90:.0f} / {p99:.0f} / {max:.0f} ms".format(**r["end_to_end_ms"])),
        ("end-to-end p50 first→last third", "{:.0f} → {:.0f} ms".format(*r["p50_ms_first_third_last_third"])),
        ("dead letters", str(sum(results["dead_letters"].values()))),
    ]
    for service, counts in results["logs"].items():
        rows.append((f"{service} log", ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "clean"))
    for row in rows:
        table.add_row(*row)
    console.print(table)


async def main(args: argparse.Namespace) -> dict:
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    urls = {"amqp_url": amqp_url, "redis_url": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}
    postgres_url = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    postgres_url = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    run_id = uuid.uuid4().hex[:8]
    names = {service: f"visa_bench_{run_id}_{service}" for service in SERVICES}
    namespace, workdir = f"bench-{run_id}.", Path(tempfile.mkdtemp(prefix="visa-bench-"))
    console.print(f"namespace {namespace}; service logs in {workdir}")
    results: dict = {"machine": machine(), "database": args.database, "namespace": namespace, "args": vars(args)}
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # as Ctrl-C
    async with contextlib.AsyncExitStack() as cleanup:  # every step runs, even after one fails or Ctrl-C
        cleanup.push_async_callback(delete_namespace, amqp_url, namespace)
        if args.database == "sqlite":
            databases = {service: f"sqlite:///{workdir / service}.db" for service in SERVICES}
        else:
            drops = (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names.values())
            cleanup.push_async_callback(postgres, postgres_url, *drops)
            await postgres(postgres_url, *(f'CREATE DATABASE "{name}"' for name in names.values()))
            databases = {service: postgres_url.rsplit("/", 1)[0] + f"/{name}" for service, name in names.items()}
        env = system_env(workdir=workdir, namespace=namespace, databases=databases, policy="auto", **urls)
        env["LOG_LEVEL"] = "WARNING"
        system = System(env, {s: ServiceProcess(s, env, workdir / f"{s}.log") for s in SERVICES})
        cleanup.push_async_callback(stop, system, workdir, results)
        await system.start()
        key = await asyncio.to_thread(
            system.new_key, "sponsors", "add", "--kind", "government", "--name", "Embassy of Sweden", "--country", "SWE"
        )
        console.print(
            f"[bold]1/3 bare broker[/]: {args.baseline_messages} persistent 1 KiB messages, quorum queue, "
            "publisher confirms pipelined 256 at a time (asyncio.gather), consumer prefetch 64, manual ack"
        )
        results["baseline"] = b = await baseline(amqp_url, namespace, args.baseline_messages)
        console.print(f"[bold]2/3 full speed[/]: wrk -t2 -c{args.connections} -d{args.duration}s, principal-only")
        results["full_speed"] = f = await full_speed(system, key, args, amqp_url, namespace)
        results["ratio_end_to_end_to_bare"] = f["sustained_end_to_end_per_s"] / b["round_trip_per_s"]
        console.print(f"[bold]3/3 fixed rate[/]: {args.rate} req/s for {args.rate_duration}s, principal + spouse")
        results["fixed_rate"] = await fixed_rate(system, key, args, amqp_url, namespace)
        results["dead_letters"] = await depths(amqp_url, namespace, ".dlq")
    return results


if __name__ == "__main__":
    arguments = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `apt-get install -y wrk` (Debian package wrk) and try again")
    try:
        results = asyncio.run(main(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted: services stopped, namespace and databases removed")
    summarize(results)
    console.print(f"written to {write_results(results, 'last')}")
