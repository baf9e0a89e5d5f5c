"""E-mail intake: the mails read from the product's mailbox, and the files customers send with a case.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("sender_key", sa.String(length=64), nullable=True),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_inbound_mails_complaint_id_complaints")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_mails")),
        sa.UniqueConstraint("folder", "uidvalidity", "uid", name=op.f("uq_inbound_mails_folder")),
    )
    op.create_index(op.f("ix_inbound_mails_complaint_id"), "inbound_mails", ["complaint_id"], unique=False)
    op.create_index(op.f("ix_inbound_mails_message_key"), "inbound_mails", ["message_key"], unique=False)
    op.create_index(op.f("ix_inbound_mails_message_id"), "inbound_mails", ["message_id"], unique=False)
    op.create_index(
        "ix_inbound_mails_sender_key_received_at",
        "inbound_mails",
        ["sender_key", "received_at"],
        unique=False,
    )
    op.create_table(
        "complaint_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("refused", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name=op.f("fk_complaint_attachments_complaint_id_complaints")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_attachments")),
    )
    op.create_index(
        op.f("ix_complaint_attachments_complaint_id"), "complaint_attachments", ["complaint_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_complaint_attachments_complaint_id"), table_name="complaint_attachments")
    op.drop_table("complaint_attachments")
    op.drop_index("ix_inbound_mails_sender_key_received_at", table_name="inbound_mails")
    op.drop_index(op.f("ix_inbound_mails_message_id"), table_name="inbound_mails")
    op.drop_index(op.f("ix_inbound_mails_message_key"), table_name="inbound_mails")
    op.drop_index(op.f("ix_inbound_mails_complaint_id"), table_name="inbound_mails")
    op.drop_table("inbound_mails")
