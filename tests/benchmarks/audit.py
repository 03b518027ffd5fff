"""How fast the auditor reads, verifies and archives the event log, next to the stream's bare read rate.

``python -m tests.benchmarks.audit [--requests 20000] [--keep]`` provisions a vhost of its own from the
deployment definitions (as the tests do), makes signing keys in a temporary directory, publishes at least
100,000 real signed events (consistent request histories built with the contract models by
``tests/support/histories.py``, each published as its producer's broker user with publisher confirms)
and then measures, from ``visa.event-log``: (a) the bare aio-pika read of the stream, (b) ``read_stream``,
(c) ``read_stream`` feeding a ``History``, (d) the export to an archive and the read and verification of
that archive, (e) the peak memory of verifying the archive, in a process of its own. It prints figures,
writes them to ``var/bench/audit.json`` and removes the vhost and its users (unless ``--keep``).

``--verify-only DIR --ring PATH`` is step (e) alone: it replays the archive in DIR into a History and
prints, as JSON, its timing, its report's counts and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.benchmarks.results import write_results

ROOT = Path(__file__).resolve().parents[2]
console = Console(highlight=False, width=int(os.environ.get("COLUMNS", 110)))
IDLE_SECONDS = 1.0
BATCH = 500  # requests per chunk: each wave of a chunk is one gather of up to ~500 publishes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=20000, help="requests (5 events each, plus denials and revocations)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the vhost, its users and the archive")
    parser.add_argument("--verify-only", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--ring", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also run step (e) under tracemalloc (about 2-3x slower)"
    )
    return parser.parse_args()


# -- (e) alone, in a process of its own ---------------------------------------------------------------


def verify_only(directory: Path, ring_path: Path, trace: bool) -> dict[str, Any]:
    from services.audit import archive
    from services.audit.history import History
    from services.audit.schemas import SchemaCheck
    from shared.signing.store import read_ring

    history = History(read_ring(ring_path), SchemaCheck.load(), complete=True)
    baseline_kib = _status_kib("VmHWM")  # not ru_maxrss: Linux carries the parent's over fork and exec
    if trace:
        import tracemalloc

        tracemalloc.start()
    start = time.perf_counter()
    breaks = archive.replay(directory, history)
    replayed = time.perf_counter() - start
    result: dict[str, Any] = {}
    if trace:
        import tracemalloc

        current, peak = tracemalloc.get_traced_memory()  # current: what the History keeps after the replay
        tracemalloc.stop()
        result |= {"tracemalloc_retained_bytes": current, "tracemalloc_peak_bytes": peak}
    report = history.finish()
    elapsed = time.perf_counter() - start
    return result | {
        "seconds": elapsed,
        "replay_seconds": replayed,
        "events": report.events,
        "redeliveries": report.redeliveries,
        "records": report.events + report.redeliveries,
        "ok": report.ok,
        "violations": len(report.violations),
        "chain_breaks": len(breaks),
        "baseline_rss_kib": baseline_kib,
        "peak_rss_kib": _status_kib("VmHWM"),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,  # may be the parent's, see above
    }


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmHWM: peak RSS since exec)."""
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())[1])


# -- the events -----------------------------------------------------------------------------------------


class Events:
    """Consistent request histories in waves: every event of a wave is published only after the waves
    before it are confirmed, so causes always precede their effects in the log across connections."""

    def __init__(self, signers) -> None:
        from tests.support.histories import Story

        self.story = Story(signers=signers)
        self.visa_seq = 0
        self.counts: dict[str, int] = {}

    def chunk(self, first: int, count: int) -> list[list[tuple[str, dict]]]:
        """Waves of (producer, event) for requests ``first`` .. ``first + count - 1``."""
        from services.issuance.visas import visa_number

        story = self.story
        story.events = []  # keep nothing between chunks
        waves: list[list[tuple[str, dict]]] = [[] for _ in range(6)]
        for n in range(first, first + count):
            request_id = f"r{n}"
            submitted = story.submit(request_id)
            waves[0].append(("intake", submitted))
            review = story.review(submitted)
            waves[1].append(("authorization", review))
            granted = story.decide(submitted, f"a{n}", cause=review)
            waves[2].append(("authorization", granted))
            issued = []
            for person in ("p0", "p1"):
                self.visa_seq += 1
                visa = story.issue(granted, f"{request_id}-{person}", number=visa_number("PE", self.visa_seq))
                issued.append(visa)
                waves[3].append(("issuance", visa))
            if n % 100 == 0:  # at-least-once delivery: the grant logged twice
                waves[3].append(("authorization", granted))
            if n % 50 == 0:  # a denied request
                denied_submitted = story.submit(f"d{n}", family=0)
                waves[0].append(("intake", denied_submitted))
                waves[2].append(("authorization", story.decide(denied_submitted, f"ad{n}", denied=(f"d{n}-p0",))))
            if n % 40 == 0:  # revoked, both visas cancelled
                revoked = story.revoke(
                    granted,
                    person_ids=(f"{request_id}-p0", f"{request_id}-p1"),
                    visa_numbers=tuple(v["data"]["visa_number"] for v in issued),
                )
                waves[4].append(("authorization", revoked))
                waves[5].extend(("issuance", story.cancel(revoked, visa)) for visa in issued)
        for wave in waves:
            for _, event in wave:
                self.counts[event["type"]] = self.counts.get(event["type"], 0) + 1
        return [wave for wave in waves if wave]


async def publish_all(access, files, requests: int) -> dict[str, Any]:
    import aio_pika

    from shared.contracts import CONTENT_TYPE, EVENT_MODELS, Envelope
    from shared.contracts.registry import PRODUCERS
    from shared.messaging.topology import EVENTS_EXCHANGE
    from tests.support.histories import Signers

    signers = Signers({service: files.signing_key(service) for service in PRODUCERS}, files.ring())
    events = Events(signers)
    connections, exchanges = [], {}
    try:
        for service in PRODUCERS:
            connection = await aio_pika.connect(access.urls[service])
            connections.append(connection)
            channel = await connection.channel(publisher_confirms=True)
            exchanges[service] = await channel.get_exchange(EVENTS_EXCHANGE, ensure=False)
        generating = publishing = 0.0
        published = 0
        for first in range(0, requests, BATCH):
            start = time.perf_counter()
            waves = events.chunk(first, min(BATCH, requests - first))
            # As the bus publishes: the signed envelope's JSON (``Envelope.to_json``), persistent, by id.
            waves = [
                [
                    (service, Envelope.model_validate(event).to_json(), event["id"], event["type"])
                    for service, event in wave
                ]
                for wave in waves
            ]
            generating += time.perf_counter() - start
            start = time.perf_counter()
            for wave in waves:
                await asyncio.gather(
                    *(
                        exchanges[service].publish(
                            aio_pika.Message(
                                body,
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                message_id=event_id,
                                type=event_type,
                                content_type=CONTENT_TYPE,
                            ),
                            EVENT_MODELS[event_type].routing_key,
                            mandatory=True,
                        )
                        for service, body, event_id, event_type in wave
                    )
                )
                published += len(wave)
            publishing += time.perf_counter() - start
            if first // BATCH % 10 == 0:
                console.print(f"  {published:,} events published", style="dim")
    finally:
        for connection in connections:
            await connection.close()
    return {
        "events": published,
        "by_type": dict(sorted(events.counts.items())),
        "generate_and_sign_seconds": generating,
        "generate_and_sign_per_s": published / generating,
        "publish_confirmed_seconds": publishing,
        "publish_confirmed_per_s": published / publishing,
    }


async def purge_consumer_queues(access) -> None:
    """The consumer queues received the events too; nobody consumes them here: empty them (operator)."""
    import aio_pika

    from shared.messaging.topology import CONSUMERS

    connection = await aio_pika.connect(access.admin)
    async with connection:
        channel = await connection.channel()
        for consumer in CONSUMERS:
            queue = await channel.get_queue(consumer.name, ensure=True)
            await queue.purge()


# -- the measures ---------------------------------------------------------------------------------------


async def raw_read(url: str, count: int) -> dict[str, Any]:
    """(a) Bare aio-pika: consume the stream from ``first``, prefetch 1000, manual ack, nothing else."""
    import aio_pika

    from shared.messaging.topology import EVENT_LOG

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.declare_queue(EVENT_LOG, passive=True)
        received, done, last = 0, asyncio.Event(), 0.0

        async def on_message(message) -> None:
            nonlocal received, last
            await message.ack()
            received += 1
            if received >= count:
                last = time.perf_counter()
                done.set()

        start = time.perf_counter()
        tag = await queue.consume(on_message, arguments={"x-stream-offset": "first"})
        await asyncio.wait_for(done.wait(), 600)
        await queue.cancel(tag)
    return rate(received, last - start)


def rate(records: int, seconds: float, **extra: Any) -> dict[str, Any]:
    return {"records": records, "seconds": seconds, "per_s": records / seconds if seconds else float("nan")} | extra


async def replay_stream(url: str, consume) -> dict[str, Any]:
    """``read_stream`` from ``first`` until idle, each record passed to ``consume``; timed to the last record."""
    from services.audit.stream import Bound, read_stream

    records, last, busy = 0, 0.0, 0.0
    start = time.perf_counter()
    async for offset, event in read_stream(url, start=Bound(named="first"), idle_seconds=IDLE_SECONDS):
        if consume is not None:
            before = time.perf_counter()
            consume(offset, event)
            busy += time.perf_counter() - before
        records += 1
        last = time.perf_counter()
    stopped = time.perf_counter()
    return rate(records, last - start, idle_tail_seconds=stopped - last, consumer_seconds=busy)


def verify_in_subprocess(directory: Path, ring: Path, trace: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.benchmarks.audit", "--verify-only", str(directory), "--ring", str(ring)]
    if trace:
        command.append("--tracemalloc")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"verify subprocess failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict[str, Any]:
    kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    try:
        version = subprocess.run(["rabbitmqctl", "version"], capture_output=True, text=True, timeout=60).stdout
        version = version.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        version = "?"
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
        "memory_gib": round(kib / 2**20, 1),
        "rabbitmq": version,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from services.audit import archive
    from services.audit.history import History
    from services.audit.schemas import SchemaCheck
    from tests.support.keys import make_keys
    from tests.support.vhost import SessionUsers, provision_vhost, remove_users, remove_vhost

    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    run_id = uuid.uuid4().hex[:8]
    vhost, users = f"visa-bench-audit-{run_id}", SessionUsers.new(f"bench-{run_id}")
    workdir = Path(tempfile.mkdtemp(prefix="visa-bench-audit-"))
    results: dict[str, Any] = {"machine": machine(), "vhost": vhost, "workdir": str(workdir), "args": vars(args)}
    results["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in results["args"].items()}
    console.print(f"vhost {vhost}; keys and archive in {workdir}")
    try:
        access = await provision_vhost(amqp_url, users, vhost)
        files = make_keys(workdir / "keys")
        ring = files.ring()
        auditor = access.urls["auditor"]

        console.print(f"[bold]publish[/]: {args.requests:,} requests as intake, authorization and issuance")
        results["publish"] = p = await publish_all(access, files, args.requests)
        count = p["events"]
        await purge_consumer_queues(access)

        console.print(f"[bold]a[/] bare stream read of {count:,} records (prefetch 1000, manual ack)")
        results["raw_read"] = await raw_read(auditor, count)

        console.print("[bold]b[/] read_stream, every record")
        results["read_stream"] = await replay_stream(auditor, None)

        console.print("[bold]c[/] read_stream → History (signature, schema, invariants)")
        history = History(ring, SchemaCheck.load(), complete=True)
        verify = await replay_stream(auditor, history.feed)
        start = time.perf_counter()
        report = history.finish()
        finish = time.perf_counter() - start
        verify["seconds"] += finish
        verify["per_s"] = verify["records"] / verify["seconds"]
        verify |= {
            "finish_seconds": finish,
            "history_only_per_s": verify["records"] / (verify["consumer_seconds"] + finish),
            "ok": report.ok,
            "report": report.to_dict() | {"violations": report.violations[:5]},
        }
        results["verify_stream"] = verify
        assert report.ok, f"violations: {dict(report.violations_by_invariant)} {report.violations[:3]}"
        assert verify["records"] == count, f"read {verify['records']} of {count}"

        console.print("[bold]d[/] read_stream → ArchiveWriter, then read_archive and archive.replay → History")
        directory = workdir / "archive"
        writer = ArchiveWriterTimer(directory)
        export = await replay_stream(auditor, writer.append)
        start = time.perf_counter()
        writer.close()
        export["seconds"] += time.perf_counter() - start
        export["per_s"] = export["records"] / export["seconds"]
        sizes = [path.stat().st_size for path in directory.iterdir()]
        export |= {"archive_bytes": sum(sizes), "archive_files": len(sizes)}
        results["export"] = export

        start, records = time.perf_counter(), 0
        reader = archive.read_archive(directory)
        for _ in reader:
            records += 1
        results["read_archive"] = rate(records, time.perf_counter() - start, chain_breaks=len(reader.breaks))

        history = History(ring, SchemaCheck.load(), complete=True)
        start = time.perf_counter()
        breaks = archive.replay(directory, history)
        report = history.finish()
        results["verify_archive"] = rate(
            report.events + report.redeliveries, time.perf_counter() - start, ok=report.ok, chain_breaks=len(breaks)
        )
        assert report.ok and not breaks, f"archive: {dict(report.violations_by_invariant)} {breaks[:3]}"
        del history, report

        console.print("[bold]e[/] verify-from-archive in a process of its own: peak RSS")
        memory = verify_in_subprocess(directory, files.ring_path, trace=False)
        memory["bytes_per_event_rss"] = (memory["peak_rss_kib"] - memory["baseline_rss_kib"]) * 1024 / memory["events"]
        if args.tracemalloc:
            console.print("  again under tracemalloc (slower; its own timing is not reported)", style="dim")
            traced = verify_in_subprocess(directory, files.ring_path, trace=True)
            memory |= {
                "tracemalloc_retained_bytes": traced["tracemalloc_retained_bytes"],
                "tracemalloc_peak_bytes": traced["tracemalloc_peak_bytes"],
                "bytes_per_event_retained": traced["tracemalloc_retained_bytes"] / traced["events"],
            }
        results["verify_memory"] = memory
        assert memory["ok"] and memory["chain_breaks"] == 0
    finally:
        if args.keep:
            console.print(f"kept vhost {vhost}, users {users.prefix}*, and {workdir}")
        else:
            remove_vhost(vhost)
            remove_users(users)
            shutil.rmtree(workdir, ignore_errors=True)
    raw = results["raw_read"]["per_s"]
    for name in ("read_stream", "verify_stream", "export", "read_archive", "verify_archive"):
        results[name]["ratio_to_raw"] = results[name]["per_s"] / raw
    results["verify_memory"]["ratio_to_raw"] = (
        results["verify_memory"]["records"] / results["verify_memory"]["seconds"] / raw
    )
    return results


class ArchiveWriterTimer:
    """``ArchiveWriter`` fed by ``read_stream``: append each record, commit (flush) every 10,000."""

    def __init__(self, directory: Path) -> None:
        from services.audit.archive import ArchiveWriter

        self.writer = ArchiveWriter(directory)
        self.appended = 0

    def append(self, offset: int, event: dict) -> None:
        self.writer.append(event, offset)
        self.appended += 1
        if self.appended % 10_000 == 0:
            self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def summarize(results: dict[str, Any]) -> None:
    m, p = results["machine"], results["publish"]
    table = Table(title=f"visa audit benchmark: {p['events']:,} signed events in visa.event-log")
    table.add_column("measure")
    table.add_column("events/s", justify="right")
    table.add_column("× raw", justify="right")
    table.add_column("notes")
    raw = results["raw_read"]

    def row(label: str, figures: dict, notes: str = "") -> None:
        ratio = figures.get("ratio_to_raw", 1.0)
        table.add_row(label, f"{figures['per_s']:,.0f}", f"{ratio:.3f}", notes)

    table.add_row(
        "generate + sign (Story)", f"{p['generate_and_sign_per_s']:,.0f}", "", f"{p['generate_and_sign_seconds']:.1f} s"
    )
    table.add_row(
        "publish, confirms, 3 users",
        f"{p['publish_confirmed_per_s']:,.0f}",
        "",
        f"{p['publish_confirmed_seconds']:.1f} s",
    )
    row("(a) raw stream read", raw, f"{raw['records']:,} records in {raw['seconds']:.2f} s")
    for label, key in (("(b) read_stream", "read_stream"), ("(c) read_stream → History", "verify_stream")):
        f = results[key]
        row(label, f, f"{f['seconds']:.2f} s to last record (idle tail {f['idle_tail_seconds']:.2f} s excluded)")
    v = results["verify_stream"]
    table.add_row("    History alone (CPU)", f"{v['history_only_per_s']:,.0f}", "", "feed() + finish() time only")
    e = results["export"]
    row("(d) read_stream → archive", e, f"{e['archive_bytes'] / 2**20:.0f} MiB, {e['archive_files']} files")
    row("    read_archive (chain check)", results["read_archive"], f"{results['read_archive']['seconds']:.2f} s")
    row("    archive.replay → History", results["verify_archive"], f"{results['verify_archive']['seconds']:.2f} s")
    mem = results["verify_memory"]
    mem_rate = {"per_s": mem["records"] / mem["seconds"], "ratio_to_raw": mem["ratio_to_raw"]}
    notes = (
        f"peak RSS {mem['peak_rss_kib'] / 1024:.0f} MiB (base {mem['baseline_rss_kib'] / 1024:.0f}), "
        f"{mem['bytes_per_event_rss']:,.0f} B/event"
    )
    row("(e) same, own process", mem_rate, notes)
    if "tracemalloc_retained_bytes" in mem:
        table.add_row(
            "    tracemalloc",
            "",
            "",
            f"History keeps {mem['tracemalloc_retained_bytes'] / 2**20:.1f} MiB "
            f"({mem['bytes_per_event_retained']:,.0f} B/event), peak {mem['tracemalloc_peak_bytes'] / 2**20:.1f} MiB",
        )
    console.print(table)
    r = v["report"]
    console.print(
        f"report ok={r['ok']}: {r['events']:,} events, {r['redeliveries']} redeliveries, {r['requests']:,} requests, "
        f"{r['grants']:,} grants, {r['denials']} denials, {r['revocations']} revocations, "
        f"{r['visas_issued']:,} visas issued, {r['visas_cancelled']} cancelled, {r['visas_live']:,} live"
    )
    console.print(
        f"machine: {m['platform']}, Python {m['python']}, nproc {m['nproc']}, {m['memory_gib']} GiB, "
        f"RabbitMQ {m['rabbitmq']}"
    )


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.verify_only:
        print(json.dumps(verify_only(arguments.verify_only, arguments.ring, arguments.tracemalloc)))
        sys.exit(0)
    try:
        results = asyncio.run(main(arguments))
    except KeyboardInterrupt:
        sys.exit("interrupted: vhost and users removed")
    summarize(results)
    console.print(f"written to {write_results(results, 'audit')}")
