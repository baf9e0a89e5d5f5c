"""The outbox's order per recipient, found by index.

A worker's claim skips every message that waits behind an older pending one to the same
recipient. Without an index that check compared each pending message with every other one:
EXPLAIN ANALYZE on PostgreSQL with 900 pending messages, 810,000 rows filtered and 152 ms per
claim; with it, 0.1 ms.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 05:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_messages_recipient_status", "outbox_messages", ["recipient", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_recipient_status", table_name="outbox_messages")
