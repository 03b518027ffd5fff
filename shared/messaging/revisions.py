"""The revisions of the outbox and inbox tables, which every service's history applies (each service holds
both, ``outbox.py``). Frozen like any revision: a later change is a new function here and a new revision in
each service's ``migrations/versions/``, never an edit of these."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations


def tables_0001(metadata: sa.MetaData) -> None:
    """The outbox and the inbox at revision 0001: every constraint and index named as PostgreSQL names them."""
    sa.Table(
        "outbox",
        metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("routing_key", sa.String(120), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="outbox_pkey"),
        sa.UniqueConstraint("event_id", name="outbox_event_id_key"),
        sa.Index("ix_outbox_published_at", "published_at"),
    )
    sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="inbox_pkey"),
    )


# Revision 0002: the outbox's backlog through a partial index, the unpublished rows oldest first, with their age.
#
# Two queries ask for the backlog, often: the relay, ``WHERE published_at IS NULL ORDER BY seq LIMIT n``
# (``relay.py``), at every poll and after every commit that staged events; and readiness and metrics,
# ``count(*)`` and ``min(created_at)`` of the same rows (``backlog`` in ``outbox.py``), at every probe.
# ``ix_outbox_published_at`` held an entry for every row ever written and could only find the unpublished ones:
# each relay batch then sorted the whole backlog by ``seq``, and the age needed the table's rows.
# ``ix_outbox_unpublished`` holds the backlog alone (a published row leaves it), in ``seq`` order (the order
# rows are written: the oldest first) with ``created_at`` beside it. Nothing queries ``published_at`` by value:
# the old index goes. On PostgreSQL, building the index locks the outbox against writes while it reads the
# table once.

UNPUBLISHED = sa.text("published_at IS NULL")


def upgrade_0002(op: Operations) -> None:
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["seq", "created_at"], postgresql_where=UNPUBLISHED, sqlite_where=UNPUBLISHED
    )
    op.drop_index("ix_outbox_published_at", table_name="outbox")


def downgrade_0002(op: Operations) -> None:
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
