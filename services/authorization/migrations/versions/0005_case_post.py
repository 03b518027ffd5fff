"""Consular posts: a case records the post that issues its visas.

``cases`` gains ``post`` (a post's code, shared/posts.py): the sponsor's choice, the default post, or the one an
officer assigned. Nullable, and NULL on every existing row: such a case was decided before there were posts, when
one issuance served every request, and is read as the default post's (a revocation of it goes to the default
post). The release before ignores the column during a rolling update.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("post", sa.String(length=6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("post")
