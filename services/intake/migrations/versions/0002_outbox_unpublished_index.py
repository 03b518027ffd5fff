"""The outbox's backlog through a partial index: the unpublished rows, oldest first, with their age
(``shared/messaging/revisions.py`` says why; every service's history applies it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from shared.messaging import revisions as messaging

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    messaging.upgrade_0002(op)


def downgrade() -> None:
    messaging.downgrade_0002(op)
