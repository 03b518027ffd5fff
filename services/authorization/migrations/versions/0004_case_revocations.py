"""Revocations per person: a case keeps each revocation (whom, why, by whom, when).

``cases`` gains ``revocations`` (JSON: a list of ``{"person_ids", "reason", "revoked_by", "revoked_at"}``), so that
the end of functions of one person (a divorce, a child who is no longer a dependant) revokes them alone and a
second notice has no further effect. Nullable, and NULL on every existing row (read as no revocation; a case
revoked before this revision keeps its ``revoked_*`` columns): the release before keeps working during a
rolling update.

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
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revocations", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("revocations")
