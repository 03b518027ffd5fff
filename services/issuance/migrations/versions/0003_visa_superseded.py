"""Renewals: a visa a renewal's visa replaces is superseded (docs/domain/lifecycle.md, "Renewal").

``visas`` gains ``superseded_at`` (when the renewal's visa was issued) and ``superseded_by`` (its number). Nullable,
and NULL on every existing row (nothing was renewed before): the release before, which writes neither, keeps
working during a rolling update.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("superseded_by", sa.String(length=9), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visas", schema=None) as batch_op:
        batch_op.drop_column("superseded_by")
        batch_op.drop_column("superseded_at")
