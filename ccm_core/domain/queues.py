"""The queues a change to a case writes in its own transaction.

The outbox holds what the customer must be told (delivered by the channels), staff notices
what the department must hear (posted by the staff app), erasure tasks the customer's
conversations to erase from the assistant's store; a staff post is where a case is shown in the
staff tool. Every queue is taken under a lease by whichever worker is free.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ccm_core.domain.base import Base, EnumText
from ccm_core.domain.records import CustomerMessage
from ccm_core.i18n import translate

if TYPE_CHECKING:
    from ccm_core.domain.complaint import Complaint


class OutboxKind(StrEnum):
    """What a customer message tells; each has its text under ``outbox.<kind>`` in the locales."""

    ACKNOWLEDGEMENT = "acknowledgement"  # 02/04 the reference
    INTERIM_NOTICE = "interim_notice"  # 05 the department started its review
    REVIEW_DELAYED = "review_delayed"  # 05 the review runs long
    UNJUSTIFIED_EXPLANATION = "unjustified_explanation"  # 07 why the complaint is unjustified
    ACTION_SUMMARY = "action_summary"  # 08 what was done
    SURVEY = "survey"  # 09
    SURVEY_REMINDER = "survey_reminder"  # 09, once per round
    FOLLOW_UP_NOTICE = "follow_up_notice"  # 11
    STAFF_REPLY = "staff_reply"  # a person's words during a handoff
    HANDED_BACK = "handed_back"  # the assistant answers again
    ATTACHMENT_REFUSED = "attachment_refused"  # a mailed file over the size limit was not kept


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt
    CANCELLED = "cancelled"  # no longer true (the customer's data was erased)


class NoticeKind(StrEnum):
    NEW_CASE = "new_case"
    CASE_CHANGED = "case_changed"
    HUMAN_REQUESTED = "human_requested"
    CUSTOMER_MESSAGE = "customer_message"  # the customer's words during a handoff
    SURVEY_DISSATISFIED = "survey_dissatisfied"
    FOLLOW_UP_ROUNDS_EXCEEDED = "follow_up_rounds_exceeded"
    SLA_SOON = "sla_soon"
    SLA_BREACH = "sla_breach"
    CUSTOMER_ERASED = "customer_erased"  # redact what the staff tool shows of the customer


class NoticeStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class OutboxMessage(Base):
    """A customer-facing message written in the same transaction as the change that requires it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_available_at", "status", "available_at"),
        # A claim skips messages waiting behind an older one to the same recipient (migration 0007).
        Index("ix_outbox_messages_recipient_status", "recipient", "status"),
    )
    PENDING: ClassVar = DeliveryStatus.PENDING  # what the queue's workers take

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    kind: Mapped[OutboxKind] = mapped_column(EnumText(OutboxKind, 32))
    language: Mapped[str] = mapped_column(String(2))
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str | None] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    status: Mapped[DeliveryStatus] = mapped_column(EnumText(DeliveryStatus, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Delivery bookkeeping: a worker holds the message until ``lease_until``; ``claim_token``
    # fences out a worker whose lease ran out. ``rendering`` is what the channel sends,
    # part by part; ``part_in_flight`` marks a send whose outcome a crash left unknown.
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    rendering: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    part_in_flight: Mapped[int | None] = mapped_column(Integer)

    complaint: Mapped[Complaint] = relationship()

    @classmethod
    def to_customer(
        cls,
        complaint: Complaint,
        kind: OutboxKind,
        now: dt.datetime,
        *,
        in_conversation: bool,
        extra_payload: dict[str, Any] | None = None,
        **params: Any,
    ) -> OutboxMessage:
        """The message in the customer's language, addressed where the customer can be reached.

        One that answers the customer's own chat turn is shown in the reply itself, so it is
        stored as delivered and no channel sends it a second time.
        """
        channel, recipient = complaint.customer.address_for(complaint.channel)
        text = translate(
            complaint.language,
            f"outbox.{kind}",
            reference=complaint.reference,
            department=complaint.department.name(complaint.language),
            **params,
        )
        payload = {"reference": complaint.reference, "status": str(complaint.status), **(extra_payload or {})}
        return cls(
            complaint=complaint,
            kind=kind,
            language=complaint.language,
            channel=channel,
            recipient=recipient,
            body=text,
            payload=payload,
            status=DeliveryStatus.DELIVERED if in_conversation else DeliveryStatus.PENDING,
            attempts=1 if in_conversation else 0,
            created_at=now,
            available_at=now,
            delivered_at=now if in_conversation else None,
        )


class StaffNotice(Base):
    """Something the department's staff must hear about, written in the same transaction as its cause.

    Kinds: ``new_case``, ``case_changed``, ``human_requested``, ``customer_message`` (a
    customer's words during a handoff), ``survey_dissatisfied`` and SLA alerts. The staff
    app (Slack) delivers them in order per case, under a lease like the outbox's.
    ``dedupe_key`` lets an alert that several workers raise exist only once.
    """

    __tablename__ = "staff_notices"
    __table_args__ = (Index("ix_staff_notices_status_available_at", "status", "available_at"),)
    PENDING: ClassVar = NoticeStatus.PENDING  # what the queue's workers take

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("customer_messages.id"))
    kind: Mapped[NoticeKind] = mapped_column(EnumText(NoticeKind, 32))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    status: Mapped[NoticeStatus] = mapped_column(EnumText(NoticeStatus, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]

    complaint: Mapped[Complaint | None] = relationship()
    message: Mapped[CustomerMessage | None] = relationship()

    @classmethod
    def about(
        cls,
        complaint: Complaint,
        kind: NoticeKind,
        now: dt.datetime,
        payload: dict[str, Any] | None = None,
        message: CustomerMessage | None = None,
    ) -> StaffNotice:
        return cls(
            complaint=complaint,
            kind=kind,
            payload=payload or {},
            message=message,
            status=NoticeStatus.PENDING,
            attempts=0,
            created_at=now,
            available_at=now,
        )


class StaffPost(Base):
    """Where a case is shown to its department in the staff tool: a channel and a message there.

    The message is updated in place as the case moves, and its thread carries a handoff
    conversation. The references are the staff tool's own (a Slack channel id and ``ts``).
    """

    __tablename__ = "staff_posts"
    __table_args__ = (
        UniqueConstraint("complaint_id"),
        Index("ix_staff_posts_channel_ref_message_ref", "channel_ref", "message_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    channel_ref: Mapped[str] = mapped_column(String(64))
    message_ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]

    complaint: Mapped[Complaint] = relationship()


class StaffMessage(Base):
    """A message the staff tool holds with the customer's own words, besides the case's post.

    A handoff thread's reply quoting the customer, a lead's alert with a survey comment: the case's
    post is redrawn from the record, these are not, so erasure needs to know where they are to
    redact them.
    """

    __tablename__ = "staff_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    channel_ref: Mapped[str] = mapped_column(String(64))
    message_ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    redacted_at: Mapped[dt.datetime | None]


class ErasureTask(Base):
    """A customer's conversation with the assistant to erase from its store, retried until done.

    Written in the erasure's transaction, so a store that cannot be reached then (the assistant
    down) is erased later by whichever worker is free, under a lease like the outbox's. The
    conversation id is cleared once the conversation is gone.
    """

    __tablename__ = "erasure_tasks"
    __table_args__ = (Index("ix_erasure_tasks_status_available_at", "status", "available_at"),)
    PENDING: ClassVar = NoticeStatus.PENDING  # what the queue's workers take

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str | None] = mapped_column(String(160))
    status: Mapped[NoticeStatus] = mapped_column(EnumText(NoticeStatus, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
