"""What a case accumulates: its actions, the customer's messages, survey answers and audit trail."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ccm_core.domain.base import Base, EnumText
from ccm_core.domain.lifecycle import ActionKind
from ccm_core.domain.organisation import Staff

if TYPE_CHECKING:
    from ccm_core.domain.complaint import Complaint


class CorrectiveAction(Base):
    """07: a corrective or preventive action taken on a justified complaint."""

    __tablename__ = "complaint_actions"
    __table_args__ = (Index("ix_complaint_actions_done_at", "done_at"),)  # the monthly report

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    kind: Mapped[ActionKind] = mapped_column(EnumText(ActionKind, 16))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    done_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    follow_up_round: Mapped[int] = mapped_column(Integer, default=0)

    complaint: Mapped[Complaint] = relationship(back_populates="actions")
    owner: Mapped[Staff | None] = relationship(lazy="joined")


class CustomerMessage(Base):
    __tablename__ = "customer_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # "customer" or "staff"
    body: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]

    complaint: Mapped[Complaint] = relationship(back_populates="messages")


class CaseAttachment(Base):
    """A file the customer sent with the case (a mail's attachment): listed always, kept unless refused.

    ``storage_key`` names the file in the operator's attachment store; None when it was refused
    (``refused`` says why) or erased with the customer's data.
    """

    __tablename__ = "complaint_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str | None] = mapped_column(String(255))
    refused: Mapped[str | None] = mapped_column(String(32))  # "too_large"
    created_at: Mapped[dt.datetime]

    complaint: Mapped[Complaint] = relationship(back_populates="attachments")


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_answered_at", "answered_at"),)  # the monthly report

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    satisfied: Mapped[bool] = mapped_column(Boolean)
    nps: Mapped[int | None] = mapped_column(Integer)  # 0–10, when the NPS question is on
    source: Mapped[str | None] = mapped_column(String(16))  # "chat", "link" or "staff"
    answered_at: Mapped[dt.datetime]

    complaint: Mapped[Complaint] = relationship(back_populates="survey_responses")


class AuditEvent(Base):
    """Who did what, when, and how the status moved. Rows are append-only (database triggers)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)  # the monthly report

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime]
    status_before: Mapped[str | None] = mapped_column(String(32))
    status_after: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]]

    complaint: Mapped[Complaint | None] = relationship()
