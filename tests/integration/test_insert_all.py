"""``Database.insert_all``, on SQLite and PostgreSQL: rows of several tables written all or none; on PostgreSQL in one
statement without a transaction around it (a request accepted by intake is written so)."""

from __future__ import annotations

import pytest
from sqlalchemy import JSON, Column, ForeignKey, Integer, MetaData, String, Table, event, func, select
from sqlalchemy.exc import IntegrityError

from shared.db import Database, _chained_inserts

metadata = MetaData()
parents = Table("parents", metadata, Column("id", String(36), primary_key=True), Column("data", JSON))
children = Table(
    "children",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("parent_id", ForeignKey("parents.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("note", JSON(none_as_null=True)),
)


@pytest.fixture
async def db(new_database):
    database = Database(await new_database("insert_all"), metadata)
    await database.create_all()
    yield database
    await database.dispose()


def sent(db: Database) -> list[tuple[str, str | None]]:
    """Each statement sent from now on, with the isolation level its connection ran it under."""
    statements: list[tuple[str, str | None]] = []

    def record(connection, cursor, statement, *args) -> None:
        statements.append((statement, connection.get_execution_options().get("isolation_level")))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return statements


def family(parent: str, count: int) -> list[tuple[Table, list[dict]]]:
    return [
        (parents, [{"id": parent, "data": {"name": parent, "tags": ["a", "b"]}}]),
        (
            children,
            [
                {"id": f"{parent}-{n}", "parent_id": parent, "position": n, "note": {"n": n} if n else None}
                for n in range(count)
            ],
        ),
    ]


async def test_rows_of_several_tables_are_written_with_their_types(db):
    statements = sent(db)

    await db.insert_all(family("p1", 3))
    statements = list(statements)

    async with db.sessions() as session:
        assert (await session.execute(select(parents.c.data))).scalar_one() == {"name": "p1", "tags": ["a", "b"]}
        written = (await session.execute(select(children).order_by(children.c.position))).all()
        # A JSON column given None (none_as_null) holds SQL NULL, not the JSON null.
        nulls = await session.scalar(select(func.count()).select_from(children).where(children.c.note.is_(None)))
    assert [(row.id, row.parent_id, row.note) for row in written] == [
        ("p1-0", "p1", None),
        ("p1-1", "p1", {"n": 1}),
        ("p1-2", "p1", {"n": 2}),
    ]
    assert nulls == 1
    if db.is_postgres:
        # One statement, the child rows in it with their parent's (its foreign key checked at its end), in
        # autocommit: the driver sends no BEGIN and no COMMIT around it.
        [(statement, isolation)] = statements
        assert statement.startswith("WITH") and isolation == "AUTOCOMMIT"
    else:
        assert [statement.split()[0] for statement, _ in statements if "BEGIN" not in statement] == ["INSERT", "INSERT"]


def test_the_statement_of_a_shape_is_compiled_once():
    # SQLAlchemy caches a statement's compiled form by its cache key; one without (a multi-row VALUES) would be
    # compiled on every call, a quarter of intake's CPU when it was tried.
    shape = tuple((table, len(rows), tuple(rows[0])) for table, rows in family("p", 3))
    assert _chained_inserts(shape)._generate_cache_key() is not None


async def test_a_refused_row_leaves_none_of_the_others(db):
    await db.insert_all(family("p1", 1))

    with pytest.raises(IntegrityError):
        # A new parent, then a child whose id is taken: neither stays.
        await db.insert_all([(parents, [{"id": "p2", "data": {}}]), (children, [family("p1", 1)[1][1][0]])])

    async with db.sessions() as session:
        assert set(await session.scalars(select(parents.c.id))) == {"p1"}
        assert await session.scalar(select(func.count()).select_from(children)) == 1


async def test_batches_of_another_shape_and_empty_ones(db):
    await db.insert_all(family("p1", 1))
    await db.insert_all([*family("p2", 2), (children, [])])
    await db.insert_all([])

    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(children)) == 3


async def test_json_columns_are_written_as_utf_8_text_and_read_back(db):
    # orjson (Database's json_serializer): UTF-8 where the standard library's json would write "\u00c5SA", and a
    # non-string key written as a string, as json.dumps does.
    await db.insert_all([(parents, [{"id": "p1", "data": {"name": "ÅSA MÜLLER", 1: ["x", None, True]}}])])
    async with db.sessions() as session:
        stored = await session.scalar(select(func.cast(parents.c.data, String)))
        read = await session.scalar(select(parents.c.data))
    assert "ÅSA MÜLLER" in stored and "\\u" not in stored
    assert read == {"name": "ÅSA MÜLLER", "1": ["x", None, True]}
