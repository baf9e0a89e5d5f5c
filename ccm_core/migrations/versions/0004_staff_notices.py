"""Staff notices (what the department must hear about) and staff posts (where a case is shown to it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claim_token", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_staff_notices_complaint_id_complaints")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["customer_messages.id"],
            name=op.f("fk_staff_notices_message_id_customer_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_notices")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_staff_notices_dedupe_key")),
    )
    with op.batch_alter_table("staff_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_notices_complaint_id"), ["complaint_id"], unique=False)
        batch_op.create_index(
            "ix_staff_notices_status_available_at", ["status", "available_at"], unique=False
        )
    op.create_table(
        "staff_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("channel_ref", sa.String(length=64), nullable=False),
        sa.Column("message_ref", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_staff_posts_complaint_id_complaints")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_staff_posts_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_posts")),
        sa.UniqueConstraint("complaint_id", name=op.f("uq_staff_posts_complaint_id")),
    )
    with op.batch_alter_table("staff_posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_posts_channel_ref_message_ref", ["channel_ref", "message_ref"], unique=False
        )


def downgrade() -> None:
    op.drop_table("staff_posts")
    op.drop_table("staff_notices")
