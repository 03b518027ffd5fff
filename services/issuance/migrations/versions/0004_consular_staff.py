"""Consular staff: the accounts that print visas (``GET /v1/visas/{number}/sticker.pdf``, docs/domain/visa-document.md).

A table of its own, as verifiers and auditors have: an id, a name, the SHA-256 of the API key, when it was made.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consular_staff",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="consular_staff_pkey"),
        sa.UniqueConstraint("key_hash", name="consular_staff_key_hash_key"),
    )


def downgrade() -> None:
    op.drop_table("consular_staff")
