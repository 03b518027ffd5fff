"""Each service's own database: an async SQLAlchemy engine, SQLite by default, PostgreSQL in deployment."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import DateTime, MetaData, Table, TypeDecorator, bindparam, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .inline_sqlite import begin_immediate, connector
from .settings import async_database_url

# Every constraint and index gets a name a migration can refer to on both dialects. These are PostgreSQL's own
# default names (and SQLAlchemy's for indexes), so the databases created before the convention keep theirs; a
# check constraint must be named explicitly. PostgreSQL truncates names past 63 characters in its own way:
# keep them shorter (tests/integration/test_migrations.py checks it).
NAMING_CONVENTION = {
    "pk": "%(table_name)s_pkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "ix": "ix_%(column_0_label)s",
    "ck": "%(table_name)s_%(constraint_name)s_check",
}


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


# The execution option of read-only sessions (``Database.sessions``).
READ_ONLY = "visa_read_only"


def _sqlite_begin(connection) -> None:
    # SQLite serializes writers; taking the write lock at BEGIN makes every transaction serializable,
    # so two events about one request can never both act on what they read before the other wrote. A read-only
    # session (``Database.sessions``) begins a deferred transaction: in WAL mode it reads a snapshot and takes
    # no lock at all.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        begin_immediate(connection)


def json_text(value: Any) -> str:
    """A JSON column's value as the text the database stores: what ``json.dumps`` accepts, orjson writes (non-string
    keys as strings, like it), as UTF-8 rather than ASCII escapes."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _alive(dbapi_connection, record, proxy) -> None:
    """A pooled PostgreSQL connection the server or the network has closed is not handed out: the pool discards
    it and opens another. asyncpg knows it without a round trip (it read the end of the socket, or failed on it);
    SQLAlchemy's own ``pool_pre_ping`` would send three (``BEGIN``, a ping, ``ROLLBACK``) on every checkout.
    A connection that dies unannounced fails at its first statement instead: the HTTP layer answers 503, the bus
    retries the event without counting an attempt (``connection_invalidated``), and the pool replaces it."""
    if record.driver_connection.is_closed():
        raise DisconnectionError("the PostgreSQL connection was closed")


async def serialize(session: AsyncSession, key: str) -> None:
    """Serialize the transactions that pass the same ``key`` until they end.

    PostgreSQL takes a transaction-scoped advisory lock; SQLite's transactions are serial already.
    """
    if session.bind.dialect.name == "postgresql":
        await (await session.connection()).execute(_ADVISORY_LOCK, {"key": key})


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


class Database:
    def __init__(self, url: str, *metadata: MetaData, pool_size: int = 20) -> None:
        self.url = async_database_url(url)
        self.metadata = metadata
        parsed = make_url(self.url)
        kwargs: dict = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ":memory:"
            if database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # The file is local: nothing to ping before a checkout, and no thread to hop to (inline_sqlite.py).
            kwargs["async_creator"] = connector(database, uri=bool(parsed.query.get("uri")))
        else:
            # Connections kept for reuse: past ``pool_size`` busy at once, each further one is opened for one checkout
            # and closed at its return (an asyncpg connect and a PostgreSQL backend started each time).
            kwargs["pool_size"] = pool_size
            # The connection returned last is handed out next: its server process ran a moment ago, where the one
            # idle longest (first in, first out) costs more to wake at the BEGIN (docs/performance.md), and the
            # connections a peak opened stay idle at the back of the pool.
            kwargs["pool_use_lifo"] = True
        # JSON columns (a request as submitted, a case's decisions) written and read by orjson, several times faster
        # than the standard library's json, which SQLAlchemy uses otherwise (docs/performance.md).
        kwargs["json_serializer"] = json_text
        kwargs["json_deserializer"] = orjson.loads
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        else:
            event.listen(self.engine.sync_engine, "checkout", _alive)
        # Reads (queries) and writes (``transaction``): on SQLite only a write takes the lock.
        self.sessions = async_sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        self._lookups = (
            None
            if parsed.get_backend_name() == "sqlite"
            else async_sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        )
        self._writes = async_sessionmaker(self.engine, expire_on_commit=False)

    def lookups(self) -> AsyncSession:
        """A session for a read of one statement (an account's key), which needs no transaction around it: on
        PostgreSQL it runs in autocommit, without the ``BEGIN`` and ``ROLLBACK`` round trips; on SQLite it is a read
        session (``sessions``)."""
        return self.sessions() if self._lookups is None else self._lookups()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def create_all(self) -> None:
        """Create the missing tables as the models define them today, nothing else: for tests, a fast schema on
        a fresh database. It never alters a table that exists. Deployments run the migrations instead (``visa db
        upgrade <service>``, ``shared/migrations.py``), and a service refuses to start on a schema behind them."""
        async with self.engine.begin() as conn:
            for metadata in self.metadata:
                await conn.run_sync(metadata.create_all)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._writes() as session, session.begin():
            yield session

    async def insert_all(self, batches: Sequence[tuple[Table, Sequence[dict]]]) -> None:
        """Insert each batch's rows into its table, all or none.

        On PostgreSQL this is one statement, the inserts chained as data-modifying ``WITH`` queries, in autocommit:
        one round trip, where a transaction costs a ``BEGIN``, a statement per table and a ``COMMIT``
        (docs/performance.md). A statement is atomic, and its foreign keys are checked once all its rows are in; its
        rows are inserted in no set order (a serial column numbers them in any order). On SQLite, one transaction
        (its statements do not cross a network). Every row of a batch sets the same columns; a row's
        ``IntegrityError`` is raised as from any insert, and nothing of the others stays.
        """
        batches = [(table, list(rows)) for table, rows in batches if rows]
        if not batches:
            return
        if not self.is_postgres:
            async with self.transaction() as session:
                connection = await session.connection()
                for table, rows in batches:
                    await connection.execute(insert(table), rows[0] if len(rows) == 1 else rows)
            return
        shape = tuple((table, len(rows), tuple(rows[0])) for table, rows in batches)
        parameters = {
            f"b{b}r{r}_{column}": value
            for b, (_, rows) in enumerate(batches)
            for r, row in enumerate(rows)
            for column, value in row.items()
        }
        async with self._lookups() as session:
            await (await session.connection()).execute(_chained_inserts(shape), parameters)

    async def dispose(self) -> None:
        await self.engine.dispose()


@lru_cache(maxsize=64)
def _chained_inserts(shape: tuple[tuple[Table, int, tuple[str, ...]], ...]):
    """The statement of ``Database.insert_all`` for batches of this shape (table, rows, columns): built once, its
    compiled form cached by SQLAlchemy. Each row is an ``INSERT`` of its own (SQLAlchemy caches no multi-row
    ``VALUES``: it would compile the statement on every call); parameter ``b<batch>r<row>_<column>`` is one value."""
    inserts = [
        insert(table).values(
            {column: bindparam(f"b{b}r{r}_{column}", type_=table.c[column].type) for column in columns}
        )
        for b, (table, count, columns) in enumerate(shape)
        for r in range(count)
    ]
    *first, statement = inserts
    for n, earlier in enumerate(first):
        statement = statement.add_cte(earlier.cte(f"insert_{n}"))
    return statement


async def keyset_page(session: AsyncSession, query, key, after: str | None, limit: int) -> tuple[list, str | None]:
    """One page of ``query`` in ``key`` order after the cursor ``after``, and the next page's cursor (None on
    the last page: one row more than ``limit`` is read to know it)."""
    query = query.order_by(key).limit(limit + 1)
    if after is not None:
        query = query.where(key > after)
    rows = list(await session.scalars(query))
    page = rows[:limit]
    return page, getattr(page[-1], key.key) if len(rows) > limit else None
