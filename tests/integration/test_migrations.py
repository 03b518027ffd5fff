"""Schema migrations (``shared/migrations.py``): each service's Alembic history, on SQLite and on PostgreSQL.

Rows written at revision 0001 reach the head intact; down to base and up again; the head's schema is the
models' (Alembic's own comparison finds nothing); a database behind is refused with the command that fixes
it, by ``check``, by a service's start-up and by ``visa serve``; databases made before migrations are
adopted, or refused and left as they were. Each PostgreSQL database is the test's own (``postgres_database``:
created, then dropped); PostgreSQL missing fails these tests, it never skips them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from services.authorization.settings import AuthorizationSettings
from services.intake.settings import IntakeSettings
from services.issuance.settings import IssuanceSettings
from shared import migrations
from shared.db import Database
from shared.messaging.outbox import outbox
from shared.migrations import (
    FIRST,
    SERVICES,
    SchemaBehind,
    SchemaMismatch,
    SchemaUnknown,
    check,
    on_database,
    safe_url,
)

ROOT = Path(__file__).resolve().parents[2]
DIALECTS = ("sqlite", "postgresql")
# Each history's revisions, newest first: its head, then down to 0001.
HISTORIES = {
    "intake": ["0005", "0004", "0003", "0002", FIRST],
    "authorization": ["0006", "0005", "0004", "0003", "0002", FIRST],
    "issuance": ["0005", "0004", "0003", "0002", FIRST],
}
HEADS = {service: history[0] for service, history in HISTORIES.items()}
HEAD = HEADS["intake"]  # of the tests about intake alone
SETTINGS = {"intake": IntakeSettings, "authorization": AuthorizationSettings, "issuance": IssuanceSettings}


@pytest.fixture
def dialect() -> str:
    """The database kind of a test that does not say (parametrized tests do)."""
    return "postgresql"


on = on_database  # ``work(connection)`` on ``url``'s database (a sync connection), committed


# --- realistic rows, one or more in every table of revision 0001 ----------------------------------------

T0 = dt.datetime(2026, 11, 20, 14, 5, 33, 123456, tzinfo=dt.UTC)
MRZ = [
    "VDPERERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "D1234567<0SWE7408122F3001141<<<<<<<<<<<<<<<0",
]


def ids(*labels: str) -> dict[str, str]:
    return {label: str(uuid.uuid4()) for label in labels}


def key_hash(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def messaging_rows(consumer: str, event_type: str, routing_key: str, correlation: str) -> dict[str, list[dict]]:
    body = json.dumps({"specversion": "1.0", "type": event_type, "data": {"name": "Contraloría"}}).encode()
    return {
        "outbox": [
            {
                "seq": 1,
                "event_id": str(uuid.uuid4()),
                "event_type": event_type,
                "routing_key": routing_key,
                "correlation_id": correlation,
                "body": body,
                "created_at": T0,
                "published_at": T0 + dt.timedelta(milliseconds=40),
            },
            {
                "seq": 2,
                "event_id": str(uuid.uuid4()),
                "event_type": event_type,
                "routing_key": routing_key,
                "correlation_id": correlation,
                "body": body + b"\x00\xff",
                "created_at": T0 + dt.timedelta(seconds=1),
                "published_at": None,  # the backlog
            },
        ],
        "inbox": [
            {
                "consumer": consumer,
                "event_id": str(uuid.uuid4()),
                "event_type": "pe.gob.rree.visa.authorization.granted.v1",
                "received_at": T0,
            }
        ],
    }


def holder(id: str, name: str, **fields) -> dict:
    return {"id": id, "name": name, "key_hash": key_hash(id), "created_at": T0, **fields}


def rows_of(service: str) -> dict[str, list[dict]]:
    """Rows as each service writes them, for every table of its revision 0001."""
    i = ids(
        "sponsor", "auditor", "officer", "verifier", "request", "other", "third", "principal", "spouse", "authorization"
    )
    submission = {
        "request_id": i["request"],
        "sponsor": {"id": i["sponsor"], "kind": "government", "name": "Embassy of Sweden", "country": "SWE"},
        "immigration_status": "DIPLOMATIC_RESIDENT",
        "principal": {"surnames": "ERIKSSON", "given_names": "ANNA MARIA"},
    }
    if service == "intake":
        return {
            "sponsors": [holder(i["sponsor"], "Embassy of Sweden", kind="government", country="SWE")],
            "auditors": [holder(i["auditor"], "Contraloría General")],
            "requests": [
                {
                    "id": i["request"],
                    "sponsor_id": i["sponsor"],
                    "idempotency_key": "nv-123-2026",
                    "fingerprint": key_hash("request"),
                    "immigration_status": "DIPLOMATIC_RESIDENT",
                    "status": "ISSUED",
                    "submitted": submission,
                    "submitted_at": T0,
                    "updated_at": T0 + dt.timedelta(minutes=3),
                },
                {
                    "id": i["other"],
                    "sponsor_id": i["sponsor"],
                    "idempotency_key": None,
                    "fingerprint": key_hash("other"),
                    "immigration_status": "OFFICIAL_TEMPORARY",
                    "status": "SUBMITTED",
                    "submitted": {"request_id": i["other"]},
                    "submitted_at": T0,
                    "updated_at": T0,
                },
            ],
            "applicants": [
                {
                    "person_id": i["principal"],
                    "request_id": i["request"],
                    "position": 0,
                    "role": "PRINCIPAL",
                    "relationship": None,
                    "surnames": "ERIKSSON",
                    "given_names": "ANNA MARIA",
                    "status": "ISSUED",
                    "decision": "GRANTED",
                    "reasons": [],
                    "visa_number": "PE0000001",
                    "visa_valid_from": dt.date(2026, 11, 20),
                    "visa_valid_until": dt.date(2030, 1, 14),
                    "visa_mrz": MRZ,
                },
                {
                    "person_id": i["spouse"],
                    "request_id": i["request"],
                    "position": 1,
                    "role": "FAMILY",
                    "relationship": "SPOUSE",
                    "surnames": "ERIKSSON",
                    "given_names": "LARS",
                    "status": "DENIED",
                    "decision": "DENIED",
                    "reasons": ["passport-expired"],
                    "visa_number": None,
                    "visa_valid_from": None,
                    "visa_valid_until": None,
                    "visa_mrz": None,
                },
            ],
            **messaging_rows(
                "intake.request-status",
                "pe.gob.rree.visa.request.submitted.v1",
                "visa.request.submitted",
                i["request"],
            ),
        }
    if service == "authorization":
        return {
            "officers": [holder(i["officer"], "Rosa Quispe")],
            "cases": [
                {
                    "request_id": i["request"],
                    "authorization_id": i["authorization"],
                    "state": "GRANTED",
                    "submission": submission,
                    "violations": {i["spouse"]: ["passport-expired"]},
                    "opened_at": T0,
                    "decided_by": i["officer"],
                    "decided_at": T0 + dt.timedelta(hours=2),
                    "decisions": [{"person_id": i["principal"], "decision": "GRANTED", "reasons": []}],
                    "visas": {i["principal"]: "PE0000001"},
                    "revoked_at": None,
                    "revocation_reason": None,
                },
                {
                    "request_id": i["other"],
                    "authorization_id": str(uuid.uuid4()),
                    "state": "PENDING",
                    "submission": {"request_id": i["other"]},
                    "violations": {},
                    "opened_at": T0,
                    "decided_by": None,
                    "decided_at": None,
                    "decisions": None,
                    "visas": {},
                    "revoked_at": None,
                    "revocation_reason": None,
                },
                {
                    "request_id": i["third"],
                    "authorization_id": str(uuid.uuid4()),
                    "state": "REVOKED",
                    "submission": {
                        "request_id": i["third"],
                        "sponsor": {"id": i["other"], "kind": "international_organization"},
                        "immigration_status": "OFFICIAL_RESIDENT",
                    },
                    "violations": {},
                    "opened_at": T0,
                    "decided_by": "policy",
                    "decided_at": T0 + dt.timedelta(seconds=1),
                    "decisions": [],
                    "visas": {},
                    "revoked_at": T0 + dt.timedelta(days=3),
                    "revocation_reason": "end of mission",
                },
            ],
            **messaging_rows(
                "authorization.cases",
                "pe.gob.rree.visa.authorization.granted.v1",
                "visa.authorization.granted",
                i["request"],
            ),
        }
    return {
        "visas": [
            {
                "seq": 1,
                "number": "PE0000001",
                "request_id": i["request"],
                "authorization_id": i["authorization"],
                "person_id": i["principal"],
                "surnames": "ERIKSSON",
                "given_names": "ANNA MARIA",
                "nationality": "SWE",
                "passport_number": "D1234567",
                "immigration_status": "DIPLOMATIC_RESIDENT",
                "valid_from": dt.date(2026, 11, 20),
                "valid_until": dt.date(2030, 1, 14),
                "mrz_line1": MRZ[0],
                "mrz_line2": MRZ[1],
                "issued_at": T0,
                "cancelled_at": T0 + dt.timedelta(days=30),
                "cancellation_reason": "end of mission",
                "revocation_id": str(uuid.uuid4()),
            }
        ],
        "verifiers": [holder(i["verifier"], "Jorge Chávez airport")],
        "auditors": [holder(i["auditor"], "Contraloría General")],
        "revocations": [
            {
                "event_id": str(uuid.uuid4()),
                "authorization_id": i["authorization"],
                "person_ids": [i["principal"]],
                "visa_numbers": ["PE0000001"],
                "reason": "end of mission",
                "received_at": T0,
            }
        ],
        **messaging_rows("issuance.authorizations", "pe.gob.rree.visa.issued.v1", "visa.issued", i["request"]),
    }


def normal(value):
    # SQLite keeps no zone: 0001's DateTime(timezone=True) reads back the UTC wall time it stored.
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def write(schema: sa.MetaData, rows: dict[str, list[dict]]):
    def work(connection: sa.Connection) -> None:
        for table in schema.sorted_tables:
            if rows.get(table.name):
                connection.execute(table.insert(), rows[table.name])

    return work


def read(schema: sa.MetaData, names):
    def work(connection: sa.Connection) -> dict[str, list[dict]]:
        found = {}
        for name in names:
            table = schema.tables[name]
            result = connection.execute(sa.select(table).order_by(*table.primary_key.columns))
            found[name] = [{key: normal(value) for key, value in row._mapping.items()} for row in result]
        return found

    return work


def in_key_order(schema: sa.MetaData, rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    def key(table):
        return lambda row: tuple(row[column.name] for column in table.primary_key.columns)

    return {name: sorted(table_rows, key=key(schema.tables[name])) for name, table_rows in rows.items()}


def differences(service: str, schema=None):
    """What Alembic's autogenerate would write to bring the database to ``schema`` (default: the models)."""

    def work(connection: sa.Connection) -> list:
        context = MigrationContext.configure(connection, opts=migrations.context_options(service))
        return compare_metadata(context, schema if schema is not None else migrations.target_metadata(service))

    return work


def named(difference) -> tuple[str, str]:
    """One difference ``compare_metadata`` found: its kind, and the column (``table.column``) or index it is about."""
    kind = difference[0]
    if kind in ("add_column", "remove_column"):
        return kind, f"{difference[2]}.{difference[3].name}"
    return kind, difference[1].name


# Every service's outbox claims and the outbox's and inbox's retention indexes (intake and issuance 0005,
# authorization 0006).
CLAIMS_AND_RETENTION = {
    ("add_column", "outbox.claimed_until"),
    ("add_index", "ix_outbox_created_at"),
    ("add_index", "ix_inbox_received_at"),
}

# What the models hold beyond revision 0002, by service.
AFTER_0002 = {
    "intake": {
        ("add_column", "applicants.waiver"),  # 0003: the treaty that makes a visa unnecessary
        ("add_column", "applicants.renews_visa"),  # 0004: the visa a renewal renews
        ("add_index", "ix_applicants_renews_visa"),
        *CLAIMS_AND_RETENTION,
    },
    "authorization": {  # 0003: officers' case assignment, the case list's filters, who revoked
        *(("add_column", f"cases.{column}") for column in ("revoked_by", "sponsor_id", "immigration_status")),
        *(("add_column", f"cases.{column}") for column in ("assigned_to", "assigned_at")),
        ("add_index", "ix_cases_sponsor_id"),
        ("add_index", "ix_cases_assigned_to"),
        ("add_column", "cases.revocations"),  # 0004: each revocation, whole or per person
        ("add_column", "cases.post"),  # 0005: the consular post that issues the case's visas
        *CLAIMS_AND_RETENTION,
    },
    "issuance": {  # 0003: a renewal's visa supersedes the old one; 0004: consular staff, who print stickers
        ("add_column", "visas.superseded_at"),
        ("add_column", "visas.superseded_by"),
        ("add_table", "consular_staff"),
        *CLAIMS_AND_RETENTION,
    },
}


def tables(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def made_before_migrations(service: str, without: tuple[str, ...] = ()) -> sa.MetaData:
    """Revision 0001's tables as ``Database.create_all`` made them before migrations: no name on any constraint
    (the database names them; SQLite not at all), the indexes named ``ix_<table>_<column>``."""
    old = sa.MetaData()
    for table in migrations.first_schema(service).sorted_tables:
        if table.name not in without:
            for constraint in table.to_metadata(old).constraints:
                constraint.name = None
    return old


# --- the history ---------------------------------------------------------------------------------------


def test_every_service_has_its_own_history():
    for service in SERVICES:
        assert migrations.head(service) == HEADS[service]
        assert [script.revision for script in migrations.scripts(service).walk_revisions()] == HISTORIES[service]
        # Every table of 0001 gets rows below; and each name the convention gives is one PostgreSQL keeps whole.
        assert set(rows_of(service)) == set(migrations.first_schema(service).tables)
        for metadata in migrations.target_metadata(service):
            for table in metadata.tables.values():
                for item in [*table.constraints, *table.indexes]:
                    assert item.name and len(item.name) <= 63, (table.name, item.name)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("service", SERVICES)
async def test_rows_written_at_0001_are_intact_at_the_head(service, dialect, new_database):
    url = await new_database(service)
    first = migrations.first_schema(service)
    rows = rows_of(service)
    assert await migrations.aupgrade(service, url, FIRST) == FIRST
    await on(url, write(first, rows))

    assert await migrations.aupgrade(service, url) == HEADS[service]

    assert await on(url, read(first, rows)) == in_key_order(first, rows)
    # The relay's query on the head's schema finds the backlog, oldest first.
    backlog = sa.select(outbox.c.event_id).where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq)
    unpublished = await on(url, lambda connection: list(connection.scalars(backlog)))
    assert unpublished == [row["event_id"] for row in rows["outbox"] if row["published_at"] is None]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("service", SERVICES)
async def test_the_head_schema_is_the_models(service, dialect, new_database):
    url = await new_database(service)
    await migrations.aupgrade(service, url)
    assert await on(url, differences(service)) == []


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("service", SERVICES)
async def test_down_to_base_and_up_again(service, dialect, new_database):
    url = await new_database(service)
    await migrations.aupgrade(service, url)

    assert await migrations.adowngrade(service, url, FIRST) == FIRST
    assert await on(url, differences(service, migrations.first_schema(service))) == []  # 0001 exactly, again
    drift = {named(difference) for difference in await on(url, differences(service))}
    outbox_index = {("add_index", "ix_outbox_unpublished"), ("remove_index", "ix_outbox_published_at")}  # 0002
    assert drift == outbox_index | AFTER_0002.get(service, set())

    assert await migrations.adowngrade(service, url, "base") is None
    assert await on(url, tables) <= {"alembic_version"}

    assert await migrations.aupgrade(service, url) == HEADS[service]
    assert await on(url, differences(service)) == []


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_cases_written_at_0001_get_their_sponsor_status_and_holder_at_0003(dialect, new_database):
    """0003 fills the filters' columns from each submission, and gives a case an officer decided to that officer
    since the decision (as deciding does from then on); down to 0002, the cases are 0001's rows again."""
    url = await new_database("authorization")
    first = migrations.first_schema("authorization")
    rows = rows_of("authorization")
    await migrations.aupgrade("authorization", url, FIRST)
    await on(url, write(first, rows))

    assert await migrations.aupgrade("authorization", url) == HEADS["authorization"]

    head = migrations.target_metadata("authorization")[0]
    [at_head] = (await on(url, read(head, ["cases"]))).values()
    found = {
        row["request_id"]: (row["sponsor_id"], row["immigration_status"], row["assigned_to"], row["assigned_at"])
        for row in at_head
    }
    granted, pending, revoked = rows["cases"]
    sponsor_id = granted["submission"]["sponsor"]["id"]
    assert found == {
        granted["request_id"]: (sponsor_id, "DIPLOMATIC_RESIDENT", granted["decided_by"], granted["decided_at"]),
        pending["request_id"]: (None, None, None, None),  # a submission without them: nothing to copy
        revoked["request_id"]: (revoked["submission"]["sponsor"]["id"], "OFFICIAL_RESIDENT", None, None),  # policy
    }
    assert {row["revoked_by"] for row in at_head} == {None}  # an earlier revocation's officer is in its event only

    assert await migrations.adowngrade("authorization", url, "0002") == "0002"
    assert await on(url, read(first, rows)) == in_key_order(first, rows)
    assert {named(difference) for difference in await on(url, differences("authorization"))} == AFTER_0002[
        "authorization"
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_the_backlog_is_read_through_its_index(dialect, new_database):
    url = await new_database("intake")
    await migrations.aupgrade("intake", url)
    unpublished = outbox.c.published_at.is_(None)
    relay = sa.select(outbox).where(unpublished).order_by(outbox.c.seq).limit(200)  # relay.py
    if dialect == "postgresql":
        relay = relay.with_for_update(skip_locked=True)
    backlog = sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(unpublished)  # outbox.backlog

    def plan(query):
        def work(connection: sa.Connection) -> str:
            sql = query.compile(connection, compile_kwargs={"literal_binds": True})
            if dialect == "postgresql":
                connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # an empty table would be scanned
                return "\n".join(connection.exec_driver_sql(f"EXPLAIN {sql}").scalars())
            return "\n".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))

        return work

    relay_plan, backlog_plan = await on(url, plan(relay)), await on(url, plan(backlog))
    assert "ix_outbox_unpublished" in relay_plan and "Sort" not in relay_plan, relay_plan  # in seq order: no sort
    assert "ix_outbox_unpublished" in backlog_plan, backlog_plan  # the backlog's rows only


# --- refusing a schema behind ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("service", SERVICES)
async def test_check_refuses_a_schema_behind_and_passes_at_the_head(service, dialect, new_database):
    url = await new_database(service)
    with pytest.raises(SchemaBehind) as empty:
        await check(url, service)
    assert empty.value.current is None and f"run `visa db upgrade {service}`" in str(empty.value)

    await migrations.aupgrade(service, url, FIRST)
    db = Database(url)
    try:
        for database in (url, db):
            with pytest.raises(SchemaBehind) as behind:
                await check(database, service)
            message = str(behind.value)
            assert f"revision {FIRST}" in message and HEADS[service] in message, message
            assert message.endswith(f"run `visa db upgrade {service}`"), message
            assert make_url(url).database in message
            if make_url(url).password:
                assert make_url(url).password not in message

        await migrations.aupgrade(service, url)
        assert await check(url, service) == await check(db, service) == HEADS[service]
    finally:
        await db.dispose()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_check_names_a_revision_this_code_does_not_know(dialect, new_database):
    url = await new_database("intake")
    await migrations.aupgrade("intake", url)
    await on(url, lambda connection: connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(SchemaUnknown, match="revision 0099, which this code does not know"):
        await check(url, "intake")


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_failed_upgrade_changes_nothing(dialect, new_database):
    """0002 makes its index, then cannot drop one that is gone: all of it rolls back, DDL included."""
    url = await new_database("intake")
    await migrations.aupgrade("intake", url, FIRST)
    await on(url, lambda connection: connection.exec_driver_sql("DROP INDEX ix_outbox_published_at"))

    with pytest.raises(sa.exc.DBAPIError):
        await migrations.aupgrade("intake", url)

    assert await migrations.acurrent("intake", url) == FIRST
    indexes = await on(
        url, lambda connection: {index["name"] for index in sa.inspect(connection).get_indexes("outbox")}
    )
    assert "ix_outbox_unpublished" not in indexes


def test_a_database_is_named_without_its_password():
    assert safe_url("postgresql+asyncpg://intake:s3cret@db:5432/intake") == "postgresql+asyncpg://intake@db:5432/intake"
    behind = SchemaBehind("intake", safe_url("postgresql://intake:s3cret@db/intake"), FIRST, HEAD)
    assert "s3cret" not in str(behind) and "postgresql://intake@db/intake" in str(behind)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_does_not_start_on_a_schema_behind(service, tmp_path):
    """The lifespan checks the schema before anything else (the broker is never reached)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/{service}.db"
    await migrations.aupgrade(service, url, FIRST)
    settings = SETTINGS[service](
        **{f"{service}_database_url": url}, redis_url="redis://127.0.0.1:1/0", amqp_url="amqp://127.0.0.1:1/"
    )
    app = importlib.import_module(f"services.{service}.app").build(settings)
    try:
        with pytest.raises(SchemaBehind, match=f"visa db upgrade {service}"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        await app.state.db.dispose()


def cli_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISA_", "INTAKE_", "AUTHORIZATION_", "ISSUANCE_"))}
    return env | {
        "VISA_KEYRING": os.environ["VISA_KEYRING"],
        "VISA_SIGNING_KEYS": os.environ["VISA_SIGNING_KEYS"],
        "PYTHONPATH": str(ROOT),
        **variables,
    }


def visa(tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("service", SERVICES)
async def test_visa_serve_exits_naming_the_upgrade_on_a_schema_behind(service, tmp_path, amqp_url):
    url = f"sqlite:///{tmp_path}/{service}.db"
    await migrations.aupgrade(service, url, FIRST)
    env = cli_env(tmp_path, AMQP_URL=amqp_url, **{f"{service.upper()}_DATABASE_URL": url})

    served = visa(tmp_path, env, "serve", service)

    assert served.returncode != 0, served.stdout + served.stderr
    assert f"visa db upgrade {service}" in served.stderr, served.stdout + served.stderr
    assert f"revision {FIRST}" in served.stderr and "listening" not in served.stdout
    assert await migrations.acurrent(service, url) == FIRST  # a refusal changes nothing


async def test_visa_db_upgrades_and_prints_the_revision(tmp_path):
    url = f"sqlite:///{tmp_path}/intake.db"
    await migrations.aupgrade("intake", url, FIRST)
    env = cli_env(tmp_path, INTAKE_DATABASE_URL=url)

    current = visa(tmp_path, env, "db", "current", "intake")
    assert current.returncode == 0, current.stderr
    assert f": {FIRST} (the code's head is {HEAD}; run `visa db upgrade intake`)" in current.stdout

    upgraded = visa(tmp_path, env, "db", "upgrade", "intake")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"{FIRST} → {HEAD}" in upgraded.stdout
    assert "Running upgrade 0001 -> 0002" in upgraded.stderr
    assert await migrations.acurrent("intake", url) == HEAD


# --- databases made before migrations -------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("service", "without"),
    [
        ("intake", ()),
        ("authorization", ()),
        ("issuance", ()),
        ("issuance", ("verifiers", "auditors")),  # a first-release database: the tables came later
        ("intake", ("outbox", "inbox")),  # `visa sponsors add` on a new machine made only the models' tables
    ],
)
async def test_a_database_made_before_migrations_is_adopted(service, without, dialect, new_database):
    url = await new_database(service)
    old = made_before_migrations(service, without)
    rows = {name: table_rows for name, table_rows in rows_of(service).items() if name not in without}
    await on(url, old.create_all)
    await on(url, write(old, rows))
    if dialect == "sqlite":
        ddl = await on(url, lambda connection: connection.exec_driver_sql("SELECT sql FROM sqlite_master").scalars())
        assert not any("CONSTRAINT" in (sql or "") for sql in ddl)

    assert await migrations.aupgrade(service, url) == HEADS[service]

    assert await on(url, differences(service)) == []  # on SQLite too: its constraints now carry their names
    first = migrations.first_schema(service)
    assert await on(url, read(first, rows)) == in_key_order(first, rows)
    assert await check(url, service) == HEADS[service]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_made_by_create_all_of_today_is_adopted_at_the_head(service, dialect, new_database):
    url = await new_database(service)
    db = Database(url, *migrations.target_metadata(service))
    try:
        await db.create_all()
    finally:
        await db.dispose()
    await on(url, write(migrations.first_schema(service), {"outbox": rows_of(service)["outbox"]}))

    assert await migrations.aupgrade(service, url) == HEADS[service]

    assert await on(url, differences(service)) == []
    assert len(await on(url, lambda connection: connection.execute(sa.select(outbox)).all())) == 2


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("service", "table", "column"),
    [("intake", "applicants", "decision"), ("authorization", "cases", "visas")],  # added after the first release
)
async def test_a_database_of_an_older_release_is_refused_and_left_as_it_was(
    service, table, column, dialect, new_database
):
    url = await new_database(service)
    await on(url, made_before_migrations(service).create_all)
    await on(url, lambda connection: connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}"))
    before = await on(url, tables)

    with pytest.raises(SchemaMismatch) as refused:
        await migrations.aupgrade(service, url)

    message = str(refused.value)
    assert f"column {table}.{column} missing" in message and f"`visa db upgrade {service}`" in message, message
    assert await on(url, tables) == before  # no alembic_version, nothing created
    assert column not in {c["name"] for c in await on(url, lambda c: sa.inspect(c).get_columns(table))}


@pytest.mark.parametrize("service", SERVICES)
async def test_constraint_names_are_the_ones_postgresql_gave_before_migrations(service, new_database):
    """The naming convention reproduces PostgreSQL's own names: existing databases keep theirs."""

    def names(connection: sa.Connection) -> set[tuple[str, str, str]]:
        rows = connection.exec_driver_sql(
            "SELECT conrelid::regclass::text, contype::text, conname FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace"
            " UNION SELECT tablename, 'index', indexname FROM pg_indexes WHERE schemaname = 'public'"
        )
        return {tuple(row) for row in rows if row[0] != "alembic_version"}

    before = await new_database(f"{service}_old")
    await on(before, made_before_migrations(service).create_all)
    migrated = await new_database(f"{service}_new")
    await migrations.aupgrade(service, migrated, FIRST)
    created = await new_database(f"{service}_all")
    await on(created, lambda connection: [m.create_all(connection) for m in migrations.target_metadata(service)])

    assert await on(before, names) == await on(migrated, names)
    await migrations.aupgrade(service, migrated)
    # The models name every constraint as PostgreSQL did (only 0002's index differs from 0001).
    assert await on(created, names) == await on(migrated, names)
