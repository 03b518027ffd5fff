"""Officers' case assignment, the case list's filters, and who revoked.

``cases`` gains ``assigned_to`` (the officer holding the case, indexed: "assigned to me") and ``assigned_at``;
``sponsor_id`` (indexed) and ``immigration_status``, copied from the submission so that the list filters on
columns rather than inside JSON; and ``revoked_by``, the officer who revoked (until now only in the event).

Existing rows are filled in on both dialects: the sponsor and the status from ``submission`` (NULL where the
submission lacks them), and a case an officer decided is held by that officer since the decision, as deciding
a case does from now on (a case the policy decided, ``decided_by = 'policy'``, is nobody's). ``revoked_by`` of
an earlier revocation stays NULL: it is in the ``AuthorizationRevoked`` event, not in the case. Every column is
nullable, so the release before, which writes none of them, keeps working during a rolling update.

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

POLICY = "policy"  # services/authorization/usecases.py: the decider of a case no officer decided


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("sponsor_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("immigration_status", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("assigned_to", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_assigned_to"), ["assigned_to"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_sponsor_id"), ["sponsor_id"], unique=False)

    cases = sa.table(
        "cases",
        sa.column("submission", sa.JSON()),
        sa.column("decided_by", sa.String()),
        sa.column("decided_at", sa.DateTime(timezone=True)),
        sa.column("sponsor_id", sa.String()),
        sa.column("immigration_status", sa.String()),
        sa.column("assigned_to", sa.String()),
        sa.column("assigned_at", sa.DateTime(timezone=True)),
    )
    # JSON paths: ``#>>`` on PostgreSQL, ``JSON_EXTRACT`` on SQLite; a missing key reads as NULL on both.
    op.execute(
        cases.update().values(
            sponsor_id=cases.c.submission[("sponsor", "id")].as_string(),
            immigration_status=cases.c.submission[("immigration_status",)].as_string(),
        )
    )
    op.execute(
        cases.update()
        .where(cases.c.decided_by.is_not(None), cases.c.decided_by != POLICY)
        .values(assigned_to=cases.c.decided_by, assigned_at=cases.c.decided_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_sponsor_id"))
        batch_op.drop_index(batch_op.f("ix_cases_assigned_to"))
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assigned_to")
        batch_op.drop_column("immigration_status")
        batch_op.drop_column("sponsor_id")
        batch_op.drop_column("revoked_by")
