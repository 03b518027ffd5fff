"""SQLite on the event loop's own thread, behind SQLAlchemy's ``sqlite+aiosqlite`` dialect.

aiosqlite runs each connection in a thread of its own and crosses to it for every call: a cursor, an
``execute``, a ``fetchall``, a ``close``, a ``commit`` — three to four crossings a statement, each waking a
thread and handing the GIL over (docs/performance.md: 15–22 % of a service's CPU on SQLite). A local SQLite
statement of this system takes microseconds, less than the crossing itself. So the connections here are plain
``sqlite3`` connections whose awaitable methods run the call at once and return: SQLAlchemy's aiosqlite dialect
(its SQL, its types, its pool) is kept, only the connection object it is given differs (``async_creator``).

What a thread made harmless, the loop must not do: wait. SQLite makes a connection wait for another's write lock
(``busy_timeout``); on the loop that would stall every coroutine, the lock's holder included. So the connections
here do not wait in SQLite (``busy_timeout`` 0 once set up): a transaction's ``BEGIN IMMEDIATE`` that finds the
lock taken awaits and tries again (``begin_immediate``), which lets the holder finish. In WAL mode no other
statement of this system waits for a lock: readers never do, and writers hold the lock from their ``BEGIN``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.util.concurrency import await_, in_greenlet

LOCK_WAIT_SECONDS = 10.0  # as long as the busy_timeout the threaded driver was given


class _Cursor:
    """aiosqlite's cursor interface over a ``sqlite3`` cursor, each call run at once."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict = ()) -> _Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict]) -> _Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _AtOnce:
    """Stands in for aiosqlite's queue to its thread, which SQLAlchemy's adapter uses to set the isolation level:
    the function runs now."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to the awaiting adapter, as the thread would
            future.set_exception(error)


class InlineConnection:
    """aiosqlite's connection interface over a ``sqlite3`` connection, each call run at once on the caller's
    thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection  # SQLAlchemy's adapter checks it is open
        self._tx = _AtOnce()

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


def connector(database: str, *, uri: bool = False) -> Callable[[], Any]:
    """The ``async_creator`` of an engine on ``database``: a connection set up as ``shared/db.py`` wants it (no
    implicit transactions, WAL, ``synchronous=NORMAL``), which then never waits for a lock in SQLite."""

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(database, uri=uri, isolation_level=None, check_same_thread=False)
        # Setting WAL up waits like the threaded driver did (once per connection, at its start); nothing after.
        connection.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_SECONDS * 1000)}")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=0")
        return InlineConnection(connection)

    return connect


def begin_immediate(connection) -> None:
    """``BEGIN IMMEDIATE`` on a SQLAlchemy connection; while another connection holds the write lock, wait for it
    without blocking the event loop (an inline connection's SQLite does not wait)."""
    deadline, pause = time.monotonic() + LOCK_WAIT_SECONDS, 0.0005
    while True:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as error:
            if not _locked(error) or time.monotonic() > deadline:
                raise
        if in_greenlet():
            await_(asyncio.sleep(pause))  # the loop runs on, the lock's holder with it
        else:
            time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _locked(error: OperationalError) -> bool:
    orig = error.orig
    return isinstance(orig, sqlite3.OperationalError) and (
        getattr(orig, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(orig)
    )
