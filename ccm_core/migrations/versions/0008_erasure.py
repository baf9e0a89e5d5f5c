"""Erasure that reaches every copy: the staff tool's messages quoting a customer, and the
conversations still to erase from the assistant's tracker store.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("channel_ref", sa.String(length=64), nullable=False),
        sa.Column("message_ref", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_staff_messages_complaint_id_complaints")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_messages")),
    )
    op.create_index(op.f("ix_staff_messages_complaint_id"), "staff_messages", ["complaint_id"], unique=False)
    op.create_table(
        "erasure_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=160), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_tasks")),
    )
    op.create_index(
        "ix_erasure_tasks_status_available_at", "erasure_tasks", ["status", "available_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_erasure_tasks_status_available_at", table_name="erasure_tasks")
    op.drop_table("erasure_tasks")
    op.drop_index(op.f("ix_staff_messages_complaint_id"), table_name="staff_messages")
    op.drop_table("staff_messages")
