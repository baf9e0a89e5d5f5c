"""Mail that arrived in the product's mailbox, and the rules that say what becomes of it.

Every mail read from a folder is one row, keyed by the folder, its UIDVALIDITY and the mail's UID,
so several workers reading the same folder handle each mail once: the row is taken under a lease
and fencing token like the queues, and its outcome is written in the same transaction as the
complaint, message or survey answer the mail became. A mail that another copy (same ``Message-ID``)
already became something is a duplicate. The sender's address is kept only as a keyed digest, for
the per-sender limit; the ``Message-ID`` is kept while the case is, to thread the answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ccm_core.domain.base import Base, EnumText

if TYPE_CHECKING:
    from ccm_core.domain.complaint import Complaint

REFERENCE = re.compile(r"\bCMP-\d{4}-\d{6}\b", re.IGNORECASE)
# The Message-ID of a mail the product sent for outbox message 42: ``<outbox.42.0@example.com>``.
OUTBOX_MESSAGE_ID = re.compile(r"^<outbox\.(\d+)\.\d+@[^>]+>$")
# A survey answered by mail: the score alone, or first ("4", "4/5", "5 - thank you", "Puan: 3").
_SCORE = re.compile(
    r"^\W*(?:[^\W\d_]+\s*[:=]?\s*)?([0-9]{1,2})(?:\s*/\s*[0-9]{1,2})?(?!\d)(?:[\s.,;:!)\-–]+(.*))?$"
)


class MailOutcome(StrEnum):
    NEW_COMPLAINT = "new_complaint"
    ADDED_TO_CASE = "added_to_case"  # a reply, or a mail naming the case's reference
    SURVEY_ANSWER = "survey_answer"
    DUPLICATE = "duplicate"  # another copy of a mail already handled
    AUTOMATIC = "automatic"  # an auto-reply or a bounce: never a complaint, never answered
    HELD = "held"  # the sender is over the per-sender limit: left for staff
    UNREADABLE = "unreadable"  # the product cannot parse it: left for staff, with the reason


HANDLED = (MailOutcome.NEW_COMPLAINT, MailOutcome.ADDED_TO_CASE, MailOutcome.SURVEY_ANSWER)


class InboundMail(Base):
    __tablename__ = "inbound_mails"
    __table_args__ = (
        UniqueConstraint("folder", "uidvalidity", "uid"),
        Index("ix_inbound_mails_sender_key_received_at", "sender_key", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_key: Mapped[str | None] = mapped_column(String(64), index=True)  # SHA-256 of the Message-ID
    message_id: Mapped[str | None] = mapped_column(
        String(998), index=True
    )  # for References; erased with the case
    sender_key: Mapped[str | None] = mapped_column(String(64))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    outcome: Mapped[MailOutcome | None] = mapped_column(EnumText(MailOutcome, 16))
    reason: Mapped[str | None] = mapped_column(
        Text
    )  # why it was held, left aside or ignored: no personal data
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    moved_at: Mapped[dt.datetime | None]  # left the folder read, for the one its outcome names
    claim_token: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]

    complaint: Mapped[Complaint | None] = relationship()


def message_key(message_id: str) -> str:
    return hashlib.sha256(message_id.strip().encode()).hexdigest()


def sender_key(secret: str, address: str) -> str:
    """A keyed digest of the sender's address: it counts a sender's mails without keeping the address."""
    return hmac.new(secret.encode(), address.strip().lower().encode(), hashlib.sha256).hexdigest()


def reference_in(subject: str) -> str | None:
    """The case reference a subject names ("Re: CMP-2026-000042 ..."), upper-cased."""
    found = REFERENCE.search(subject)
    return found.group(0).upper() if found else None


def outbox_message_in(message_id: str) -> int | None:
    """The outbox message a Message-ID the product sent stands for."""
    found = OUTBOX_MESSAGE_ID.match(message_id.strip())
    return int(found.group(1)) if found else None


def survey_score(text: str, points: range) -> tuple[int, str | None] | None:
    """The score a reply to the survey gives, and what follows it as a comment; None when it is no score.

    Only the first line counts: "5" or "4/5 thanks" is an answer, "I waited 5 days" is not.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    found = _SCORE.match(lines[0])
    if not found or int(found.group(1)) not in points:
        return None
    rest = " ".join([found.group(2) or "", *lines[1:]]).strip()
    return int(found.group(1)), rest or None
