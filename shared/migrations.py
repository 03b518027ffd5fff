"""Schema migrations: one Alembic history per service, since each owns its database.

Each history is ``services/<service>/migrations/`` (``env.py``, ``versions/``); there is no ``alembic.ini``:
``visa db upgrade|downgrade|current|revision <service>`` (``services/db_cli.py``), ``visa run``, the service's
start-up check and the tests call the functions below. Revisions are numbered ``0001``, ``0002``… in each
history; ``0001`` is the schema as ``Database.create_all`` made it before migrations began.

Every function takes the URLs the settings hold (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``, or the
``sqlite://`` and ``postgresql://`` forms operators write) and runs Alembic on the async driver's connection
(``run_sync``): no other driver. A change runs in one transaction, DDL included (PostgreSQL, and SQLite, whose
transactions ``shared.db`` begins with ``BEGIN IMMEDIATE``): a failed upgrade leaves the database as it was.
On PostgreSQL, concurrent upgrades of one database (replicas starting together) take turns on an advisory
lock. SQLite gets ``render_as_batch``: its ALTER TABLE is limited, so a revision rebuilds the table.

The blocking functions (``upgrade``, ``downgrade``, ``current``) each have an ``a…`` form to await from a
running event loop; ``check`` is awaitable only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.engine import make_url

from .contracts.registry import SERVICES
from .db import Database, UTCDateTime
from .messaging import messaging_metadata

# Alembic logs at INFO as it loads and each time it looks at a database (every service start-up): not for the
# service's log, so set before it is imported. `visa db` shows the migration steps itself.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.migration import MigrationContext  # noqa: E402
from alembic.operations import Operations  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

FIRST = "0001"
_LOCK = "visa schema migrations"

T = TypeVar("T")


class SchemaError(RuntimeError):
    """The database's schema is not the one this code runs on."""


@dataclass(eq=False)
class SchemaBehind(SchemaError):
    """The database is at an older revision than the code's head, or at none: the service must not start."""

    service: str
    database: str
    current: str | None
    head: str

    def __post_init__(self) -> None:
        super().__init__(str(self))

    @property
    def command(self) -> str:
        return f"visa db upgrade {self.service}"

    def __str__(self) -> str:
        where = (
            f"is at revision {self.current}, behind"
            if self.current
            else "has no schema revision (a new database, or one made before migrations), behind"
        )
        return f"{self.service}'s database {self.database} {where} this code's {self.head}: run `{self.command}`"


@dataclass(eq=False)
class SchemaUnknown(SchemaError):
    """The database is at a revision this code's history does not hold: a newer release migrated it."""

    service: str
    database: str
    current: str
    head: str

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"{self.service}'s database {self.database} is at revision {self.current}, which this code does not "
            f"know (its head is {self.head}): a newer release migrated it; run that release, or downgrade the "
            f"database with it (`visa db downgrade {self.service} --revision {self.head}`)"
        )


class SchemaMismatch(SchemaError):
    """A database made before migrations whose tables are not revision 0001's: it is left as it was."""


def safe_url(url: str) -> str:
    """``url`` without its password, to name a database in messages and logs."""
    return make_url(url)._replace(password=None).render_as_string(hide_password=False)  # set() keeps a None


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise ValueError(f"no service {service!r}: one of {', '.join(SERVICES)}")


def location(service: str) -> Path:
    """``services/<service>/migrations``, wherever the package is installed."""
    _check_service(service)
    return Path(importlib.import_module(f"services.{service}").__file__).parent / "migrations"


def alembic_config(service: str, connection: Connection | None = None) -> Config:
    """Alembic's configuration of ``service``'s history, and the connection its ``env.py`` runs on."""
    config = Config()
    config.set_main_option("script_location", str(location(service)).replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("truncate_slug_length", "60")
    config.attributes["service"] = service
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def scripts(service: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(service))


def head(service: str) -> str:
    """The revision this code runs on."""
    return scripts(service).get_current_head()


def target_metadata(service: str) -> list[MetaData]:
    """What the service's code expects: its models' tables, the outbox and the inbox."""
    _check_service(service)
    models = importlib.import_module(f"services.{service}.models")
    return [models.Base.metadata, messaging_metadata]


def first_schema(service: str) -> MetaData:
    """Revision 0001's tables (its ``tables()``): what a database made before migrations must hold."""
    metadata = MetaData()
    scripts(service).get_revision(FIRST).module.tables(metadata)
    return metadata


def _render_item(type_: str, obj: Any, _context) -> str | bool:
    # A new revision names the column type the database has, not the application's decorator.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def context_options(service: str) -> dict[str, Any]:
    """How Alembic compares and renders ``service``'s schema (``env.py``, autogenerate and the tests)."""
    return {
        "target_metadata": target_metadata(service),
        "render_as_batch": True,
        "compare_type": True,
        "render_item": _render_item,
    }


def run_environment(service: str) -> None:
    """The body of ``services/<service>/migrations/env.py``: run the migrations Alembic selected on the
    connection this module handed it."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError(
            f"{service}'s migrations run through `visa db upgrade|downgrade {service}` (shared/migrations.py), "
            "on a database connection; not from alembic's own command line or as SQL"
        )
    context.configure(connection=connection, **context_options(service))
    with context.begin_transaction():
        context.run_migrations()


# --- running on a database -------------------------------------------------------------------------------


async def on_database(url: str, work: Callable[[Connection], T]) -> T:
    """``work(connection)`` on ``url``'s database, in one transaction that commits when it returns."""
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await db.dispose()


def _blocking(awaitable: Callable[[], Awaitable[T]]) -> T:
    """Run ``awaitable()`` to its end, also from a thread whose event loop is running (in a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(awaitable())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(awaitable())).result()


def _lock(connection: Connection) -> None:
    # Held until the transaction ends. SQLite's BEGIN IMMEDIATE serializes writers already.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": _LOCK})


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, service: str, revision: str) -> str | None:
    _lock(connection)
    if _revision(connection) is None and _service_tables(connection, service):
        _adopt(connection, service)
    command.upgrade(alembic_config(service, connection), revision)
    return _revision(connection)


def _downgrade(connection: Connection, service: str, revision: str) -> str | None:
    _lock(connection)
    command.downgrade(alembic_config(service, connection), revision)
    return _revision(connection)


async def aupgrade(service: str, url: str, revision: str = "head") -> str | None:
    """Upgrade ``service``'s database at ``url`` to ``revision``; returns the revision it is at then.

    A database made before migrations (some of the service's tables are there, ``alembic_version`` is not) is
    adopted first, in the same transaction. When its tables are revision 0001's (``first_schema``: what the
    releases before migrations made), it is stamped 0001, then upgraded; when they are the head's (what
    ``Database.create_all`` makes from today's models), it is stamped at the head. Either way, tables it lacks
    entirely are created first (as the services' start-up used to), and on SQLite each table it has is rebuilt
    with its rows so that its constraints carry their names. Otherwise nothing changes and ``SchemaMismatch``
    lists how the tables differ from 0001's (a column, index or constraint missing, extra or of another type).
    Databases made by releases older than 0001's schema lack ``applicants.decision`` (intake, added by
    9b43db3) or ``cases.visas`` (authorization, 06c3784): creating missing tables never added columns. Bring
    such tables to 0001 by hand (``services/<service>/migrations/versions/0001_initial_schema.py``; a
    ``cases.visas`` of ``{}`` is what the code writes for a case with no visa yet), then upgrade again.
    """
    return await on_database(url, lambda connection: _upgrade(connection, service, revision))


async def adowngrade(service: str, url: str, revision: str) -> str | None:
    """Downgrade ``service``'s database at ``url`` to ``revision`` (``base``: no tables); returns where it is."""
    return await on_database(url, lambda connection: _downgrade(connection, service, revision))


async def acurrent(service: str, url: str) -> str | None:
    """The revision of ``service``'s database at ``url`` (None: no revision, a new or pre-migration database)."""
    _check_service(service)
    return await on_database(url, _revision)


def upgrade(service: str, url: str, revision: str = "head") -> str | None:
    """Blocking ``aupgrade``."""
    return _blocking(lambda: aupgrade(service, url, revision))


def downgrade(service: str, url: str, revision: str) -> str | None:
    """Blocking ``adowngrade``."""
    return _blocking(lambda: adowngrade(service, url, revision))


def current(service: str, url: str) -> str | None:
    """Blocking ``acurrent``."""
    return _blocking(lambda: acurrent(service, url))


async def check(database: Database | str, service: str) -> str:
    """Return the database's revision when it is this code's head; otherwise raise ``SchemaBehind`` (older, or
    none: `visa db upgrade <service>` fixes it) or ``SchemaUnknown`` (a revision of a newer release)."""
    expected = head(service)
    if isinstance(database, Database):
        async with database.engine.connect() as connection:
            found = await connection.run_sync(_revision)
        url = database.url
    else:
        found, url = await acurrent(service, database), database
    if found == expected:
        return found
    if found is None or found in {script.revision for script in scripts(service).walk_revisions()}:
        raise SchemaBehind(service, safe_url(url), found, expected)
    raise SchemaUnknown(service, safe_url(url), found, expected)


def revision(service: str, message: str, *, autogenerate: bool = True, url: str | None = None) -> Path:
    """Write the next revision of ``service``'s history (``NNNN_<message>.py``) and return its path.

    With ``autogenerate``, its operations are what the models differ by from the head schema, built for the
    occasion in a scratch SQLite database (or from ``url``'s, which must be at head): review them, and check
    them on PostgreSQL (tests/integration/test_migrations.py compares both dialects with the models).
    """
    number = f"{int(head(service)) + 1:04d}"

    def write(connection: Connection | None) -> Path:
        config = alembic_config(service, connection)
        script = command.revision(config, message=message, autogenerate=autogenerate, rev_id=number)
        return Path(script.path)

    if not autogenerate:
        return write(None)
    if url is not None:
        return _blocking(lambda: on_database(url, write))
    with tempfile.TemporaryDirectory(prefix="visa-revision-") as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/{service}.db"
        upgrade(service, url)
        return _blocking(lambda: on_database(url, write))


# --- adopting a database made before migrations ----------------------------------------------------------


def _service_tables(connection: Connection, service: str) -> set[str]:
    """The tables of revision 0001 or of the head that the database holds."""
    ours = set(first_schema(service).tables) | {
        name for metadata in target_metadata(service) for name in metadata.tables
    }
    return set(inspect(connection).get_table_names()) & ours


def _adopt(connection: Connection, service: str) -> None:
    existing = _service_tables(connection, service)
    candidates = ((FIRST, [first_schema(service)]), (head(service), target_metadata(service)))
    found: dict[str, list[str]] = {}
    for revision, schema in candidates:
        found[revision] = _differences(connection, schema)
        if not found[revision]:
            tables = [table for metadata in schema for table in metadata.sorted_tables]
            break
    else:
        raise SchemaMismatch(
            f"{service}'s database {safe_url(connection.engine.url.render_as_string(hide_password=False))} "
            f"was made before migrations and its tables are not revision {FIRST}'s, so it was left as it was:\n"
            + "\n".join(f"  - {problem}" for problem in found[FIRST])
            + f"\nBring them to revision {FIRST} (services/{service}/migrations/versions/{FIRST}_initial_schema.py),"
            f" then run `visa db upgrade {service}` again."
        )
    if connection.dialect.name == "sqlite":
        operations = Operations(MigrationContext.configure(connection))
        for table in tables:
            if table.name in existing:
                # Copies the rows into a table made from the revision's definition (its constraint names), then
                # swaps it in; the old table's indexes go with it, so the revision's are made again.
                with operations.batch_alter_table(table.name, recreate="always", copy_from=table):
                    pass
                for index in table.indexes:
                    index.create(connection, checkfirst=True)
    for table in tables:
        if table.name not in existing:
            table.create(connection)
    command.stamp(alembic_config(service, connection), revision)


def _differences(connection: Connection, schema: list[MetaData]) -> list[str]:
    """How the database's tables differ from ``schema``'s, in words; a table it lacks entirely is no difference
    (it is created), nor is a table ``schema`` does not know, nor a constraint SQLite holds unnamed."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    reflected = inspect(connection)
    known = {name for metadata in schema for name in metadata.tables}
    present = set(reflected.get_table_names())
    problems = []
    for difference in compare_metadata(context, schema):
        kind = difference[0] if isinstance(difference, tuple) else difference[0][0]
        if kind == "add_table" or (kind == "remove_table" and difference[1].name not in known):
            continue
        if kind == "add_index" and difference[1].table.name not in present:
            continue  # made with its table
        if kind == "add_constraint" and _unnamed_on_sqlite(connection, reflected, difference[1]):
            continue
        problems.append(_describe(difference))
    return problems


def _unnamed_on_sqlite(connection: Connection, reflected, constraint) -> bool:
    """True when SQLite holds ``constraint`` (a unique constraint 0001 names) without a name."""
    if connection.dialect.name != "sqlite" or constraint.__visit_name__ != "unique_constraint":
        return False
    columns = [column.name for column in constraint.columns]
    return any(
        unique["name"] is None and unique["column_names"] == columns
        for unique in reflected.get_unique_constraints(constraint.table.name)
    )


def _describe(difference) -> str:
    """One difference ``compare_metadata`` found, in words: the database's side first, then 0001's."""
    if isinstance(difference, list):  # modifications of one column, e.g. [("modify_type", …)]
        return "; ".join(_describe(item) for item in difference)
    kind = difference[0]
    if kind.startswith("modify_"):
        _, _, table, column, _, existing, wanted = difference
        return f"{table}.{column}: {kind.removeprefix('modify_')} is {existing!s}, revision {FIRST} has {wanted!s}"
    if kind in ("add_column", "remove_column"):
        table, column = difference[2], difference[3]
        return f"column {table}.{column.name} " + ("missing" if kind == "add_column" else f"not in revision {FIRST}")
    subject = difference[1]
    name = getattr(subject, "name", None) or "(unnamed)"
    table = getattr(getattr(subject, "table", None), "name", None) or getattr(subject, "parent", None)
    what = kind.split("_", 1)[1]
    where = f" on {table}" if table is not None else ""
    return f"{what} {name}{where} " + ("missing" if kind.startswith("add_") else f"not in revision {FIRST}")
