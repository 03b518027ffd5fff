"""Intake's first schema: sponsors, auditors, requests and their applicants; outbox and inbox.

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
        "sponsors",
        metadata,
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("country", sa.String(3), nullable=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="sponsors_pkey"),
        sa.UniqueConstraint("key_hash", name="sponsors_key_hash_key"),
    )
    sa.Table(
        "auditors",
        metadata,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="auditors_pkey"),
        sa.UniqueConstraint("key_hash", name="auditors_key_hash_key"),
    )
    sa.Table(
        "requests",
        metadata,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("sponsor_id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("immigration_status", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("submitted", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="requests_pkey"),
        sa.UniqueConstraint("sponsor_id", "idempotency_key", name="requests_sponsor_id_idempotency_key_key"),
        sa.ForeignKeyConstraint(["sponsor_id"], ["sponsors.id"], name="requests_sponsor_id_fkey"),
        sa.Index("ix_requests_sponsor_id", "sponsor_id"),
    )
    sa.Table(
        "applicants",
        metadata,
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("relationship", sa.String(20), nullable=True),
        sa.Column("surnames", sa.String(120), nullable=False),
        sa.Column("given_names", sa.String(120), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decision", sa.String(10), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("visa_number", sa.String(9), nullable=True),
        sa.Column("visa_valid_from", sa.Date(), nullable=True),
        sa.Column("visa_valid_until", sa.Date(), nullable=True),
        sa.Column("visa_mrz", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("person_id", name="applicants_pkey"),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], name="applicants_request_id_fkey"),
        sa.Index("ix_applicants_request_id", "request_id"),
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
