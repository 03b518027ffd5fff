"""Each applicant's waiver: the treaty that makes a visa unnecessary for a short stay (status NOT_REQUIRED).

``applicants`` gains ``waiver`` (JSON, the ``Waiver`` of an ``AuthorizationNotRequired`` event: the treaty, its
maximum stay and its conditions). Nullable, and NULL on every existing row (no waiver was ever answered
before): the release before, which writes none, keeps working during a rolling update.

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
    with op.batch_alter_table("applicants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waiver", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applicants", schema=None) as batch_op:
        batch_op.drop_column("waiver")
