"""Old rows in each service's ``outbox`` and ``inbox``, for ``pipeline.py --old-rows N``: the per-request cost of
a database that has run for a while, its messaging tables large, measured like that of a fresh one.

Every row is one day old: the outbox's events published (``created_at``, then ``published_at`` a moment
later), the inbox's received, a hundred microseconds apart, the newest a day before now: well inside the services'
retention (``VISA_OUTBOX_RETENTION_DAYS``, ``VISA_INBOX_RETENTION_DAYS``), so none of them goes during a run. The outbox's rows are events of the service's own types with a
CloudEvent of about 1 KiB as their body; the inbox's are events its consumer (``<service>:<queue>``, as
``shared.messaging.bus`` names it) handles. ``seq`` is left to the database, ``claimed_until`` unset.

SQLite: one transaction of ``executemany`` in chunks, each value bound by its column's type in
``shared.messaging.outbox`` (``UTCDateTime``: the timestamps in the text the services store). PostgreSQL: ``COPY``
(asyncpg's ``copy_records_to_table``), then ``VACUUM ANALYZE`` of both tables, as autovacuum would have done to
a database that grew to that size: where it runs, it would otherwise start on them in the middle of a measurement.

``python -m tests.benchmarks.seed --database sqlite|postgresql --rows N`` seeds fresh databases, times it, counts
the rows and drops them: seeding alone, without the services.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import itertools
import multiprocessing
import os
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
from sqlalchemy import Table
from sqlalchemy.dialects import sqlite

from shared.contracts.registry import ROLES, source_of
from shared.messaging.outbox import inbox, outbox

CHUNK = 50_000
PARALLEL = 100_000  # rows per table from which each database is seeded by a process of its own
STEP = dt.timedelta(microseconds=100)  # between two consecutive rows
PUBLISHED_AFTER = dt.timedelta(milliseconds=200)  # the relay's delay between staging and the broker's confirm
OUTBOX_COLUMNS = ("event_id", "event_type", "routing_key", "correlation_id", "body", "created_at", "published_at")
INBOX_COLUMNS = ("consumer", "event_id", "event_type", "received_at")
TABLES = ("outbox", "inbox")

# A CloudEvent as the services stage it (``Envelope.to_json``): about 1 KiB with its data and trace context.
# Its fields, in order: id, source, type, time, subject and request_id (the request), person_id, sponsor_id, the
# passport's number, principal_person_id, correlationid, causationid, then the trace and span ids.
BODY = (
    '{"specversion":"1.0","id":"%s","source":"%s","type":"%s","time":"%s",'
    '"subject":"%s","datacontenttype":"application/json","data":{"request_id":"%s",'
    '"person_id":"%s","post":"LIM","sponsor_id":"%s","country":"SWE","nationality":"SWE",'
    '"passport_type":"diplomatic","passport_number":"S%08d","given_names":"ASTRID INGRID",'
    '"surname":"LINDQVIST BERGSTROM","date_of_birth":"1979-03-14","sex":"F","function":"second secretary",'
    '"arrival":"2025-07-01","visa_type":"diplomatic","duration_days":365,"decision":"granted",'
    '"rule_codes":["R-DIPLOMATIC-PASSPORT","R-RECIPROCITY-SWE"],"findings":[],"relationship":"principal",'
    '"principal_person_id":"%s"},"correlationid":"%s","causationid":"%s",'
    '"traceparent":"00-%s-%s-01"}'
)
SPONSORS = 40  # the sponsors the events are about, few beside the requests


def consumer_name(service: str) -> str:
    """The inbox's consumer of ``service``'s queue, as ``shared.messaging.bus`` names it."""
    return f"{service}:{ROLES[service].consumes.name}"


def _uuids(generator: random.Random) -> Iterator[str]:
    """Version 4 UUIDs as text, from ``generator``'s bytes: a run's rows are the same every time."""
    while True:
        block = generator.randbytes(16 * 4096).hex()
        for i in range(0, len(block), 32):
            h = block[i : i + 32]
            yield f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def outbox_rows(service: str, count: int, newest: dt.datetime) -> Iterator[tuple]:
    """``count`` published events of ``service``'s types, the oldest first, in ``OUTBOX_COLUMNS``'s order."""
    ids = _uuids(random.Random(f"outbox {service} {count}"))
    sponsors = [next(ids) for _ in range(SPONSORS)]
    kinds = [(kind.event_type, kind.routing_key) for kind in ROLES[service].publishes]
    source = source_of(service)
    first = newest - STEP * max(count - 1, 0)
    for i in range(count):
        event_type, routing_key = kinds[i % len(kinds)]
        event_id, request, person, cause = next(ids), next(ids), next(ids), next(ids)
        created = first + STEP * i
        body = BODY % (
            event_id,
            source,
            event_type,
            created.isoformat(),
            request,
            request,
            person,
            sponsors[i % SPONSORS],
            i,
            person,
            request,
            cause,
            cause.replace("-", ""),
            event_id[:8] + event_id[9:13] + event_id[14:18],
        )
        yield (event_id, event_type, routing_key, request, body.encode(), created, created + PUBLISHED_AFTER)


def inbox_rows(service: str, count: int, newest: dt.datetime) -> Iterator[tuple]:
    """``count`` events handled by ``service``'s consumer, the oldest first, in ``INBOX_COLUMNS``'s order."""
    ids = _uuids(random.Random(f"inbox {service} {count}"))
    types = [kind.event_type for kind in ROLES[service].handles]
    consumer = consumer_name(service)
    first = newest - STEP * max(count - 1, 0)
    for i in range(count):
        yield (consumer, next(ids), types[i % len(types)], first + STEP * i)


def _sqlite_rows(rows: Iterator[tuple], table: Table, columns: tuple[str, ...]) -> Iterator[tuple]:
    """``rows`` as the services' engine binds them on SQLite: each value as its column's type adapted to the
    dialect binds it (``UTCDateTime``: in UTC, then SQLAlchemy's text of a SQLite timestamp)."""
    dialect = sqlite.dialect()
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    converting = [(i, process) for i, process in enumerate(processors) if process is not None]
    first = next(rows, None)
    if first is None:
        return
    # The rows' timestamps are UTC already: their text in one call instead of the processor's few, once it is
    # the same text on the first row.
    converting = [(i, _utc_text if process(first[i]) == _utc_text(first[i]) else process) for i, process in converting]
    for row in itertools.chain([first], rows):
        values = list(row)
        for i, process in converting:
            values[i] = process(values[i])
        yield tuple(values)


def _utc_text(value: dt.datetime) -> str:
    return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"


def _insert(table: Table, columns: tuple[str, ...]) -> str:
    return str(table.insert().compile(dialect=sqlite.dialect(), column_keys=list(columns)))


def seed_sqlite(service: str, path: Path, count: int, newest: dt.datetime) -> dict[str, float]:
    """``count`` rows into the outbox and the inbox of the SQLite database at ``path``, in one transaction.

    No service has it open yet: the load goes straight into the file (no journal, no fsync), then the database
    is put back in WAL mode, the services' (``shared.db`` sets it again on each connection anyway)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-524288")  # 512 MiB: the indexes of random ids stay in memory
        connection.execute("BEGIN IMMEDIATE")
        for table, columns, rows in (
            (outbox, OUTBOX_COLUMNS, outbox_rows(service, count, newest)),
            (inbox, INBOX_COLUMNS, inbox_rows(service, count, newest)),
        ):
            statement, converted = _insert(table, columns), _sqlite_rows(rows, table, columns)
            while chunk := list(itertools.islice(converted, CHUNK)):
                connection.executemany(statement, chunk)
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
        counts = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
        return counts | {"database_mib": path.stat().st_size / 2**20}
    finally:
        connection.close()


async def seed_postgresql(service: str, url: str, count: int, newest: dt.datetime) -> dict[str, float]:
    """``count`` rows into the outbox and the inbox of the PostgreSQL database at ``url`` (``postgresql://``),
    by COPY in one transaction; then VACUUM ANALYZE of both."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with connection.transaction():
            rows = outbox_rows(service, count, newest)
            await connection.copy_records_to_table("outbox", records=rows, columns=OUTBOX_COLUMNS)
            rows = inbox_rows(service, count, newest)
            await connection.copy_records_to_table("inbox", records=rows, columns=INBOX_COLUMNS)
        await connection.execute("VACUUM (ANALYZE) outbox, inbox")
        counts = {table: await connection.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}
        size = await connection.fetchval("SELECT pg_database_size(current_database())")
        return counts | {"database_mib": size / 2**20}
    finally:
        await connection.close()


def seed_one(service: str, url: str, count: int, newest: dt.datetime) -> dict[str, float]:
    """``count`` rows into each of ``service``'s tables, at ``url`` (``sqlite:///…`` or ``postgresql://…``)."""
    if url.startswith("sqlite"):
        return seed_sqlite(service, Path(url.split(":///", 1)[1]), count, newest)
    return asyncio.run(seed_postgresql(service, url, count, newest))


async def seed(databases: dict[str, str], count: int) -> dict:
    """``count`` old rows into each service's outbox and inbox (``databases``: service -> its URL, migrated);
    what it took and the rows each table then holds. From ``PARALLEL`` rows on, the databases are seeded at once,
    each by a process of its own: making the rows is Python's work, a core's each; fewer go one after another in
    this process, sooner than a new process has imported the modules."""
    newest = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    started = time.perf_counter()
    if count < PARALLEL:
        rows = {s: await asyncio.to_thread(seed_one, s, url, count, newest) for s, url in databases.items()}
        return {"rows_per_table": count, "seconds": time.perf_counter() - started, "rows": rows}
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")  # not a fork of a process with an event loop and threads
    with context.Pool(len(databases)) as pool:  # its end terminates the workers: also on an error or Ctrl-C
        seeding = {service: loop.create_future() for service in databases}
        for service, url in databases.items():
            done = functools.partial(_settle, loop, seeding[service])
            pool.apply_async(seed_one, (service, url, count, newest), callback=done, error_callback=done)
        rows = dict(zip(seeding, await asyncio.gather(*seeding.values()), strict=True))
    return {"rows_per_table": count, "seconds": time.perf_counter() - started, "rows": rows}


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future, outcome: object) -> None:
    """A worker's result or error onto ``future`` (called in the pool's thread)."""

    def settle() -> None:
        if future.done():  # cancelled meanwhile
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    loop.call_soon_threadsafe(settle)


def describe(seeded: dict) -> str:
    counts = "; ".join(
        f"{service} outbox {rows['outbox']:,}, inbox {rows['inbox']:,} ({rows['database_mib']:,.0f} MiB)"
        for service, rows in seeded["rows"].items()
    )
    return f"{seeded['rows_per_table']:,} old rows per table seeded in {seeded['seconds']:.1f} s ({counts})"


async def _alone(database: str, count: int) -> None:
    from shared.migrations import aupgrade

    postgres_url = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    postgres_url = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    workdir = Path(tempfile.mkdtemp(prefix="visa-seed-"))
    names = {service: f"visa_seed_{uuid.uuid4().hex[:8]}_{service}" for service in ROLES}
    created: list[str] = []
    try:
        if database == "sqlite":
            databases = {service: f"sqlite:///{workdir / service}.db" for service in ROLES}
        else:
            admin = await asyncpg.connect(postgres_url)
            try:
                for name in names.values():
                    await admin.execute(f'CREATE DATABASE "{name}"')
                    created.append(name)
            finally:
                await admin.close()
            databases = {service: postgres_url.rsplit("/", 1)[0] + f"/{name}" for service, name in names.items()}
        for service, url in databases.items():
            await aupgrade(service, url)
        seeded = await seed(databases, count)
        print(describe(seeded))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if created:
            admin = await asyncpg.connect(postgres_url)
            try:
                for name in created:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql", help="the databases")
    parser.add_argument("--rows", type=int, default=1_000_000, help="old rows in each service's outbox and inbox")
    arguments = parser.parse_args()
    asyncio.run(_alone(arguments.database, arguments.rows))
