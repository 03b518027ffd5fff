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


# Revision "claims and retention" (intake 0005, authorization 0006, issuance 0005).
#
# ``outbox.claimed_until``: until when one relay publishes a row and the others leave it alone (``relay.py``). A
# relay no longer holds a transaction (and, on PostgreSQL, the rows' locks) open while the broker confirms: it
# claims rows in one short transaction and marks them in another; a process staging events while its relay runs
# claims them as it inserts them and publishes them right after commit. NULL on every existing row: claimable.
# ``ix_outbox_created_at`` and ``ix_inbox_received_at``: retention (``retention.py``) deletes the rows older than
# it, the oldest first, through them, however many rows the tables hold.


def upgrade_claims_and_retention(op: Operations) -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_index("ix_inbox_received_at", "inbox", ["received_at"])


def downgrade_claims_and_retention(op: Operations) -> None:
    op.drop_index("ix_inbox_received_at", table_name="inbox")
    op.drop_index("ix_outbox_created_at", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
