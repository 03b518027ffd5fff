"""Authorization's first schema: officers and cases; outbox and inbox.

Revision 0001 is the schema as ``Database.create_all`` made it before migrations began. It is written as
tables rather than operations: ``shared.migrations`` compares a database made before migrations with
``tables`` before it stamps it at this revision. Never edit it; change the schema in a new revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.messaging import revisions as messaging

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def tables(metadata: sa.MetaData) -> None:
    """Revision 0001's tables, on ``metadata``: every constraint and index named as PostgreSQL names them."""
    sa.Table(
        "officers",
        metadata,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="officers_pkey"),
        sa.UniqueConstraint("key_hash", name="officers_key_hash_key"),
    )
    sa.Table(
        "cases",
        metadata,
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("authorization_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("submission", sa.JSON(), nullable=False),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(36), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decisions", sa.JSON(), nullable=True),
        sa.Column("visas", sa.JSON(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name="cases_pkey"),
        sa.UniqueConstraint("authorization_id", name="cases_authorization_id_key"),
        sa.Index("ix_cases_state", "state"),
    )
    # The outbox and the inbox, as every service holds them.
    messaging.tables_0001(metadata)


def upgrade() -> None:
    metadata = sa.MetaData()
    tables(metadata)
    metadata.create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    metadata = sa.MetaData()
    tables(metadata)
    metadata.drop_all(op.get_bind(), checkfirst=False)
