"""Outbox claims and retention: a relay claims the rows it publishes (``outbox.claimed_until``) instead of holding
a transaction open while the broker confirms; the outbox and the inbox are indexed by age for retention
(``shared/messaging/revisions.py`` says why; every service's history applies it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from shared.messaging import revisions as messaging

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    messaging.upgrade_claims_and_retention(op)


def downgrade() -> None:
    messaging.downgrade_claims_and_retention(op)
