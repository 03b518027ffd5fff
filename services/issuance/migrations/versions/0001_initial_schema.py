"""Issuance's first schema: visas, verifiers, auditors and revocations; outbox and inbox.

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
        "visas",
        metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, autoincrement=True),
        sa.Column("number", sa.String(9), nullable=True),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("authorization_id", sa.String(36), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("surnames", sa.String(120), nullable=False),
        sa.Column("given_names", sa.String(120), nullable=False),
        sa.Column("nationality", sa.String(3), nullable=False),
        sa.Column("passport_number", sa.String(9), nullable=False),
        sa.Column("immigration_status", sa.String(40), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("mrz_line1", sa.String(44), nullable=False),
        sa.Column("mrz_line2", sa.String(44), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancellation_reason", sa.String(500), nullable=True),
        sa.Column("revocation_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="visas_pkey"),
        sa.UniqueConstraint("number", name="visas_number_key"),
        sa.UniqueConstraint("authorization_id", "person_id", name="visas_authorization_id_person_id_key"),
        sa.Index("ix_visas_request_id", "request_id"),
        sa.Index("ix_visas_authorization_id", "authorization_id"),
    )
    sa.Table(
        "verifiers",
        metadata,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="verifiers_pkey"),
        sa.UniqueConstraint("key_hash", name="verifiers_key_hash_key"),
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
        "revocations",
        metadata,
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("authorization_id", sa.String(36), nullable=False),
        sa.Column("person_ids", sa.JSON(), nullable=False),
        sa.Column("visa_numbers", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="revocations_pkey"),
        sa.Index("ix_revocations_authorization_id", "authorization_id"),
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
