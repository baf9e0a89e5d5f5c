"""Messages the assistant did not understand, kept masked for admins to review.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nlu_review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("predicted_intent", sa.String(length=100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nlu_review_items")),
    )
    with op.batch_alter_table("nlu_review_items", schema=None) as batch_op:
        batch_op.create_index("ix_nlu_review_items_status_language", ["status", "language"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nlu_review_items", schema=None) as batch_op:
        batch_op.drop_index("ix_nlu_review_items_status_language")
    op.drop_table("nlu_review_items")
