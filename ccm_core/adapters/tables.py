"""Tables of the product's machinery, not of the complaint process.

Admin sessions, web chat messages and contacts, what the assistant missed and learned, its
trained models and retrain requests, and the monthly report runs. The service layer keeps
them; the domain never sees them. The de-duplication tables live in ``guard``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ccm_core.adapters import guard  # noqa: F401 - registers the de-duplication tables in METADATA
from ccm_core.domain.base import Base, EnumText
from ccm_core.domain.organisation import Staff


class ReviewStatus(StrEnum):
    """Where a missed message stands in the admins' review queue."""

    OPEN = "open"
    ASSIGNED = "assigned"  # taught as an intent, written into the training data by the next retrain
    DISMISSED = "dismissed"


class ModelStatus(StrEnum):
    DEPLOYED = "deployed"  # the model in service
    REFUSED = "refused"  # did worse than the model in service
    RETIRED = "retired"  # was in service before
    FAILED = "failed"


class JobStatus(StrEnum):
    """A job a worker takes under a lease: a retrain, a monthly report."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class UnrecognisedMessage(Base):
    """A customer message the assistant did not understand, masked, waiting for an admin to teach it."""

    __tablename__ = "nlu_review_items"
    __table_args__ = (Index("ix_nlu_review_items_status_language", "status", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime]
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)  # personal data masked before it is stored
    predicted_intent: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32))  # low_confidence or out_of_scope
    status: Mapped[ReviewStatus] = mapped_column(EnumText(ReviewStatus, 16))
    assigned_intent: Mapped[str | None] = mapped_column(String(100))
    reviewed_by: Mapped[str | None] = mapped_column(String(300))
    reviewed_at: Mapped[dt.datetime | None]
    written_at: Mapped[dt.datetime | None]  # when a retrain wrote it into the training data


class ChatMessage(Base):
    """A message the process sent to a web chat; kept until the customer's page has shown it."""

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_conversation_id_shown_at", "conversation_id", "shown_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(160))
    delivery_key: Mapped[str] = mapped_column(String(64), unique=True)  # one row per outbox part
    content: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    shown_at: Mapped[dt.datetime | None]


class ChatContact(Base):
    """When the customer last wrote on a conversation (WhatsApp's 24-hour service window)."""

    __tablename__ = "chat_contacts"

    conversation_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    last_inbound_at: Mapped[dt.datetime]


class LearnedIntent(Base):
    """An intent admins created from messages the assistant missed, with its answer in every language."""

    __tablename__ = "learned_intents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    responses: Mapped[dict[str, Any]]  # language → the assistant's answer
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]


class AssistantModel(Base):
    """A trained model of the assistant, with its evaluation; deployed ones can be rolled back to."""

    __tablename__ = "assistant_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[ModelStatus] = mapped_column(EnumText(ModelStatus, 16))
    evaluation: Mapped[dict[str, Any]]  # language → figures on the held-out set
    baseline: Mapped[dict[str, Any]]  # the model in service then, on the same set
    reason: Mapped[str | None] = mapped_column(Text)
    examples_added: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]
    deployed_at: Mapped[dt.datetime | None]


class AdminSession(Base):
    """A signed-in admin console session; only the token's hash is stored."""

    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]

    staff: Mapped[Staff] = relationship(lazy="joined")


class RetrainRequest(Base):
    """An admin asked for a retrain; a worker takes it under a lease, so it runs once, on one machine."""

    __tablename__ = "retrain_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(300))
    requested_at: Mapped[dt.datetime]
    status: Mapped[JobStatus] = mapped_column(EnumText(JobStatus, 16))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    model_id: Mapped[int | None] = mapped_column(ForeignKey("assistant_models.id"))
    outcome: Mapped[str | None] = mapped_column(Text)  # what happened, for the console


class ReportRun(Base):
    """A monthly management report: produced once per month by one worker, under a lease, then posted."""

    __tablename__ = "report_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # "2026-10"
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[JobStatus] = mapped_column(EnumText(JobStatus, 16))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    # Fencing token, raised by every claim: a worker whose lease ran out can no longer write.
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    posted_at: Mapped[dt.datetime | None]
    files: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # kind ("pdf", "html", "csv") → path
    outcome: Mapped[str | None] = mapped_column(Text)


# Every table, the core's and the adapters' (guard's de-duplication tables included): what
# migrations compare with and tests empty.
METADATA: MetaData = Base.metadata
