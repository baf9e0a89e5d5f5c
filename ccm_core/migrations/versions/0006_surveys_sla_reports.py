"""Surveys on a schedule, working-time SLA calendars, monthly management reports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SURVEY_SCHEDULE = ("survey_send_at", "survey_remind_at", "survey_reminded_at", "survey_expires_at")
SURVEY_SCHEDULE_INDEXED = ("survey_send_at", "survey_remind_at", "survey_expires_at")

REPORT_INDEXES = (
    ("complaints", "ix_complaints_decided_at", ["decided_at"]),
    ("complaints", "ix_complaints_closed_at", ["closed_at"]),
    ("complaint_actions", "ix_complaint_actions_done_at", ["done_at"]),
    ("survey_responses", "ix_survey_responses_answered_at", ["answered_at"]),
    ("audit_events", "ix_audit_events_action_at", ["action", "at"]),
)


def upgrade() -> None:
    # SLA: each department's working time (country for its holiday calendar, zone, days, hours).
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("working_time", sa.JSON(), nullable=True))
    # Surveys: the worker's schedule, and the customer's unasked notice that the review runs long.
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        for column in (*SURVEY_SCHEDULE, "delay_notice_at"):
            batch_op.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
        for column in SURVEY_SCHEDULE_INDEXED:  # the worker finds due cases by status and time
            batch_op.create_index(f"ix_complaints_status_{column}", ["status", column], unique=False)
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=True))
    # Monthly reports: one row per month, produced by one worker under a lease.
    op.create_table(
        "report_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files", sa.JSON(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_runs")),
        sa.UniqueConstraint("month", name=op.f("uq_report_runs_month")),
    )
    # Monthly reports: the figures are counted by month on these times (EXPLAIN showed full scans).
    for table, name, columns in REPORT_INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in REPORT_INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table("report_runs")
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_column("source")
        batch_op.drop_column("nps")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        for column in SURVEY_SCHEDULE_INDEXED:
            batch_op.drop_index(f"ix_complaints_status_{column}")
        for column in ("delay_notice_at", *reversed(SURVEY_SCHEDULE)):
            batch_op.drop_column(column)
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_column("working_time")
