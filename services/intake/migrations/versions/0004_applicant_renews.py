"""Renewals: each applicant of a renewal request names the visa it renews.

``applicants`` gains ``renews_visa`` (the number of the visa a renewal request renews for this person; NULL for
an ordinary request), indexed: a visa already being renewed is not renewed twice. Nullable, and NULL on every
existing row: the release before, which writes none, keeps working during a rolling update.

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
    with op.batch_alter_table("applicants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renews_visa", sa.String(length=9), nullable=True))
        batch_op.create_index(batch_op.f("ix_applicants_renews_visa"), ["renews_visa"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("applicants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applicants_renews_visa"))
        batch_op.drop_column("renews_visa")
